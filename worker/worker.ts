import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Comm, Message } from '../comm/comm.ts';
import { DataClient, serveData } from '../comm/data-client.ts';
import { AuthenticationError } from '../comm/errors.ts';
import { connect, listen, type Listener, type TlsFiles } from '../comm/handshake.ts';
import type { FunctionDef } from '../comm/payload.ts';
import type { Logger } from '../shared/core/logger.ts';
import { WorkerStartError } from './errors.ts';
import { ThreadPool, type PoolResult } from './pool.ts';
import { WorkerState } from './state/machine.ts';
import type { DepSpec, WorkerEvent, WorkerInstruction } from './state/types.ts';
import { DataStore, DEFAULT_THRESHOLDS, type MemoryThresholds } from './store.ts';

export interface WorkerOptions {
  schedulerAddress: string;
  token: string;
  nthreads: number;
  /** Bytes; undefined = no limit. */
  memoryLimitBytes?: number;
  thresholds?: Partial<MemoryThresholds>;
  resources: Record<string, number>;
  name: string;
  /** Interface for the data port (peers and clients fetch results here); `0.0.0.0` for all. */
  host: string;
  /** Address other processes use to reach this host (defaults to host, or 127.0.0.1 for 0.0.0.0). */
  contactHost?: string;
  caPem?: string;
  /** Serve the data port over TLS with these. */
  tls?: TlsFiles;
  logger: Logger;
  /** Give up connecting to the scheduler after this long. */
  connectTimeoutMs: number;
  heartbeatMs?: number;
  /** Results up to this size ride along with task-finished (and reach clients at once). */
  inlineResultBytes?: number;
  spillDir?: string;
  moduleCacheDir?: string;
}

type RunSpec = { f: string; a: Uint8Array };
const NO_DEPS: never[] = [];

/** A task's dependencies on the wire: `{key, nbytes, who}` records, or `[key, nbytes, who]` tuples (older schedulers). */
type WireDeps = Array<DepSpec | [string, number, string[]]>;

function depSpecs(raw: WireDeps): DepSpec[] {
  if (raw.length === 0 || !Array.isArray(raw[0])) return raw as DepSpec[];
  return (raw as Array<[string, number, string[]]>).map(([key, nbytes, who]) => ({ key, nbytes, who }));
}

/**
 * The worker process shell: it connects to the scheduler, feeds the pure
 * WorkerState, runs `execute` instructions on the thread pool, fetches
 * dependencies from peers (batched per peer), serves its results on a data
 * port, spills to disk above the memory target and pauses above the pause
 * threshold.
 */
export class Worker {
  private state: WorkerState;
  private store: DataStore;
  private pool: ThreadPool;
  private peers: DataClient;
  private scheduler: Comm | undefined;
  private listener: Listener | undefined;
  private events: WorkerEvent[] = [];
  private scheduled = false;
  private stim = 0;
  private timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | undefined;
  private readonly thresholds: MemoryThresholds;
  private readonly moduleDir: string;
  private knownModules = new Set<string>();
  private paused = false;
  /** Run times of finished tasks until their task-finished goes out. */
  private durations = new Map<string, number>();
  address = '';
  workerId = '';
  /** Resolves when the scheduler connection ends (the worker then stops). */
  readonly finished: Promise<{ reason: string; error?: Error }>;
  private finish!: (v: { reason: string; error?: Error }) => void;

  constructor(private readonly options: WorkerOptions) {
    this.thresholds = { ...DEFAULT_THRESHOLDS, ...(options.thresholds ?? {}) };
    this.state = new WorkerState({ nthreads: options.nthreads, maxExecuting: options.nthreads + 64 });
    const spillDir = options.spillDir ?? join(tmpdir(), `recc-spill-${process.pid}-${Math.random().toString(36).slice(2, 8)}`);
    this.store = new DataStore(spillDir, options.memoryLimitBytes, this.thresholds);
    this.moduleDir = options.moduleCacheDir ?? join(tmpdir(), 'recc-modules');
    this.pool = new ThreadPool(options.nthreads, options.name, (key, r) => this.onResult(key, r), (name, error) =>
      options.logger.error('worker plugin failed', { event: 'worker.plugin-error', plugin: name, error }),
    );
    this.peers = new DataClient(options.token, 'peer', options.caPem);
    this.finished = new Promise((resolve) => (this.finish = resolve));
  }

