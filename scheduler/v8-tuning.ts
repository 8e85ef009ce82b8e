/**
 * V8 settings of a scheduler process, set once at its start (before any
 * message is handled).
 *
 * None at present. `--interrupt-budget=16384` (optimize four times sooner)
 * was set here from 2026-12-07 to fix a fresh cluster's first round trips,
 * which run in V8's baseline tier (bench/FINDINGS.md §2c): p50 0.85x of the
 * issue-20 baseline, but p99 1.30x (6 pairs; 1.36x against the same tree
 * without it), as the earlier compiles competed with the round trips on the
 * background threads of a 2-core machine, and CPU in that window 1.27x.
 * Without it, once accepted connections read with `onread`: p50 1.02x,
 * p99 1.10x, start 1.02x of that baseline (`bench/ab.ts`, 6 pairs).
 * Workers keep V8's defaults too: there the extra compiles made round trips slower.
 */
import { applyV8Flags } from '../shared/engine/v8-flags.ts';

export const SCHEDULER_V8_FLAGS: readonly string[] = [];

/** Apply SCHEDULER_V8_FLAGS (once; later calls do nothing). */
export function tuneSchedulerV8(): void {
  applyV8Flags(SCHEDULER_V8_FLAGS);
}
