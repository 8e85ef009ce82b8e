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
 * Heaps that grow to 4× their live data after a full collection (V8 picks
 * 1.1-2× while its collections look cheap to it). A table task keeps its data
 * off the heap, so its heap holds ~10 MB live, and the Arrow objects of a
 * shuffle's shards and groups promoted ~5 MB between full collections: about
 * 13 mark-compacts per 5M-row groupBy().apply, each also marking on a helper
 * thread. At 4× there were 4. Alternated with the default (df-profile.ts,
 * 3 pairs): first apply 1.36/0.93/1.05 s against 1.44/1.16/1.23, setIndex
 * 1.61/1.32/1.34 against 2.03/1.44/1.54, peak RSS within 20 MB. Read at each
 * collection, so it applies to running threads. A task holding a large JS
 * heap could leave 3× its live size as garbage: the memory manager asks every
 * thread to collect once RSS is past the target fraction (worker/memory.ts
 * collectThreads).
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

export const WORKER_V8_FLAGS: readonly string[] = ['--max-inlined-bytecode-size-cumulative=300', '--heap-growing-percent=300'];

/** Apply WORKER_V8_FLAGS (once; later calls do nothing). */
export function tuneWorkerV8(): void {
  applyV8Flags(WORKER_V8_FLAGS);
}