  /** Listen, connect (retrying with backoff) and register. */
  async start(): Promise<void> {
    const log = this.options.logger;
    this.listener = await listen({
      host: this.options.host,
      port: 0,
      token: this.options.token,
      ...(this.options.tls ? { tls: this.options.tls } : {}),
      logger: log,
      accept: (comm, hello) => {
        if (hello.role !== 'peer' && hello.role !== 'client') throw new Error(`role ${hello.role} cannot connect to a worker`);
        serveData(comm, (key) => this.store.get(key));
        return {};
      },
    });
    const wildcard = this.options.host === '0.0.0.0' || this.options.host === '::';
    const contact = this.options.contactHost ?? (wildcard ? undefined : this.options.host);
    // Listening on all interfaces without a contact host: the scheduler uses the address we connect from.
    const advertised = contact ? `${this.options.tls ? 'tls' : 'tcp'}://${contact.includes(':') ? `[${contact}]` : contact}:${this.listener.port}` : undefined;

    const began = Date.now();
    const deadline = began + this.options.connectTimeoutMs;
    let delay = 25;
    for (;;) {
      try {
        const { comm, welcome } = await connect(this.options.schedulerAddress, {
          token: this.options.token,
          ...(this.options.caPem ? { caPem: this.options.caPem } : {}),
          hello: {
            role: 'worker',
            name: this.options.name,
            nthreads: this.options.nthreads,
            resources: this.options.resources,
            memoryLimit: this.options.memoryLimitBytes ?? null,
            ...(advertised ? { address: advertised } : {}),
            dataPort: this.listener.port,
            tls: Boolean(this.options.tls),
            pid: process.pid,
          },
        });
        this.scheduler = comm;
        this.workerId = String(welcome.workerId ?? advertised);
        this.address = this.workerId;
        break;
      } catch (err) {
        if (err instanceof AuthenticationError) throw err;
        if (Date.now() > deadline) {
          throw new WorkerStartError(`cannot reach the scheduler at ${this.options.schedulerAddress}: ${(err as Error).message}`, { cause: err });
        }
        log.debug('scheduler not reachable yet; retrying', { event: 'worker.connect-retry', delayMs: delay });
        await new Promise((r) => setTimeout(r, delay));
        // Poll quickly while the scheduler is probably starting alongside us, then back off.
        if (Date.now() - began > 3000) delay = Math.min(Math.ceil(delay * 1.5), 2000);
      }
    }
    const comm = this.scheduler;
    comm.onMessage((msg, bufs) => this.onSchedulerMessage(msg, bufs));
    comm.onClose((err) => {
      if (!this.closing) this.finish({ reason: 'scheduler connection lost', ...(err ? { error: err } : {}) });
    });
    const hb = this.options.heartbeatMs ?? 1000;
    this.timers.push(setInterval(() => this.heartbeat(), hb));
    this.timers.push(setInterval(() => this.checkMemory(), 100));
    for (const t of this.timers) t.unref();
  }

