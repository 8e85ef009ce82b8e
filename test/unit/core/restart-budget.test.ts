import { describe, expect, it } from 'vitest';
import { backoffDelay, RESTART_BACKOFF, RestartBudget } from '../../../shared/core/retry.ts';

describe('Class: RestartBudget', () => {
  it('allows max restarts in any window, then refuses until the oldest leaves the window', () => {
    // Prepare: 3 restarts per 10 s on a manual clock
    let now = 0;
    const budget = new RestartBudget(3, 10_000, () => now);

    // Act / Assess: a crash loop every second
    const granted: boolean[] = [];
    for (let i = 0; i < 6; i++) {
      granted.push(budget.take());
      now += 1_000;
    }
    expect(granted).toEqual([true, true, true, false, false, false]);
    now = 10_000; // the first restart (at 0) has left the window
    expect(budget.take()).toBe(true);
    expect(budget.take()).toBe(false);
  });
});

describe('Constant: RESTART_BACKOFF', () => {
  it('waits 0.5 s before the first restart and at most 30 s in a crash loop', () => {
    expect(backoffDelay(0, { ...RESTART_BACKOFF, jitter: 'none' })).toBe(500);
    expect(backoffDelay(3, { ...RESTART_BACKOFF, jitter: 'none' })).toBe(4_000);
    expect(backoffDelay(20, { ...RESTART_BACKOFF, jitter: 'none' })).toBe(30_000);
  });
});
