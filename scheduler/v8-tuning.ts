/**
 * V8 settings of a scheduler process, set once at its start (before any
 * message is handled).
 *
 * Less inlining (as on workers, worker/v8-tuning.ts): with TurboFan's default
 * cumulative budget (920 bytes of bytecode) the scheduler's message handlers
 * inlined most of the state machine, and each optimization took 2-10 ms on a
 * helper thread. On a 2-core machine a woken main thread can wait on the run
 * queue behind such a job (bench/FINDINGS.md §2e), which is what a fresh
 * cluster's p99 round trip measures. With 300: latency p50 0.934x, p99 0.706x
 * (IQR 0.65-0.90), CPU per round trip 0.899x; no-op map 1.036x, tree 1.037x
 * (8 pairs); 1 M-task graph 1.053x, 200 fake workers 0.954x scheduler CPU per
 * task (4 pairs) (`bench/ab.ts`, against the same tree without it, §2h).
 * 150 was worse than 300. The scheduler starts no worker threads, so the
 * changed flag hash costs nothing here (on a worker it makes each task
 * thread's start compile Node's built-ins: §6).
 *
 * Tried and withdrawn: `--interrupt-budget=16384` (optimize four times sooner):
 * p50 0.85x of the issue-20 baseline but p99 1.30x, as the earlier compiles
 * competed with the round trips (§2c).
 */
import { applyV8Flags } from '../shared/engine/v8-flags.ts';

export const SCHEDULER_V8_FLAGS: readonly string[] = ['--max-inlined-bytecode-size-cumulative=300'];

/** Apply SCHEDULER_V8_FLAGS (once; later calls do nothing). */
export function tuneSchedulerV8(): void {
  applyV8Flags(SCHEDULER_V8_FLAGS);
}