  /** Stop: close connections, threads and the spill directory. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      await this.scheduler?.close().catch(() => undefined);
      await this.listener?.close();
      await this.peers.close();
      await this.pool.close();
      this.store.close();
      this.finish({ reason: 'closed' });
    })();
    return this.closing;
  }

  // --------------------------------------------------------------- inbound

  private onSchedulerMessage(msg: Message, bufs: Buffer[] | undefined): void {
    switch (msg.op) {
      case 'compute-batch': {
        // `f` is one function id for the whole batch or one per task; `d` is 0 when no task has dependencies.
        const keys = msg.k as string[];
        const fns = msg.f as string[] | string;
        const oneFn = typeof fns === 'string' ? fns : undefined;
        const args = msg.a as Uint8Array[];
        const deps = msg.d as Array<WireDeps | 0> | 0;
        const prios = msg.p as number[];
        for (let i = 0; i < keys.length; i++) {
          const raw = deps === 0 ? 0 : deps[i];
          this.push({
            type: 'compute-task',
            key: keys[i] as string,
            run: { f: oneFn ?? (fns[i] as string), a: args[i] as Uint8Array } satisfies RunSpec,
            priority: prios[i] as number,
            deps: raw ? depSpecs(raw) : NO_DEPS,
            stimulusId: 'compute',
          });
        }
        return;
      }
      case 'compute': {
        const raw = msg.d as Array<[string, number, string[]]>;
        const deps = raw.length === 0 ? NO_DEPS : raw.map(([key, nbytes, who]) => ({ key, nbytes, who }));
        this.push({ type: 'compute-task', key: msg.k as string, run: { f: msg.f as string, a: msg.a as Uint8Array } satisfies RunSpec, priority: msg.p as number, deps, stimulusId: 'compute' });
        return;
      }
      case 'free-keys':
        this.push({ type: 'free-keys', keys: msg.keys as string[], stimulusId: msg.s as string });
        return;
      case 'fns': {
        const defs = msg.defs as Array<[string, FunctionDef]>;
        const withPaths: Array<[string, FunctionDef, string | undefined]> = defs.map(([id, def]) => [id, def, def.kind === 'module' ? this.modulePath(def.hash) : undefined]);
        this.pool.defineFunctions(withPaths);
        return;
      }
      case 'module': {
        const hash = msg.hash as string;
        const code = (bufs ?? [])[0];
        if (code) this.cacheModule(hash, code);
        return;
      }
      case 'plugin': {
        const hash = msg.hash as string;
        const code = (bufs ?? [])[0];
        if (code) this.cacheModule(hash, code);
        this.pool.addPlugin(this.modulePath(hash), String(msg.name));
        return;
      }
      case 'close':
        this.finish({ reason: 'scheduler asked to close' });
        return;
      default:
        this.options.logger.warn('unknown message from scheduler', { event: 'worker.unknown-op', op: msg.op });
    }
  }

  private modulePath(hash: string): string {
    return join(this.moduleDir, `${hash}.mjs`);
  }

  private cacheModule(hash: string, code: Buffer): void {
    if (this.knownModules.has(hash)) return;
    const path = this.modulePath(hash);
    if (!existsSync(path)) {
      const actual = createHash('sha256').update(code).digest('hex').slice(0, 32);
      if (actual !== hash) {
        this.options.logger.error('module content does not match its hash', { event: 'worker.module-hash', hash });
        return;
      }
      mkdirSync(this.moduleDir, { recursive: true });
      const tmp = `${path}.${process.pid}.tmp`;
      writeFileSync(tmp, code);
      // Atomic publish: other workers on this host share the cache.
      renameSync(tmp, path);
    }
    this.knownModules.add(hash);
  }

  private push(ev: WorkerEvent): void {
    this.events.push(ev);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.process());
    }
  }

  private process(): void {
    this.scheduled = false;
    const events = this.events;
    this.events = [];
    const out = this.state.handle(events);
    for (const ins of out) this.execute(ins);
    this.flushFinished();
  }

  /** Results finished in one step go to the scheduler as one message (small data inline). */
  private outFinished: { k: string[]; n: number[]; ms: number[]; di: number[]; bufs: Buffer[] } = { k: [], n: [], ms: [], di: [], bufs: [] };

  private flushFinished(): void {
    const f = this.outFinished;
    if (f.k.length === 0) return;
    this.outFinished = { k: [], n: [], ms: [], di: [], bufs: [] };
    this.scheduler?.send({ op: 'finished', k: f.k, n: f.n, ms: f.ms, di: f.di }, f.bufs.length > 0 ? f.bufs : undefined, f.k.length);
  }

  // -------------------------------------------------------------- outbound

  private execute(ins: WorkerInstruction): void {
    switch (ins.type) {
      case 'execute':
        return this.startTask(ins.key, ins.run as RunSpec, ins.deps);
      case 'gather-dep':
        return this.gather(ins.peer, ins.keys, ins.stimulusId);
      case 'release-data':
        this.store.delete(ins.key);
        this.durations.delete(ins.key);
        return;
      case 'send': {
        const msg = ins.msg;
        if (msg.op === 'task-finished') {
          const inline = this.options.inlineResultBytes ?? 32 * 1024;
          const data = msg.nbytes <= inline ? this.store.getInMemory(msg.key) : undefined;
          const ms = this.durations.get(msg.key);
          this.durations.delete(msg.key);
          const f = this.outFinished;
          f.k.push(msg.key);
          f.n.push(msg.nbytes);
          f.ms.push(ms ?? -1);
          f.di.push(data ? f.bufs.push(data) - 1 : -1);
        } else {
          this.scheduler?.send({ ...msg });
        }
        return;
      }
    }
  }

