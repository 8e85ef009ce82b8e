import type { DataClient } from '../comm/data-client.ts';
import { encodeValue, toWireError, type FunctionDef } from '../comm/payload.ts';
import { perTask, type SchedulerToWorker, type WorkerToScheduler } from '../comm/protocol.ts';
import type { Logger } from '../shared/core/logger.ts';
import type { ModuleCache } from './module-cache.ts';
import type { PoolResult, ThreadPool } from './pool.ts';
import type { WorkerState } from './state/machine.ts';
import type { WorkerEvent, WorkerInstruction } from './state/types.ts';
import type { DataStore } from './store.ts';
import type { ShuffleService } from './shuffle.ts';
import { SHARDS_KEY } from '../shared/shuffle/types.ts';
import { soon } from '../shared/core/soon.ts';

type RunSpec = { f: string; a: Uint8Array };
const NO_DEPS: never[] = [];

export interface EventPumpDeps {
  state: WorkerState;
  store: DataStore;
  pool: ThreadPool;
  peers: DataClient;
  modules: ModuleCache;
  /** The peer-to-peer shuffle (worker/shuffle.ts). */
  shuffle: ShuffleService;
  logger: Logger;
  inlineResultBytes: number;
  /** Shared memory came into this isolate (a task's result, an unpack task's shard frame): worker/memory.ts SharedMemoryCollector. */
  noteShared?: (bytes: number) => void;
  /**
   * Bytes that started tasks may hold at once: their inputs (loaded from
   * disk if spilled) and, for shuffle transfers, their shards until every
   * receiver acknowledged. Beyond it a task waits here, its inputs left where
   * they are; one task always runs.
   */
  pipelineBytes: number;
  /** Send to the scheduler (a no-op before registration and after close). */
  send: (msg: WorkerToScheduler, bufs?: Buffer[], weight?: number) => void;
  /** The scheduler asked this worker to close. */
  onCloseRequest: () => void;
}

/**
 * The worker's event pump: it turns scheduler messages, thread results and
 * peer fetches into state-machine events, runs the machine once per
 * microtask over everything queued, and executes the instructions that come
 * out. Results finished in one step go to the scheduler as one message.
 */
export class EventPump {
  private events: WorkerEvent[] = [];
  private scheduled = false;
  private stim = 0;
  /** Run times of finished tasks until their task-finished goes out. */
  private readonly durations = new Map<string, number>();
  /** The thread each finished task ran on, for the dashboard's task stream; absent: the main thread (-1) or unknown. */
  private readonly threads = new Map<string, number>();
  /** The stimulus id of the results finished in this turn (one per turn, as the scheduler's `finished-N` per message). */
  private execStimulus: string | undefined;
  private outFinished: { k: string[]; n: number[]; ms: number[]; th: number[]; di: number[]; bufs: Buffer[] } = { k: [], n: [], ms: [], th: [], di: [], bufs: [] };
  /** Bytes of dependencies fetched from peers so far (the dashboard's transfer bandwidth). */
  transferBytes = 0;

  /** Started tasks (from pool hand-off until finished, transfers until acknowledged) and the bytes each holds. */
  private readonly holding = new Map<string, number>();
  private heldBytes = 0;
  /** Tasks the machine started that wait for pipelineBytes to free up, by priority (lowest first). */
  private waiting: Array<{ key: string; bytes: number; priority: number; start: () => void }> = [];

  /** Tasks that began waiting for a thread, and such tasks that started, since the last `task-queue` report. */
  private queueReport: { q: string[]; st: string[] } | undefined;

  constructor(private readonly deps: EventPumpDeps) {
    deps.pool.onQueue((key, started) => this.noteQueue(key, started));
  }

  /** Batched per turn: the report rides in the same frame as the turn's other messages (comm batches them). */
  private noteQueue(key: string, started: boolean): void {
    let r = this.queueReport;
    if (!r) {
      const report = (r = this.queueReport = { q: [], st: [] });
      soon(() => {
        this.queueReport = undefined;
        this.deps.send({ op: 'task-queue', q: report.q, st: report.st });
      });
    }
    (started ? r.st : r.q).push(key);
  }

