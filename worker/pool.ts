import { Worker as Thread } from 'node:worker_threads';
import type { FunctionDef } from '../comm/payload.ts';
import type { FromThread, RunBatch, ToThread } from './thread.ts';

export interface PoolTask {
  key: string;
  f: string;
  a: Uint8Array;
  deps: Array<[string, Uint8Array]>;
}

export type PoolResult = { ok: true; data: Buffer; ms: number } | { ok: false; error: { name: string; message: string; stack?: string }; ms?: number };

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

/** A thread with fewer tasks than this gets new ones at once. */
const LOW_WATER = 8;
/** Otherwise tasks are sent once this many have gathered. */
const BATCH = 32;

interface Slot {
  thread: Thread;
  index: number;
  load: number;
  outbox: Array<{ id: number; task: PoolTask }>;
}

/**
 * A pool of `n` task threads. Tasks given in one event-loop turn go to each
 * thread as one message. A thread that dies fails its tasks and is replaced
 * (function definitions and plugins are replayed).
 */
export class ThreadPool {
  private slots: Slot[] = [];
  private nextId = 1;
  private readonly inflight = new Map<number, { key: string; slot: Slot }>();
  private readonly defs: Array<[string, FunctionDef, string | undefined]> = [];
  private readonly plugins: Array<{ path: string; name: string }> = [];
  private scheduled = false;
  private closing = false;
  private readonly queue: Array<{ id: number; task: PoolTask }> = [];
  /** Moving average of task run time; short tasks are pipelined to threads, long ones handed out one at a time. */
  private avgMs = 0;

  constructor(
    readonly size: number,
    private readonly workerName: string,
    private readonly onResult: (key: string, result: PoolResult) => void,
    private readonly onPluginError: (name: string, error: { name: string; message: string }) => void = () => {},
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn(i));
  }

  private spawn(index: number): Slot {
    const entry = threadEntry();
    const workerData = { workerName: this.workerName, threadIndex: index };
    const thread = entry.kind === 'file' ? new Thread(entry.url, { workerData }) : new Thread(entry.code, { eval: true, workerData });
    const slot: Slot = { thread, index, load: 0, outbox: [] };
    thread.on('message', (msg: FromThread) => {
      if (msg.t === 'plugin-error') {
        this.onPluginError(msg.name, msg.error);
        return;
      }
      for (let i = 0; i < msg.ids.length; i++) {
        const id = msg.ids[i] as number;
        const entry = this.inflight.get(id);
        if (!entry) continue;
        this.inflight.delete(id);
        slot.load--;
        const ms = msg.ms[i] as number;
        this.avgMs = this.avgMs * 0.9 + ms * 0.1;
        const error = msg.errors[i];
        if (error) {
          this.onResult(entry.key, { ok: false, error, ms });
          continue;
        }
        const start = msg.spans[2 * i] as number;
        const data = start < 0 ? Buffer.from(msg.big[-1 - start] as ArrayBuffer) : Buffer.from(msg.buf, start, (msg.spans[2 * i + 1] as number) - start);

        this.onResult(entry.key, { ok: true, data, ms });
      }
      this.pump();
      if (!this.scheduled && slot.outbox.length > 0) {
        this.scheduled = true;
        queueMicrotask(() => this.flush());
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
    for (const [id, entry] of [...this.inflight]) {
      if (entry.slot !== slot) continue;
      this.inflight.delete(id);
      this.onResult(entry.key, { ok: false, error: { name: 'ThreadDiedError', message: `the task thread died while running ${entry.key}: ${err.message}` } });
    }
    if (this.closing) return;
    this.slots[slot.index] = this.spawn(slot.index);
  }

  defineFunctions(defs: Array<[string, FunctionDef, string | undefined]>): void {
    if (defs.length === 0) return;
    this.defs.push(...defs);
    for (const s of this.slots) s.thread.postMessage({ t: 'fns', defs } satisfies ToThread);
  }

  addPlugin(path: string, name: string): void {
    this.plugins.push({ path, name });
    for (const s of this.slots) s.thread.postMessage({ t: 'plugin', path, name } satisfies ToThread);
  }

  /** Queue a task; it goes to the least loaded thread. */
  run(task: PoolTask): void {
    this.queue.push({ id: this.nextId++, task });
    this.pump();
  }

  /** Tasks waiting for a thread. */
  get queued(): number {
    return this.queue.length;
  }

  private pump(): void {
    const depth = this.avgMs < 2 ? 64 : 1;
    let head = 0;
    while (head < this.queue.length) {
      let best = this.slots[0] as Slot;
      for (const s of this.slots) if (s.load < best.load) best = s;
      if (best.load >= depth) break;
      const { id, task } = this.queue[head++] as { id: number; task: PoolTask };
      best.load++;
      this.inflight.set(id, { key: task.key, slot: best });
      best.outbox.push({ id, task });
    }
    if (head > 0) this.queue.splice(0, head);
    if (head > 0 && !this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const s of this.slots) {
      if (s.outbox.length === 0) continue;
      // While the thread still has plenty queued, let more tasks gather (fewer, larger
      // messages); a result message from it re-runs this check.
      const inThread = s.load - s.outbox.length;
      if (inThread >= LOW_WATER && s.outbox.length < BATCH) continue;
      const tasks = s.outbox;
      s.outbox = [];
      s.thread.postMessage(...packBatch(tasks));
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }
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
  let at = 0;
  const put = (b: Uint8Array): number => {
    if (isShared(b)) return -shared.push(b);
    bytes.set(b, at);
    spans.push(at, at + b.byteLength);
    at += b.byteLength;
    return spans.length / 2 - 1;
  };
  const batch: RunBatch = { t: 'run', ids: [], fns: [], args: [], deps: [], spans, buf, shared };
  for (const { id, task } of tasks) {
    batch.ids.push(id);
    batch.fns.push(task.f);
    batch.args.push(put(task.a));
    batch.deps.push(task.deps.length === 0 ? 0 : task.deps.map(([k, b]) => [k, put(b)] as [string, number]));
  }
  return [batch, [buf]];
}
