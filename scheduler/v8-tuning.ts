/**
 * V8 settings of a scheduler process, set once at its start (before any
 * message is handled).
 *
 * Earlier optimization. V8 optimizes a function once it has run about
 * 66 KB of its bytecode a few times over (`--interrupt-budget`); a function
 * the scheduler runs once per message (decoding it at the boundary, a
 * transition, the flush) needs a thousand messages or more to get there, and
 * until then runs in the baseline tier at several times the cost. A fresh
 * cluster's first round trips paid for it: after its start, 250 round trips
 * in, the p50 of the next 500 was 1.10x that of the engine before the
 * typed protocol and transition log (issue 20) added per-message code, though
 * both are at parity once warm (bench/FINDINGS.md §2c). A quarter of the
 * budget optimizes those functions four times sooner; the price is ~0.1 s of
 * compiler CPU early in the scheduler's life, on its background threads.
 * Workers keep the default: there the extra compiles competed with the tasks
 * and made round trips slower.
 */
import { applyV8Flags } from '../shared/engine/v8-flags.ts';

export const SCHEDULER_V8_FLAGS: readonly string[] = ['--interrupt-budget=16384'];

/** Apply SCHEDULER_V8_FLAGS (once; later calls do nothing). */
export function tuneSchedulerV8(): void {
  applyV8Flags(SCHEDULER_V8_FLAGS);
}
