import { Worker as Thread } from 'node:worker_threads';
import { decodeValue, encodeValueView, toWireError, type FunctionDef } from '../comm/payload.ts';
import { receivePool } from '../comm/buffer-pool.ts';
import { SHARED_GC_MIN_BYTES } from './memory.ts';
import { banInline, judgeInlineRun, newInlineStats, observeThreadRun, type InlineStats } from './inline-policy.ts';
import type { FromThread, RunBatch, ToThread } from './thread.ts';
import type { TaskErrorInfo } from '../shared/engine/task-error.ts';
import { soon } from '../shared/core/soon.ts';

export interface PoolTask {
  key: string;
  f: string;
  a: Uint8Array;
  deps: Array<[string, Uint8Array]>;
  /** The scheduler's priority (lower runs first); tasks waiting for a thread are taken in this order. @default 0 */
  priority?: number;
}

/** `thread`: the task thread's index, or -1 for a run on the worker's main thread (inline); the dashboard's task stream draws one row per thread. */
export type PoolResult = { ok: true; data: Buffer; ms: number; thread?: number } | { ok: false; error: TaskErrorInfo; ms?: number; thread?: number };

/**
 * How to start the thread body. From the LocalCluster bundle it is
 * `thread.mjs` beside this file. From source (`recc worker` through tsx) a
 * small ESM bootstrap registers tsx inside the thread first: loader flags in
 * execArgv do not reach worker threads on Node 20.
 */
export function threadEntry(): { kind: 'file'; url: URL } | { kind: 'eval'; code: string } {
  if (import.meta.url.endsWith('.mjs')) return { kind: 'file', url: new URL('./thread.mjs', import.meta.url) };
  const api = import.meta.resolve('tsx/esm/api');
  const body = new URL('./thread.ts', import.meta.url).href;
  const code = `(async () => { const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(body)}); })().catch((e) => process.nextTick(() => { throw e; }));`;
  return { kind: 'eval', code };
}

/** Tasks of a function that runs shorter than this on average are pipelined to threads … */
const SHORT_TASK_MS = 2;
/** … up to this many per thread. */
const PIPELINE_DEPTH = 64;
/** A thread with fewer tasks than this gets new ones at once. */
const LOW_WATER = 8;
/** Otherwise tasks are sent once this many have gathered. */
const BATCH = 32;

/** Main-thread runs yield to I/O after this much time in one event-loop turn. */
const INLINE_SLICE_MS = 4;

interface Slot {
  thread: Thread;
  index: number;
  load: number;
  outbox: Array<{ id: number; task: PoolTask }>;
  /** Resolves once the thread runs JavaScript (its isolate is set up) or has ended. */
  online: Promise<void>;
}

/**
 * A pool of `n` task threads. Tasks given in one event-loop turn go to each
 * thread as one message. A thread that dies fails its tasks and is replaced
 * (function definitions and plugins are replayed).
 */