  private startTask(key: string, run: RunSpec, deps: string[]): void {
    const inMem: Array<[string, Uint8Array]> = [];
    const onDisk: string[] = [];
    for (const d of deps) {
      const b = this.store.getInMemory(d);
      if (b) inMem.push([d, b]);
      else onDisk.push(d);
    }
    if (onDisk.length === 0) {
      this.pool.run({ key, f: run.f, a: run.a, deps: inMem });
      return;
    }
    Promise.all(onDisk.map(async (d) => [d, await this.store.get(d)] as const)).then(
      (loaded) => {
        for (const [d, b] of loaded) {
          if (!b) throw new Error(`dependency ${d} is not stored on this worker`);
          inMem.push([d, b]);
        }
        this.pool.run({ key, f: run.f, a: run.a, deps: inMem });
      },
      (err: Error) => this.onResult(key, { ok: false, error: { name: err.name, message: err.message } }),
    );
  }

  private onResult(key: string, r: PoolResult): void {
    const stimulusId = `exec-${++this.stim}`;
    if (r.ok) {
      this.durations.set(key, r.ms);
      this.store.put(key, r.data);
      this.push({ type: 'execute-success', key, nbytes: r.data.byteLength, stimulusId });
    } else {
      this.push({ type: 'execute-failure', key, error: r.error, stimulusId });
    }
  }

  private gather(peer: string, keys: string[], stimulusId: string): void {
    this.peers.getData(peer, keys).then(
      ({ data, missing }) => {
        const received: Array<[string, number]> = [];
        for (const [k, b] of data) {
          this.store.put(k, b);
          received.push([k, b.byteLength]);
        }
        this.push({ type: 'gather-dep-done', peer, received, missing, stimulusId: `${stimulusId}-done` });
      },
      (err: Error) => {
        this.options.logger.warn('fetching dependencies failed', { event: 'worker.gather-failed', peer, keys: keys.length, error: err.message });
        this.push({ type: 'gather-dep-failed', peer, keys, stimulusId: `${stimulusId}-failed` });
      },
    );
  }

  private heartbeat(): void {
    const m = process.memoryUsage();
    this.scheduler?.send({
      op: 'heartbeat',
      rss: m.rss,
      managed: this.store.managedBytes,
      spilled: this.store.spilledBytes,
      executing: this.state.executing.size,
      ready: this.state.readyCount,
      paused: this.paused,
      inlineRuns: this.pool.inlineRuns,
    });
  }

  private checkMemory(): void {
    const limit = this.options.memoryLimitBytes;
    if (limit === undefined) return;
    const rss = process.memoryUsage.rss();
    if (rss > limit * this.thresholds.spill && this.store.managedBytes > 0) {
      this.store.spillTo(Math.max(0, this.store.managedBytes - (rss - limit * this.thresholds.spill)));
    }
    const shouldPause = rss > limit * this.thresholds.pause && this.store.managedBytes > 0;
    if (shouldPause !== this.paused) {
      this.paused = shouldPause;
      this.options.logger.info(shouldPause ? 'memory above the pause threshold; pausing new tasks' : 'memory back under the pause threshold; resuming', {
        event: shouldPause ? 'worker.paused' : 'worker.resumed',
        rss,
        managed: this.store.managedBytes,
      });
      this.scheduler?.send({ op: 'status', status: shouldPause ? 'paused' : 'running' });
      this.push({ type: shouldPause ? 'pause' : 'unpause', stimulusId: `memory-${++this.stim}` });
    }
  }

  /** Observability for tests and the CLI. */
  stats(): { stored: number; managedBytes: number; spilledBytes: number; spillCount: number } {
    return { stored: this.store.size, managedBytes: this.store.managedBytes, spilledBytes: this.store.spilledBytes, spillCount: this.store.spillCount };
  }
}
