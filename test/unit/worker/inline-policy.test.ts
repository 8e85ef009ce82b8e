import { describe, expect, it } from 'vitest';
import {
  banInline, INLINE_AFTER, INLINE_DEMOTE_MS, INLINE_MAX_DEMOTIONS, INLINE_MAX_MS, INLINE_WARMUP, INLINE_WINDOW, judgeInlineRun, newInlineStats, observeThreadRun,
} from '../../../worker/inline-policy.ts';

function promoted() {
  const st = newInlineStats();
  for (let i = 0; i < INLINE_WARMUP + INLINE_AFTER; i++) observeThreadRun(st, 0.01, false);
  expect(st.inline).toBe(true);
  return st;
}

describe('inline policy', () => {
  it('promotes a function after its warm-up and INLINE_AFTER tiny thread runs, not one run earlier', () => {
    const st = newInlineStats();
    // Warm-up runs may be slow (compiling): they are not counted.
    observeThreadRun(st, 50, false);
    for (let i = 1; i < INLINE_WARMUP + INLINE_AFTER - 1; i++) observeThreadRun(st, 0.01, false);
    expect(st.inline).toBe(false);
    observeThreadRun(st, 0.01, false);
    expect(st.inline).toBe(true);
  });

  it('starts counting again after a thread run over INLINE_MAX_MS, and never promotes a failed or non-inline function', () => {
    const st = newInlineStats();
    for (let i = 0; i < INLINE_WARMUP + INLINE_AFTER - 1; i++) observeThreadRun(st, 0.01, false);
    observeThreadRun(st, INLINE_MAX_MS + 1, false);
    observeThreadRun(st, 0.01, false);
    expect(st.inline).toBe(false);
    for (let i = 1; i < INLINE_AFTER; i++) observeThreadRun(st, 0.01, false);
    expect(st.inline).toBe(true);

    const failed = newInlineStats();
    observeThreadRun(failed, 0.01, true);
    for (let i = 0; i < 100; i++) observeThreadRun(failed, 0.01, false);
    expect(failed).toMatchObject({ inline: false, banned: true });
  });

  it('sends a function back to the threads after one very slow main-thread run, and keeps it there after INLINE_MAX_DEMOTIONS', () => {
    const st = promoted();
    for (let d = 1; d <= INLINE_MAX_DEMOTIONS; d++) {
      judgeInlineRun(st, INLINE_DEMOTE_MS + 1);
      // The first main-thread runs warm up and are not judged.
      if (st.inline) judgeInlineRun(st, INLINE_DEMOTE_MS + 1);
      if (st.inline) judgeInlineRun(st, INLINE_DEMOTE_MS + 1);
      expect(st.inline).toBe(false);
      expect(st.demotions).toBe(d);
      for (let i = 0; i < INLINE_WARMUP + INLINE_AFTER; i++) observeThreadRun(st, 0.01, false);
      expect(st.inline).toBe(d < INLINE_MAX_DEMOTIONS);
    }
    expect(st.banned).toBe(true);
  });

  it('demotes after a quarter of a window of slow runs, not after one preempted run', () => {
    const once = promoted();
    for (let i = 0; i < INLINE_WINDOW * 2; i++) judgeInlineRun(once, i === 10 ? INLINE_MAX_MS + 1 : 0.01);
    expect(once.inline).toBe(true);

    const often = promoted();
    for (let i = 0; i < INLINE_WINDOW && often.inline; i++) judgeInlineRun(often, i % 3 === 0 ? INLINE_MAX_MS + 1 : 0.01);
    expect(often.inline).toBe(false);
    expect(often.banned).toBe(false);
  });

  it('bans for good on a failure or a promise', () => {
    const st = promoted();
    banInline(st);
    for (let i = 0; i < 100; i++) observeThreadRun(st, 0.01, false);
    expect(st).toMatchObject({ inline: false, banned: true });
  });
});
