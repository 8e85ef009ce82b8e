import { describe, expect, it } from 'vitest';
import { retry } from '../../../shared/core/retry.ts';

describe('Function: retry', () => {
  it('keeps trying until the deadline: a backoff that would overrun it is cut short and the last attempt is made at the deadline', async () => {
    // Prepare: a manual clock; every attempt fails; delays 400, 800, 1600 ms (no jitter) against a 1,000 ms deadline
    let now = 0;
    const attemptsAt: number[] = [];
    const fail = async (): Promise<never> => {
      attemptsAt.push(now);
      throw new Error('refused');
    };

    // Act
    const outcome = retry(fail, {
      initialMs: 400,
      maxMs: 5_000,
      factor: 2,
      jitter: 'none',
      deadlineMs: 1_000,
      now: () => now,
      sleep: async (ms) => {
        now += ms;
      },
    });

    // Assess: attempts at 0, 400 and 1,000 (the 800 ms wait was cut to 600), then the last error
    await expect(outcome).rejects.toThrow('refused');
    expect(attemptsAt).toEqual([0, 400, 1_000]);
  });

  it('gives up at once when the deadline has already passed, and never retries a permanent error', async () => {
    // Prepare
    let now = 0;
    let calls = 0;
    const slow = async (): Promise<never> => {
      calls++;
      now += 2_000; // one attempt outlasts the deadline
      throw new Error('timed out');
    };
    const permanent = Object.assign(new Error('bad token'), { permanent: true });
    let permanentCalls = 0;

    // Act / Assess
    await expect(retry(slow, { initialMs: 10, maxMs: 10, jitter: 'none', deadlineMs: 1_000, now: () => now, sleep: async () => {} })).rejects.toThrow('timed out');
    expect(calls).toBe(1);
    await expect(
      retry(
        async () => {
          permanentCalls++;
          throw permanent;
        },
        { initialMs: 10, maxMs: 10, jitter: 'none', retryIf: (e) => !(e as { permanent?: boolean }).permanent },
      ),
    ).rejects.toBe(permanent);
    expect(permanentCalls).toBe(1);
  });
});
