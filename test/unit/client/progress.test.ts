import { describe, expect, it } from 'vitest';
import { progress } from '../../../client/as-completed.ts';
import type { Future } from '../../../client/future.ts';

/**
 * `progress()` where CI and scheduled jobs run it: no terminal. It prints a
 * plain line per period (done/total, rate, ETA) and a last line at the end;
 * on a terminal the bar shows elapsed time and ETA. Clock and period are
 * injected, so the lines are exact.
 */
interface Controlled {
  future: Future;
  finish(ok: boolean): void;
}

/** A future whose completion the test decides (progress reads only `wait()` and `status`). */
function controlled(): Controlled {
  let status = 'pending';
  let settle!: (ok: boolean) => void;
  const done = new Promise<void>((resolve, reject) => (settle = (ok) => (ok ? resolve() : reject(new Error('task failed')))));
  done.catch(() => undefined);
  const future = { wait: () => done, get status() { return status; } } as unknown as Future;
  return {
    future,
    finish(ok) {
      status = ok ? 'finished' : 'error';
      settle(ok);
    },
  };
}

function harness(isTTY: boolean) {
  let now = 0;
  let tick: (() => void) | undefined;
  const written: string[] = [];
  const options = {
    stream: { isTTY, write: (s: string) => written.push(s) },
    now: () => now,
    intervalMs: 10_000,
    every: (_ms: number, fn: () => void) => {
      tick = fn;
      return () => (tick = undefined);
    },
  };
  return {
    options,
    written,
    advance(ms: number) {
      now += ms;
      tick?.();
    },
    /** Move the clock without a tick (the end arrives between two periods). */
    pass(ms: number) {
      now += ms;
    },
    get ticking() {
      return tick !== undefined;
    },
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('Function: progress', () => {
  it('prints plain periodic lines with done/total, rate and ETA when the stream is not a terminal', async () => {
    // Prepare
    const tasks = Array.from({ length: 10 }, controlled);
    const h = harness(false);

    // Act
    const running = progress(tasks.map((t) => t.future), h.options);
    h.advance(10_000); // nothing done yet
    for (const t of tasks.slice(0, 4)) t.finish(true);
    await flush();
    h.advance(10_000); // 4 done in 20 s: 0.2 tasks/s, 6 left → 30 s
    h.pass(5_000);
    tasks[4]?.finish(false);
    for (const t of tasks.slice(5)) t.finish(true);
    const summary = await running;

    // Assess
    expect(summary).toEqual({ done: 10, failed: 1 });
    expect(h.written.join('')).not.toContain('\r');
    expect(h.written).toEqual([
      'progress: 0/10 (0%)\n',
      'progress: 0/10 (0%), elapsed 10s, ETA unknown\n',
      'progress: 4/10 (40%), 0.20 tasks/s, elapsed 20s, ETA 30s\n',
      'progress: 10/10 (100%), 1 failed, 0.40 tasks/s, done in 25s\n',
    ]);
    expect(h.ticking).toBe(false);
  });

  it('draws the terminal bar with elapsed time and ETA', async () => {
    // Prepare
    const tasks = Array.from({ length: 4 }, controlled);
    const h = harness(true);

    // Act
    const running = progress(tasks.map((t) => t.future), h.options);
    tasks[0]?.finish(true);
    await flush();
    h.advance(90_000); // 1 done in 90 s, 3 left → 4m30s
    const midway = h.written.at(-1);
    for (const t of tasks.slice(1)) t.finish(true);
    await running;

    // Assess
    expect(midway).toBe(`\r[${'#'.repeat(8)}${' '.repeat(22)}]  25% 1/4 elapsed 1m30s ETA 4m30s`);
    expect(h.written.at(-2)).toBe(`\r[${'#'.repeat(30)}] 100% 4/4 elapsed 1m30s`);
    expect(h.written.at(-1)).toBe('\n');
  });
});