  /** Bytes held by started tasks, and tasks waiting to start (observability). */
  pipeline(): { heldBytes: number; holding: number; waiting: number } {
    return { heldBytes: this.heldBytes, holding: this.holding.size, waiting: this.waiting.length };
  }

  /** A fresh stimulus id for an event this process originates. */
  stimulus(prefix: string): string {
    return `${prefix}-${++this.stim}`;
  }

  /** Queue an event; the machine runs once per microtask over every queued event. */
  push(ev: WorkerEvent): void {
    this.events.push(ev);
    if (!this.scheduled) {
      this.scheduled = true;
      soon(() => this.process());
    }
  }

  // --------------------------------------------------------------- inbound

  /** A message the boundary decoder (comm/protocol) already checked. */
  onSchedulerMessage(msg: SchedulerToWorker, bufs: Buffer[] | undefined): void {
    const { pool, modules, logger } = this.deps;
    switch (msg.op) {
      case 'compute-batch': {
        // `f` and `s` are one value for the whole batch or one per task; `d` is 0 when no task has dependencies.
        const { k: keys, f: fns, a: args, d: deps, p: prios, s: stimuli, sh: shuffles } = msg;
        for (let i = 0; i < keys.length; i++) {
          const taskDeps = deps === 0 ? 0 : deps[i];
          // The latest assignment wins: a transfer still running from an older run sends to this one.
          const sh = shuffles?.[i];
          if (sh) this.deps.shuffle.assign(keys[i] as string, sh);
          this.push({
            type: 'compute-task',
            key: keys[i] as string,
            run: { f: perTask(fns, i), a: args[i] as Uint8Array } satisfies RunSpec,
            priority: prios[i] as number,
            deps: taskDeps || NO_DEPS,
            // The scheduler's stimulus ids: the worker's events reuse them, so a story spans both machines.
            stimulusId: perTask(stimuli, i),
          });
        }
        return;
      }
      case 'free-keys':
        this.push({ type: 'free-keys', keys: msg.keys, stimulusId: msg.s });
        // A freed task still in the pool's queue (one stolen by another worker) is not run here at all.
        for (const key of msg.keys) {
          if (pool.cancel(key) || this.cancelWaiting(key)) {
            // Its bytes were counted when it was handed to the pool: give them back, or later tasks would wait for ever.
            this.release(key);
            this.push({ type: 'execute-failure', key, error: { name: 'CancelledError', message: `${key} was released before it started` }, stimulusId: msg.s });
          }
        }
        return;
      case 'steal-request':
        // Only this shell knows whether a thread started the task: one still in the pool's queue
        // (or waiting for pipeline bytes) is taken off it, and the machine may give it up.
        for (const key of msg.keys) {
          const dequeued = pool.cancel(key) || this.cancelWaiting(key);
          if (dequeued) this.release(key);
          this.push({ type: 'steal-request', key, dequeued, stimulusId: msg.s });
        }
        return;
      case 'acquire-replicas':
        this.push({ type: 'acquire-replicas', keys: msg.keys, stimulusId: msg.s });
        return;
      case 'shuffle-forget':
        this.deps.shuffle.forget(msg.id, msg.run);
        return;
      case 'fns': {
        const defs: Array<[string, FunctionDef]> = msg.defs;
        const withPaths: Array<[string, FunctionDef, string | undefined]> = defs.map(([id, def]) => [id, def, def.kind === 'module' ? modules.path(def.hash) : undefined]);
        pool.defineFunctions(withPaths);
        return;
      }
      case 'module': {
        const code = (bufs ?? [])[0];
        if (code) modules.put(msg.hash, code);
        return;
      }
      case 'plugin': {
        const hash = msg.hash;
        const code = (bufs ?? [])[0];
        if (code) modules.put(hash, code);
        pool.addPlugin(modules.path(hash), msg.name);
        return;
      }
      case 'close':
        this.deps.onCloseRequest();
        return;
      case 'error':
        logger.warn('the scheduler refused a message from this worker', { event: 'worker.refused-by-peer', ...msg.error });
        return;
    }
  }