export class ThreadPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly inflight = new Map<number, { key: string; f: string; slot: Slot }>();
  private readonly fnKinds = new Map<string, FunctionDef>();
  private readonly fnStats = new Map<string, InlineStats>();
  private inlineQueue: PoolTask[] = [];
  /** Keys in `inlineQueue`, for `cancel` (see queuedKeys). */
  private readonly inlineKeys = new Set<string>();
  private sliceStart = -1;
  private inlineDeferred = false;
  /** Tasks run on the main thread so far (observability and tests). */
  inlineRuns = 0;
  private readonly defs: Array<[string, FunctionDef, string | undefined]> = [];
  private readonly plugins: Array<{ path: string; name: string }> = [];
  private scheduled = false;
  private closing = false;
  /** Tasks waiting for a thread, by priority; `told`: reported to `queueListener` as waiting. */
  private readonly queue: Array<{ id: number; task: PoolTask; told?: boolean }> = [];
  /**
   * Keys in `queue`: `cancel` runs for every key the scheduler frees, almost
   * none of them queued here, and scanning the queue for each cost a worker
   * 7 closure calls per task in a 1 M-task graph (O(queue) per free).
   */
  private readonly queuedKeys = new Set<string>();
  /** Told when a task has to wait for a thread (`started` false) and when such a task starts (true). */
  private queueListener: ((key: string, started: boolean) => void) | undefined;
  /**
   * Moving average of run time per function: a function's short tasks are pipelined to threads (up to
   * PIPELINE_DEPTH each), others handed out one at a time. Per function, and unknown counts as long: with one
   * average over all tasks, a worker that had run only tiny tasks (a scatter's) sent the first 64 tasks of a new
   * function to one thread at once, where priority no longer orders them; 64 partitions made on the workers
   * (8 MB each) then ran back to back, ahead of the shuffle transfers that would consume them, and their results
   * piled up past the memory limit (test/e2e/tables/spill.test.ts).
   */
  private readonly avgMs = new Map<string, number>();

  constructor(
    readonly size: number,
    private readonly workerName: string,
    private readonly onResult: (key: string, result: PoolResult) => void,
    private readonly onPluginError: (name: string, error: { name: string; message: string }) => void = () => {},
    /** Large results and shared inputs a thread passes before it collects garbage (worker/memory.ts threadGcThreshold). */
    private readonly gcAfterBytes = SHARED_GC_MIN_BYTES,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  private spawn(index: number): Slot {
    const entry = threadEntry();
    const workerData = { workerName: this.workerName, threadIndex: index, gcAfterBytes: this.gcAfterBytes };
    const thread = entry.kind === 'file' ? new Thread(entry.url, { workerData }) : new Thread(entry.code, { eval: true, workerData });
    const online = new Promise<void>((resolve) => {
      thread.once('online', () => resolve());
      thread.once('exit', () => resolve());
    });
    const slot: Slot = { thread, index, load: 0, outbox: [], online };
    thread.on('message', (msg: FromThread) => {
      if (msg.t === 'plugin-error') {
        this.onPluginError(msg.name, msg.error);
        return;
      }
      if (msg.t === 'unpin') {
        receivePool.unpinThread(msg.ids);
        return;
      }
      for (let i = 0; i < msg.ids.length; i++) {
        const id = msg.ids[i] as number;
        const entry = this.inflight.get(id);
        if (!entry) continue;
        this.inflight.delete(id);
        slot.load--;
        const ms = msg.ms[i] as number;
        const avg = this.avgMs.get(entry.f);
        this.avgMs.set(entry.f, avg === undefined ? ms : avg * 0.9 + ms * 0.1);
        const error = msg.errors[i];
        this.observe(entry.f, ms, Boolean(error));
        if (error) {
          this.onResult(entry.key, { ok: false, error, ms, thread: slot.index });
          continue;
        }
        const start = msg.spans[2 * i] as number;
        const data = start < 0 ? Buffer.from(msg.big[-1 - start] as ArrayBuffer, msg.spans[2 * i + 1] as number) : Buffer.from(msg.buf, start, (msg.spans[2 * i + 1] as number) - start);

        this.onResult(entry.key, { ok: true, data, ms, thread: slot.index });
      }
      this.pump();
      if (!this.scheduled && slot.outbox.length > 0) {
        this.scheduled = true;
        soon(() => this.flush());
      }
    });
    thread.on('error', (err) => this.onThreadExit(slot, err));
    thread.on('exit', (code) => this.onThreadExit(slot, new Error(`task thread exited with code ${code}`)));
    if (this.defs.length > 0) thread.postMessage({ t: 'fns', defs: this.defs } satisfies ToThread);
    for (const p of this.plugins) thread.postMessage({ t: 'plugin', ...p } satisfies ToThread);
    return slot;
  }

  private onThreadExit(slot: Slot, err: Error): void {
    if (this.slots[slot.index] !== slot) return;
    for (const { task } of slot.outbox) unpinQueued(task);
    slot.outbox = [];
    for (const [id, entry] of [...this.inflight]) {
      if (entry.slot !== slot) continue;
      this.inflight.delete(id);
      this.onResult(entry.key, { ok: false, error: { name: 'ThreadDiedError', message: `the task thread died while running ${entry.key}: ${err.message}` } });
    }
    if (this.closing) return;
    this.slots[slot.index] = this.spawn(slot.index);
  }

  /** Ask every thread to collect its garbage between tasks (worker/memory.ts collectThreads). */
  collectGarbage(): void {
    for (const s of this.slots) s.thread.postMessage({ t: 'gc' } satisfies ToThread);
  }

  defineFunctions(defs: Array<[string, FunctionDef, string | undefined]>): void {
    if (defs.length === 0) return;
    this.defs.push(...defs);
    for (const [id, def] of defs) this.fnKinds.set(id, def);
    for (const s of this.slots) s.thread.postMessage({ t: 'fns', defs } satisfies ToThread);
  }

  addPlugin(path: string, name: string): void {
    this.plugins.push({ path, name });
    for (const s of this.slots) s.thread.postMessage({ t: 'plugin', path, name } satisfies ToThread);
  }

  /** Queue a task; it goes to the least loaded thread. */
  run(task: PoolTask): void {
    // Its inputs may view pooled receive memory that the store lets go of (spills or frees) while the task waits
    // here: pinned until the task is handed to a thread (which pins what it keeps), run inline or cancelled, so
    // that memory is not reused under it (seen: a transfer decoding another frame's bytes).
    let pooledInput = false;
    for (const [, b] of task.deps) if (receivePool.pin(b)) pooledInput = true;
    // A task reading pooled receive memory runs in a thread even when its function is inline: memory that
    // main-thread user code saw is never reused (comm/buffer-pool.ts), so every later transfer would fault in
    // fresh pages (~25,600 faults, +40 ms per 100 MiB), which costs far more than the thread hop saves.
    if (!pooledInput && this.fnStats.get(task.f)?.inline && this.plugins.length === 0) {
      this.inlineQueue.push(task);
      this.inlineKeys.add(task.key);
      if (!this.scheduled) {
        this.scheduled = true;
        soon(() => this.flush());
      }
      return;
    }
    this.toThreads(task);
  }

  /**
   * Report tasks that wait for a thread, and their start. The scheduler
   * counts a dead worker only against the tasks that were not waiting
   * (scheduler/state/workers.ts), so a task queued behind one that kills
   * the worker stays innocent.
   */
  onQueue(listener: (key: string, started: boolean) => void): void {
    this.queueListener = listener;
  }

  private toThreads(task: PoolTask): void {
    // By priority, not arrival: up to maxExecuting tasks wait here, and a task that consumes a result (a shuffle
    // transfer after the partition it splits) must not queue behind every partition started before it arrived,
    // or all those results pile up (and spill) first. Arrivals are mostly in order: insert from the back.
    const p = task.priority ?? 0;
    let i = this.queue.length;
    while (i > 0 && ((this.queue[i - 1] as { task: PoolTask }).task.priority ?? 0) > p) i--;
    const entry: { id: number; task: PoolTask; told?: boolean } = { id: this.nextId++, task };
    this.queue.splice(i, 0, entry);
    this.queuedKeys.add(task.key);
    this.pump();
    if (this.queueListener && this.inflight.get(entry.id) === undefined && !this.closing) {
      entry.told = true;
      this.queueListener(task.key, false);
    }
  }

  /** Record a thread run of `f`; promote a consistently tiny inline function to the main thread. */
  private observe(f: string, ms: number, failed: boolean): void {
    let st = this.fnStats.get(f);
    if (!st) this.fnStats.set(f, (st = newInlineStats()));
    observeThreadRun(st, ms, failed || this.fnKinds.get(f)?.kind !== 'inline');
  }

  private ban(f: string): void {
    const st = this.fnStats.get(f);
    if (st) banInline(st);
  }

  /** Run queued main-thread tasks, yielding to I/O once a slice of time is used. */
  private runInlineQueue(): void {
    if (this.inlineQueue.length === 0) return;
    if (this.sliceStart < 0) {
      this.sliceStart = performance.now();
      setImmediate(() => {
        this.sliceStart = -1;
        if (this.inlineDeferred) {
          this.inlineDeferred = false;
          this.runInlineQueue();
        }
      });
    }
    const tasks = this.inlineQueue;
    this.inlineQueue = [];
    for (let i = 0; i < tasks.length; i++) {
      if (this.closing || performance.now() - this.sliceStart > INLINE_SLICE_MS) {
        this.inlineQueue = tasks.slice(i).concat(this.inlineQueue);
        this.inlineDeferred = true;
        return;
      }
      const task = tasks[i] as PoolTask;
      this.inlineKeys.delete(task.key);
      this.runInline(task);
    }
  }

  private runInline(task: PoolTask): void {
    const st = this.fnStats.get(task.f);
    const def = this.fnKinds.get(task.f);
    if (!st?.inline || def?.kind !== 'inline' || this.plugins.length > 0) {
      this.toThreads(task);
      return;
    }
    let result: unknown;
    let started = performance.now();
    // User code on this thread may keep its inputs: their pooled memory is never reused (comm/buffer-pool.ts),
    // so the queue pins can go (a run that falls back to the threads below is pinned again).
    for (const [, b] of task.deps) receivePool.expose(b);
    unpinQueued(task);
    try {
      if (!st.fn) {
        st.fn = new Function(`"use strict"; return (${def.source});`)() as (...args: unknown[]) => unknown;
        started = performance.now();
      }
      let args: unknown;
      if (task.deps.length === 0) args = decodeValue(task.a);
      else {
        const values = new Map<string, unknown>();
        for (const [key, bytes] of task.deps) values.set(key, decodeValue(bytes));
        args = decodeValue(task.a, (key) => {
          if (!values.has(key)) throw new Error(`dependency ${key} was not provided to the task`);
          return values.get(key);
        });
      }
      result = st.fn(...(args as unknown[]));
    } catch {
      // Let a thread run it again: errors (and their explanations) come from one place.
      this.ban(task.f);
      for (const [, b] of task.deps) receivePool.pin(b);
      this.toThreads(task);
      return;
    }
    this.inlineRuns++;
    if (result && typeof (result as Promise<unknown>).then === 'function') {
      this.ban(task.f);
      (result as Promise<unknown>).then(
        (v) => {
          const data = this.encodeInline(task.key, v, started);
          if (data) this.onResult(task.key, { ok: true, data, ms: performance.now() - started, thread: -1 });
        },
        (err: unknown) => this.onResult(task.key, { ok: false, error: toWireError(err), ms: performance.now() - started }),
      );
      return;
    }
    const data = this.encodeInline(task.key, result, started);
    // Judge the run (decode, call, encode) before its result enters the worker.
    const ms = performance.now() - started;
    if (data) this.onResult(task.key, { ok: true, data, ms, thread: -1 });
    judgeInlineRun(st, ms);
  }

  /** The encoded result, or undefined after reporting an encoding failure. */
  private encodeInline(key: string, value: unknown, started: number): Buffer | undefined {
    try {
      const view = encodeValueView(value);
      return view instanceof Buffer && view.buffer instanceof SharedArrayBuffer ? view : Buffer.from(view);
    } catch (err) {
      this.onResult(key, { ok: false, error: toWireError(err), ms: performance.now() - started });
      return undefined;
    }
  }

  /**
   * Drop a task that has not been handed to a thread (or run inline) yet.
   * Returns false when it has started or is not here; then it runs to the end.
   */
  cancel(key: string): boolean {
    const i = this.queuedKeys.has(key) ? this.queue.findIndex((q) => q.task.key === key) : -1;
    if (i >= 0) {
      this.queuedKeys.delete(key);
      unpinQueued((this.queue.splice(i, 1)[0] as { task: PoolTask }).task);
      return true;
    }
    const j = this.inlineKeys.has(key) ? this.inlineQueue.findIndex((t) => t.key === key) : -1;
    if (j < 0) return false;
    this.inlineKeys.delete(key);
    unpinQueued(this.inlineQueue.splice(j, 1)[0] as PoolTask);
    return true;
  }

  /**
   * Resolves once every thread started so far has set up its isolate (or
   * ended). The worker sets its V8 flags only then (worker/v8-tuning.ts): an
   * isolate created after a flag changed cannot use Node's built-in code cache.
   */
  started(): Promise<void> {
    return Promise.all(this.slots.map((s) => s.online)).then(() => undefined);
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    let head = 0;
    while (head < this.queue.length) {
      let best = this.slots[0] as Slot;
      for (const s of this.slots) if (s.load < best.load) best = s;
      const next = this.queue[head] as { id: number; task: PoolTask; told?: boolean };
      if (best.load >= ((this.avgMs.get(next.task.f) ?? SHORT_TASK_MS) < SHORT_TASK_MS ? PIPELINE_DEPTH : 1)) break;
      head++;
      const { id, task } = next;
      this.queuedKeys.delete(task.key);
      best.load++;
      this.inflight.set(id, { key: task.key, f: task.f, slot: best });
      best.outbox.push({ id, task });
      if (next.told) this.queueListener?.(task.key, true);
    }
    if (head > 0) this.queue.splice(0, head);
    if (head > 0 && !this.scheduled) {
      this.scheduled = true;
      soon(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inlineQueue.length > 0 && !this.inlineDeferred) this.runInlineQueue();
    for (const s of this.slots) {
      if (s.outbox.length === 0) continue;
      // While the thread still has plenty queued, let more tasks gather (fewer, larger
      // messages); a result message from it re-runs this check.
      const inThread = s.load - s.outbox.length;
      if (inThread >= LOW_WATER && s.outbox.length < BATCH) continue;
      const tasks = s.outbox;
      s.outbox = [];
      s.thread.postMessage(...packBatch(tasks));
      // The thread holds its own pins now (packBatch) or a copy.
      for (const { task } of tasks) unpinQueued(task);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }
}

/** A task left the queue (handed over, run inline or dropped): its inputs' queue pins go (run()). */
function unpinQueued(task: PoolTask): void {
  for (const [, b] of task.deps) receivePool.unpin(b);
}

/**
 * One message per batch: arguments and small dependencies copied once into a
 * transferred buffer; large dependencies in shared memory go by reference.
 */
function packBatch(tasks: Array<{ id: number; task: PoolTask }>): [RunBatch, ArrayBuffer[]] {
  const isShared = (b: Uint8Array) => b.byteLength >= 1024 * 1024 && b.buffer instanceof SharedArrayBuffer;
  let total = 0;
  for (const { task } of tasks) {
    total += task.a.byteLength;
    for (const [, b] of task.deps) if (!isShared(b)) total += b.byteLength;
  }
  const buf = new ArrayBuffer(total);
  const bytes = new Uint8Array(buf);
  const spans: number[] = [];
  const shared: Uint8Array[] = [];
  const pins: number[] = [];
  let at = 0;
  const put = (b: Uint8Array): number => {
    if (isShared(b)) {
      pins.push(receivePool.pinForThread(b));
      return -shared.push(b);
    }
    bytes.set(b, at);
    spans.push(at, at + b.byteLength);
    at += b.byteLength;
    return spans.length / 2 - 1;
  };
  const batch: RunBatch = { t: 'run', ids: [], fns: [], args: [], deps: [], spans, buf, shared, pins };
  for (const { id, task } of tasks) {
    batch.ids.push(id);
    batch.fns.push(task.f);
    batch.args.push(put(task.a));
    batch.deps.push(task.deps.length === 0 ? 0 : task.deps.map(([k, b]) => [k, put(b)] as [string, number]));
  }
  return [batch, [buf]];
}
