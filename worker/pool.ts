import { Worker as Thread } from 'node:worker_threads';
import type { FunctionDef } from '../comm/payload.ts';
import type { FromThread, ThreadTask, ToThread } from './thread.ts';

export interface PoolTask {
  key: string;
  f: string;
  a: Uint8Array;
  deps: Array<[string, Uint8Array]>;
}

export type PoolResult = { ok: true; data: Buffer } | { ok: false; error: { name: string; message: string; stack?: string } };

/** Where the thread body lives and how to start it (a .ts file needs the tsx loader). */
export function threadEntry(): { url: URL; execArgv: string[] } {
  // From source: thread.ts beside this file; from the LocalCluster bundle: thread.mjs beside it.
  const url = new URL(import.meta.url.endsWith('.mjs') ? './thread.mjs' : './thread.ts', import.meta.url);
  if (url.pathname.endsWith('.ts') && !process.execArgv.some((a) => a.includes('tsx'))) {
    return { url, execArgv: [...process.execArgv, '--import', import.meta.resolve('tsx/esm')] };
  }
  return { url, execArgv: process.execArgv };
}

interface Slot {
  thread: Thread;
  index: number;
  load: number;
  outbox: ThreadTask[];
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
    const { url, execArgv } = threadEntry();
    const thread = new Thread(url, { execArgv, workerData: { workerName: this.workerName, threadIndex: index } });
    const slot: Slot = { thread, index, load: 0, outbox: [] };
    thread.on('message', (msg: FromThread) => {
      if (msg.t === 'plugin-error') {
        this.onPluginError(msg.name, msg.error);
        return;
      }
      for (const r of msg.results) {
        const entry = this.inflight.get(r.id);
        if (!entry) continue;
        this.inflight.delete(r.id);
        slot.load--;
        this.avgMs = this.avgMs * 0.9 + r.ms * 0.1;
        if (r.ok) this.onResult(entry.key, { ok: true, data: Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength) });
        else this.onResult(entry.key, { ok: false, error: r.error });
      }
      this.pump();
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
      best.outbox.push({ id, key: task.key, f: task.f, a: task.a, deps: task.deps });
    }
    if (head > 0) this.queue.splice(0, head);
    if (head > 0 && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    for (const s of this.slots) {
      if (s.outbox.length === 0) continue;
      const tasks = s.outbox;
      s.outbox = [];
      s.thread.postMessage({ t: 'run', tasks } satisfies ToThread);
    }
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.slots.map((s) => s.thread.terminate()));
  }
}