  /**
   * A thread finished a task (the pool's callback). A shuffle transfer's
   * result is its shards: they go to their receivers first, and the task
   * finishes (with no data of its own) once all acknowledged.
   */
  onResult(key: string, r: PoolResult): void {
    if (r.ok && r.data.buffer instanceof SharedArrayBuffer) this.deps.noteShared?.(r.data.buffer.byteLength);
    if (!r.ok || !this.deps.shuffle.active || !this.deps.shuffle.isTransfer(key)) return this.finishResult(key, r);
    // The shards stay in memory until every receiver acknowledged them.
    this.hold(key, r.data.byteLength);
    this.deps.shuffle.transfer(key, r.data).then(
      () => this.finishResult(key, { ok: true, data: encodeValue(null), ms: r.ms, ...(r.thread === undefined ? {} : { thread: r.thread }) }),
      (err: unknown) => this.finishResult(key, { ok: false, error: toWireError(err), ms: r.ms }),
    );
  }

  private finishResult(key: string, r: PoolResult): void {
    this.release(key);
    // One id for every result of this turn (the machine runs once per turn over them): a fresh string
    // per task, kept by the transition log, was a measurable share of a no-op task's cost.
    const stimulusId = (this.execStimulus ??= this.stimulus('exec'));
    if (r.ok) {
      this.durations.set(key, r.ms);
      // Inline (main-thread) runs are the common tiny case and read back as -1 when absent.
      if (r.thread !== undefined && r.thread >= 0) this.threads.set(key, r.thread);
      this.deps.store.put(key, r.data);
      this.push({ type: 'execute-success', key, nbytes: r.data.byteLength, stimulusId });
    } else {
      this.push({ type: 'execute-failure', key, error: r.error, stimulusId });
    }
  }

  // -------------------------------------------------------------- outbound

  private process(): void {
    this.scheduled = false;
    this.execStimulus = undefined;
    const events = this.events;
    this.events = [];
    const out = this.deps.state.handle(events);
    for (const ins of out) this.execute(ins);
    this.flushFinished();
  }

  private flushFinished(): void {
    const f = this.outFinished;
    if (f.k.length === 0) return;
    this.outFinished = { k: [], n: [], ms: [], th: [], di: [], bufs: [] };
    this.deps.send({ op: 'finished', k: f.k, n: f.n, ms: f.ms, th: f.th, di: f.di }, f.bufs.length > 0 ? f.bufs : undefined, f.k.length);
  }

  private execute(ins: WorkerInstruction): void {
    switch (ins.type) {
      case 'execute':
        return this.startTask(ins.key, ins.run as RunSpec, ins.deps, ins.priority);
      case 'gather-dep':
        return this.gather(ins.peer, ins.keys, ins.stimulusId);
      case 'release-data':
        if (this.deps.shuffle.active) this.deps.shuffle.release(ins.key);
        this.deps.store.delete(ins.key);
        this.durations.delete(ins.key);
        if (this.threads.size > 0) this.threads.delete(ins.key);
        return;
      case 'send': {
        const msg = ins.msg;
        if (msg.op === 'task-finished') {
          const data = msg.nbytes <= this.deps.inlineResultBytes ? this.deps.store.getInMemory(msg.key) : undefined;
          const ms = this.durations.get(msg.key);
          this.durations.delete(msg.key);
          let th: number | undefined;
          if (this.threads.size > 0) {
            th = this.threads.get(msg.key);
            this.threads.delete(msg.key);
          }
          const f = this.outFinished;
          f.k.push(msg.key);
          f.n.push(msg.nbytes);
          f.ms.push(ms ?? -1);
          f.th.push(th ?? -1);
          f.di.push(data ? f.bufs.push(data) - 1 : -1);
        } else {
          this.deps.send({ ...msg });
        }
        return;
      }
    }
  }

