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
  const url = new URL('./thread.ts', import.meta.url);
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
      const entry = this.inflight.get(msg.id);
      if (!entry) return;
      this.inflight.delete(msg.id);
      slot.load--;
      if (msg.ok) this.onResult(entry.key, { ok: true, data: Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength) });
      else this.onResult(entry.key, { ok: false, error: msg.error });
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

  /** Queue a task on the least loaded thread. */
  run(task: PoolTask): void {
    let best = this.slots[0] as Slot;
    for (const s of this.slots) if (s.load < best.load) best = s;
    const id = this.nextId++;
    best.load++;
    this.inflight.set(id, { key: task.key, slot: best });
    best.outbox.push({ id, key: task.key, f: task.f, a: task.a, deps: task.deps });
    if (!this.scheduled) {
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
