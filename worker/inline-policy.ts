/**
 * When a task function runs on the worker's main thread (inline) instead of
 * a task thread: a pure policy over one function's run times, which
 * worker/pool.ts consults and executes.
 *
 * A task thread hop (postMessage both ways, a thread wake-up) costs more than
 * a no-op task. An inline-source function whose last INLINE_AFTER runs in the
 * threads (after INLINE_WARMUP) each took under INLINE_MAX_MS and averaged
 * under INLINE_AVG_MS, none failing, then runs on the worker's main thread.
 * It goes back to the threads for good if one main-thread run fails or
 * returns a promise (`banInline`), and back to being measured if one run took
 * over INLINE_DEMOTE_MS or a quarter of a window of runs took over
 * INLINE_MAX_MS (for good after INLINE_MAX_DEMOTIONS such returns). The pool
 * never runs inline while worker plugins are installed (their setup runs in
 * the threads only).
 */
export const INLINE_AFTER = 16;
export const INLINE_WARMUP = 2;
export const INLINE_AVG_MS = 0.1;
export const INLINE_MAX_MS = 1;
/** A main-thread run this long sends its function back to the threads to be measured again. */
export const INLINE_DEMOTE_MS = 20;
/** After this many such returns a function stays in the threads. */
export const INLINE_MAX_DEMOTIONS = 8;
/** Main-thread runs are judged in windows of this many. */
export const INLINE_WINDOW = 64;

/** One function's record. */
export interface InlineStats {
  runs: number;
  totalMs: number;
  /** Runs on the main thread now. */
  inline: boolean;
  /** Must stay in the threads (it failed, was slow or async). */
  banned: boolean;
  /** Main-thread runs so far, and how many of the current window took over INLINE_MAX_MS. */
  inlineCount: number;
  inlineSlow: number;
  demotions: number;
  /** The compiled function, once it ran inline. */
  fn?: (...args: unknown[]) => unknown;
}

export function newInlineStats(): InlineStats {
  return { runs: 0, totalMs: 0, inline: false, banned: false, inlineCount: 0, inlineSlow: 0, demotions: 0 };
}

/** A run in a task thread; `disqualified`: it failed, or the function is not inline source. May promote it. */
export function observeThreadRun(st: InlineStats, ms: number, disqualified: boolean): void {
  if (st.banned || st.inline) return;
  if (disqualified) {
    st.banned = true;
    return;
  }
  st.runs++;
  // The first runs include compiling the function: not counted.
  if (st.runs <= INLINE_WARMUP) return;
  if (ms > INLINE_MAX_MS) {
    st.runs = INLINE_WARMUP;
    st.totalMs = 0;
    return;
  }
  st.totalMs += ms;
  if (st.runs - INLINE_WARMUP >= INLINE_AFTER && st.totalMs / (st.runs - INLINE_WARMUP) < INLINE_AVG_MS) st.inline = true;
}

/** A main-thread run failed or returned a promise: threads only from now on. */
export function banInline(st: InlineStats): void {
  st.inline = false;
  st.banned = true;
}

/** A main-thread run that took `ms` (decode, call, encode). May send the function back to the threads. */
export function judgeInlineRun(st: InlineStats, ms: number): void {
  // The first main-thread runs include warming up the decoder and the function.
  if (++st.inlineCount <= INLINE_WARMUP) return;
  // Slow runs send the function back to the threads to be measured again: one
  // very slow run, or a quarter of a window (one preempted run does not count).
  if (ms > INLINE_MAX_MS) st.inlineSlow++;
  if (ms > INLINE_DEMOTE_MS || (st.inlineCount % INLINE_WINDOW === 0 && st.inlineSlow > INLINE_WINDOW / 4)) {
    st.inline = false;
    st.runs = 0;
    st.totalMs = 0;
    st.inlineSlow = 0;
    // A function that keeps coming back slow stays in the threads.
    if (++st.demotions >= INLINE_MAX_DEMOTIONS) st.banned = true;
    return;
  }
  if (st.inlineCount % INLINE_WINDOW === 0) st.inlineSlow = 0;
}
