/**
 * V8 settings of a worker process, set once at its start (process-wide: they
 * reach the task threads, which cannot take V8 flags of their own).
 *
 * Less inlining: TurboFan's default lets a function inline callees up to
 * 920 bytes of bytecode in total. Table tasks run Arrow JS, whose
 * constructors and visitors are large and polymorphic; each optimization of a
 * hot kernel inlined them, took tens of ms on the helper threads, and was
 * thrown away again whenever one inlined callee met a new shape. With 300,
 * the first groupBy().apply of 5M rows on a fresh cluster took 1.01-1.02 s
 * instead of 1.17-1.22 s, with 1.84 instead of 2.2 s of CPU (bench/recc/df-profile.ts;
 * 150 and 500 were no better). Small functions are still inlined.
 *
 * Set once the task threads started with the worker have set up their
 * isolates (worker/main.ts, ThreadPool.started), not at process start: V8 and
 * Node use their startup snapshot and built-in code cache only while the flag
 * hash matches, so a thread started after a flag changed compiled Node's
 * built-ins from scratch, 43-47 against 28-29 ms of CPU per thread
 * (bench/FINDINGS.md §2h). Flags are process-wide: the running threads'
 * later compiles see them too. A thread started later (one replacing a dead
 * one) pays that cost.
 */
import { applyV8Flags } from '../shared/engine/v8-flags.ts';

export const WORKER_V8_FLAGS: readonly string[] = ['--max-inlined-bytecode-size-cumulative=300'];

/** Apply WORKER_V8_FLAGS (once; later calls do nothing). */
export function tuneWorkerV8(): void {
  applyV8Flags(WORKER_V8_FLAGS);
}