  private startTask(key: string, run: RunSpec, deps: string[], priority: number): void {
    const { store, shuffle } = this.deps;
    let bytes = shuffle.active && shuffle.isUnpack(key) ? shuffle.pendingBytes(key) : 0;
    for (const d of deps) bytes += store.nbytes(d);
    // A task does not overtake a waiting one of higher priority, however little it holds: otherwise cheap-input
    // tasks with large outputs (partitions made on the workers) keep starting while the shuffle transfers that
    // would consume those outputs wait here, and every partition is made (and spilled) before any is sent.
    const head = this.waiting[0];
    if (this.holding.size === 0 || (this.heldBytes + bytes <= this.deps.pipelineBytes && !(head && head.priority < priority))) {
      this.hold(key, bytes);
      this.launch(key, run, deps, priority);
    } else {
      let i = this.waiting.length;
      while (i > 0 && (this.waiting[i - 1] as { priority: number }).priority > priority) i--;
      this.waiting.splice(i, 0, { key, bytes, priority, start: () => this.launch(key, run, deps, priority) });
    }
  }

  private hold(key: string, bytes: number): void {
    this.heldBytes += bytes - (this.holding.get(key) ?? 0);
    this.holding.set(key, bytes);
  }

  private release(key: string): void {
    const bytes = this.holding.get(key);
    if (bytes === undefined) return;
    this.holding.delete(key);
    this.heldBytes -= bytes;
    while (this.waiting.length > 0) {
      const w = this.waiting[0] as (typeof this.waiting)[number];
      if (this.holding.size > 0 && this.heldBytes + w.bytes > this.deps.pipelineBytes) break;
      this.waiting.shift();
      this.hold(w.key, w.bytes);
      w.start();
    }
  }

  private cancelWaiting(key: string): boolean {
    const i = this.waiting.findIndex((w) => w.key === key);
    if (i < 0) return false;
    this.waiting.splice(i, 1);
    return true;
  }

  private launch(key: string, run: RunSpec, deps: string[], priority: number, shards?: Buffer): void {
    const { store, pool } = this.deps;
    if (!shards && this.deps.shuffle.active && this.deps.shuffle.isUnpack(key)) {
      // A shuffle output: its shards (this worker received them) come as one more dependency value.
      this.deps.shuffle.shardsFor(key).then(
        (framed) => {
          this.deps.noteShared?.(framed.byteLength);
          this.launch(key, run, deps, priority, framed);
        },
        (err: unknown) => this.onResult(key, { ok: false, error: toWireError(err) }),
      );
      return;
    }
    const inMem: Array<[string, Uint8Array]> = shards ? [[SHARDS_KEY, shards]] : [];
    const onDisk: string[] = [];
    for (const d of deps) {
      const b = store.getInMemory(d);
      if (b) inMem.push([d, b]);
      else onDisk.push(d);
    }
    if (onDisk.length === 0) {
      pool.run({ key, f: run.f, a: run.a, deps: inMem, priority });
      return;
    }
    // A dependency gone from disk fails this task instead of becoming an unhandled rejection.
    Promise.all(onDisk.map(async (d) => [d, await store.get(d)] as const))
      .then((loaded) => {
        for (const [d, b] of loaded) {
          if (!b) throw new Error(`dependency ${d} is not stored on this worker`);
          inMem.push([d, b]);
        }
      })
      .then(
        () => pool.run({ key, f: run.f, a: run.a, deps: inMem, priority }),
        (err: Error) => this.onResult(key, { ok: false, error: { name: err.name, message: err.message } }),
      );
  }

  private gather(peer: string, keys: string[], stimulusId: string): void {
    this.deps.peers.getData(peer, keys).then(
      ({ data, missing }) => {
        const received: Array<[string, number]> = [];
        for (const [k, b] of data) {
          this.deps.store.put(k, b);
          received.push([k, b.byteLength]);
          this.transferBytes += b.byteLength;
        }
        this.push({ type: 'gather-dep-done', peer, received, missing, stimulusId: `${stimulusId}-done` });
      },
      (err: Error) => {
        this.deps.logger.warn('fetching dependencies failed', { event: 'worker.gather-failed', peer, keys: keys.length, error: err.message });
        this.push({ type: 'gather-dep-failed', peer, keys, stimulusId: `${stimulusId}-failed` });
      },
    );
  }
}
