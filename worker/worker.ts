import { DEFAULT_POOL_CAP_BYTES, receivePool } from '../comm/buffer-pool.ts';
import { DataClient, serveData } from '../comm/data-client.ts';
import { ProtocolError } from '../comm/errors.ts';
import { listen, type Listener } from '../comm/handshake.ts';
import { Channel, checkHelloVersion, decodeSchedulerToWorker, type SchedulerToWorker, type WorkerToScheduler } from '../comm/protocol.ts';
import type { Comm } from '../comm/comm.ts';
import { RECONNECT_BACKOFF } from '../shared/core/retry.ts';
import { connectToScheduler, heldResults, unstartedTasks, type SchedulerConnection } from './connection.ts';
import { IllegalWorkerStateError } from './errors.ts';
import { cgroupMemoryLimit, effectiveMemoryLimit, exposeGc, MEMORY_LIMIT_EXIT_CODE, MemoryManager, SharedMemoryCollector, sharedGcThreshold, threadGcThreshold } from './memory.ts';
import { ModuleCache } from './module-cache.ts';
import { compileWorkerOptions, type CompiledWorkerOptions, type WorkerOptions } from './options.ts';
import { ThreadPool } from './pool.ts';
import { EventPump } from './pump.ts';
import { WorkerState } from './state/machine.ts';
import { DataStore } from './store.ts';
import { ShuffleService } from './shuffle.ts';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { cgroupCpuQuota } from './cpu.ts';
import { removeOnExit, sweepStaleWorkspaces } from './workspace.ts';
import type { TransitionLogEntry } from '../shared/engine/transition-log.ts';

export type { WorkerOptions } from './options.ts';

/** Inputs and unacknowledged shuffle shards of started tasks, as a fraction of the memory limit (worker/pump.ts). */
const PIPELINE_FRACTION = 0.1;
/** Shuffle shards held in memory up to this fraction of the memory limit; more spill to disk. */
const SHUFFLE_BUFFER_FRACTION = 0.25;

/**
 * The worker's lifecycle. `paused` is not stored here: it is the state
 * machine's flag (set by the memory manager through pause/unpause events),
 * read through, so there is one source of truth.
 */
export type WorkerLifecycleState = 'starting' | 'running' | 'paused' | 'reconnecting' | 'closing' | 'closed';

export interface WorkerFinished {
  reason: string;
  error?: Error;
}

/**
 * The worker process shell. It wires the parts together and owns the
 * lifecycle: a data port (peers and clients fetch results), the scheduler
 * connection (connection.ts), the event pump that feeds the pure WorkerState
 * and runs its instructions (pump.ts), the thread pool, the data store, the
 * module cache (module-cache.ts) and the memory manager (memory.ts).
 */
export class Worker {
  readonly options: CompiledWorkerOptions;
  private readonly machine: WorkerState;
  private readonly store: DataStore;
  private readonly pool: ThreadPool;
  private readonly peers: DataClient;
  private readonly pump: EventPump;
  private readonly memory: MemoryManager;
  private readonly shuffle: ShuffleService;
  private readonly sharedGc: SharedMemoryCollector;
  private readonly noteAllocated = (bytes: number): void => this.sharedGc.note(bytes);
  /** The enforced limit: the configured one capped by the cgroup's; undefined = none. */
  readonly memoryLimitBytes: number | undefined;
  private scheduler: Channel<SchedulerToWorker, WorkerToScheduler> | undefined;
  private listener: Listener | undefined;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private cpuSample = { at: performance.now(), ...process.cpuUsage() };
  private cpuLimit: number | undefined;
  private phase: 'starting' | 'running' | 'reconnecting' | 'closing' | 'closed' = 'starting';
  /** Aborts a reconnect in progress when the worker closes. */
  private reconnectAbort: AbortController | undefined;
  private startCalled = false;
  /** Drops the exit hook that removes this worker's workspace (after close removed it). */
  private dropExitHook: (() => void) | undefined;
  private closing: Promise<void> | undefined;
  address = '';
  workerId = '';
  /** Resolves when the worker should stop (scheduler gone or asked to close) or has closed. */
  readonly finished: Promise<WorkerFinished>;
  private finish!: (v: WorkerFinished) => void;

  /** @throws WorkerOptionsError listing every invalid option. */
  constructor(options: WorkerOptions) {
    const o = (this.options = compileWorkerOptions(options));
    this.machine = new WorkerState({ nthreads: o.nthreads, maxExecuting: o.maxExecuting });
    this.memoryLimitBytes = effectiveMemoryLimit(o.memoryLimitBytes, o.honourCgroupLimit ? cgroupMemoryLimit() : undefined);
    if (o.ownWorkspace) {
      // Workspaces of workers that died without cleaning up (kill -9, a crash) would fill the disk over time.
      const swept = sweepStaleWorkspaces(o.scratchDir);
      if (swept.length > 0) o.logger.info('removed workspaces of dead workers', { event: 'worker.workspaces-swept', count: swept.length, scratchDir: o.scratchDir });
      this.dropExitHook = removeOnExit(o.spillDir);
    }
    this.store = new DataStore(o.spillDir, this.memoryLimitBytes, { ...o.thresholds });
    // The main thread's gc, for the memory manager only (each task thread takes its own on first need:
    // worker/gc.ts). Not taken without a limit: it loads node:v8 and node:vm, which start does not need.
    const collectGarbage = this.memoryLimitBytes !== undefined ? exposeGc() : undefined;
    // Idle receive memory is bounded, and a small share of a limit (comm/buffer-pool.ts).
    if (this.memoryLimitBytes !== undefined) receivePool.capBytes = Math.min(DEFAULT_POOL_CAP_BYTES, Math.floor(this.memoryLimitBytes * 0.1));
    // Shared memory prompts no collection by itself (memory.ts): collect by what comes in.
    this.sharedGc = new SharedMemoryCollector(sharedGcThreshold(this.memoryLimitBytes), () => collectGarbage ?? exposeGc());
    receivePool.onAllocate = this.noteAllocated;
    this.peers = new DataClient(o.token, 'peer', o.caPem);
    this.pool = new ThreadPool(
      o.nthreads,
      o.name,
      (key, r) => this.pump.onResult(key, r),
      (name, error) => o.logger.error('worker plugin failed', { event: 'worker.plugin-error', plugin: name, error }),
      threadGcThreshold(this.memoryLimitBytes, o.nthreads),
    );
    this.shuffle = new ShuffleService({
      self: () => this.address,
      peers: this.peers,
      dir: join(o.spillDir, 'shuffle'),
      // Shards beyond a quarter of the memory limit spill (256 MiB without a limit), or beyond RECC_SHUFFLE_BUFFER_BYTES.
      bufferBytes: o.shuffleBufferBytes ?? (this.memoryLimitBytes !== undefined ? Math.floor(this.memoryLimitBytes * SHUFFLE_BUFFER_FRACTION) : 256 * 1024 * 1024),
      // Past the target fraction of the limit (RSS), shards go straight to disk: the stored results use that budget too.
      underPressure: () => this.memoryLimitBytes !== undefined && process.memoryUsage.rss() > this.memoryLimitBytes * o.thresholds.target,
      logger: o.logger,
    });
    this.pump = new EventPump({
      shuffle: this.shuffle,
      state: this.machine,
      store: this.store,
      pool: this.pool,
      peers: this.peers,
      modules: new ModuleCache(o.moduleCacheDir, o.logger),
      logger: o.logger,
      inlineResultBytes: o.inlineResultBytes,
      noteShared: (bytes) => this.sharedGc.note(bytes),
      // Inputs and unacknowledged shards of started tasks: a tenth of the limit (1 GiB without one).
      pipelineBytes: this.memoryLimitBytes !== undefined ? Math.floor(this.memoryLimitBytes * PIPELINE_FRACTION) : 1024 ** 3,
      send: (msg, bufs, weight) => this.send(msg, bufs, weight),
      onCloseRequest: () => this.finish({ reason: 'scheduler asked to close' }),
    });
    this.memory = new MemoryManager({
      limitBytes: this.memoryLimitBytes,
      thresholds: o.thresholds,
      store: this.store,
      isPaused: () => this.machine.paused,
      logger: o.logger,
      ...(collectGarbage ? { collectGarbage } : {}),
      collectThreads: () => this.pool.collectGarbage(),
      onPauseChange: (paused) => {
        this.send({ op: 'status', status: paused ? 'paused' : 'running' });
        this.pump.push({ type: paused ? 'pause' : 'unpause', stimulusId: this.pump.stimulus('memory') });
      },
      onTerminate: () => {
        // Best effort: tell the scheduler to stop sending work and write it out now; the process ends
        // before the task can allocate much more, and the scheduler sees the connection drop.
        this.send({ op: 'status', status: 'paused' });
        this.scheduler?.comm.flush();
        (o.onMemoryLimitExceeded ?? (() => process.exit(MEMORY_LIMIT_EXIT_CODE)))();
      },
    });
    this.finished = new Promise((resolve) => (this.finish = resolve));
  }

  /** Resolves once the task threads started with the worker have set up their isolates (ThreadPool.started). */
  threadsStarted(): Promise<void> {
    return this.pool.started();
  }

  get state(): WorkerLifecycleState {
    if (this.phase === 'running' && this.machine.paused) return 'paused';
    return this.phase;
  }

  /** Listen, connect (retrying with backoff) and register. Only once, before close(). */
  async start(): Promise<void> {
    if (this.startCalled || this.phase !== 'starting') throw new IllegalWorkerStateError('start', this.startCalled && this.phase === 'starting' ? 'already starting' : this.state);
    this.startCalled = true;
    const o = this.options;
    this.listener = await listen({
      host: o.host,
      port: 0,
      token: o.token,
      ...(o.tls ? { tls: o.tls } : {}),
      logger: o.logger,
      accept: (comm, hello) => {
        checkHelloVersion(hello);
        if (hello.role !== 'peer' && hello.role !== 'client') throw new ProtocolError('hello', 'role', `expected "peer" or "client" on a worker's data port, got "${String(hello.role)}"`);
        serveData(comm, (key) => this.store.get(key), this.protocolErrorLogger(`${hello.role} ${comm.peer}`), (push, bufs) => this.shuffle.receive(push, bufs));
        return {};
      },
    });
    const { comm, workerId } = await connectToScheduler(o, this.listener.port, this.memoryLimitBytes);
    if (this.phase !== 'starting') {
      // close() was called while we were connecting.
      await comm.close().catch(() => undefined);
      return;
    }
    this.attach(comm, workerId);
    this.heartbeatTimer = setInterval(() => this.heartbeat(), o.heartbeatMs);
    this.heartbeatTimer.unref();
    this.memory.start(o.memorySampleMs);
  }

  /** The scheduler connection: its messages go to the pump; losing it starts a reconnect. */
  private attach(comm: Comm, workerId: string): void {
    this.scheduler = new Channel(comm, decodeSchedulerToWorker, { onProtocolError: this.protocolErrorLogger('scheduler') });
    this.workerId = workerId;
    this.address = workerId;
    this.phase = 'running';
    this.scheduler.onMessage((msg, bufs) => this.pump.onSchedulerMessage(msg, bufs));
    comm.onClose((err) => {
      if (this.phase === 'running' && this.scheduler?.comm === comm) void this.reconnect(err);
    });
  }

  /**
   * The scheduler went away without asking this worker to close (killed,
   * restarted, a network cut). Tasks not started are dropped, results kept;
   * the worker connects again with RECONNECT_BACKOFF for `reconnectTimeoutMs`
   * and re-registers the results it holds (`held-data`), so the scheduler
   * reuses them instead of computing them again. Only then does it give up.
   */
  private async reconnect(lost: Error | undefined): Promise<void> {
    const o = this.options;
    if (o.reconnectTimeoutMs <= 0) {
      this.finish({ reason: 'scheduler connection lost', ...(lost ? { error: lost } : {}) });
      return;
    }
    this.phase = 'reconnecting';
    o.logger.warn('lost the scheduler; reconnecting', { event: 'worker.reconnecting', scheduler: o.schedulerAddress, timeoutMs: o.reconnectTimeoutMs, error: lost?.message });
    const unstarted = unstartedTasks(this.machine);
    if (unstarted.length > 0) this.pump.push({ type: 'free-keys', keys: unstarted, stimulusId: this.pump.stimulus('scheduler-lost') });
    const abort = (this.reconnectAbort = new AbortController());
    const started = Date.now();
    let conn: SchedulerConnection;
    try {
      conn = await connectToScheduler(o, this.listener?.port ?? 0, this.memoryLimitBytes, {
        deadlineMs: o.reconnectTimeoutMs,
        policy: RECONNECT_BACKOFF,
        signal: abort.signal,
        event: 'worker.reconnect-retry',
      });
    } catch (err) {
      if (this.phase === 'reconnecting') this.finish({ reason: 'scheduler connection lost', error: err as Error });
      return;
    }
    if (this.phase !== 'reconnecting') {
      await conn.comm.close().catch(() => undefined);
      return;
    }
    this.attach(conn.comm, conn.workerId);
    const held = heldResults(this.machine);
    if (held.k.length > 0) this.send({ op: 'held-data', k: held.k, n: held.n }, undefined, held.k.length);
    if (this.machine.paused) this.send({ op: 'status', status: 'paused' });
    o.logger.info('reconnected to the scheduler', { event: 'worker.reconnected', scheduler: o.schedulerAddress, afterMs: Date.now() - started, heldResults: held.k.length });
  }

  /** Stop: close connections, threads and the spill directory. A second call awaits the first. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.phase = 'closing';
      this.reconnectAbort?.abort(new Error('the worker is closing'));
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.memory.stop();
      await this.scheduler?.comm.close().catch(() => undefined);
      await this.listener?.close();
      await this.peers.close();
      await this.pool.close();
      if (receivePool.onAllocate === this.noteAllocated) receivePool.onAllocate = undefined;
      this.shuffle.close();
      // Removes the whole workspace (the shuffle's files included).
      this.store.close();
      this.dropExitHook?.();
      this.phase = 'closed';
      this.finish({ reason: 'closed' });
    })();
    return this.closing;
  }

  /** Bad messages are answered with an `error` message (comm/protocol Channel) and logged here; the connection stays up. */
  private protocolErrorLogger(peer: string): (err: ProtocolError) => void {
    return (err) => this.options.logger.warn('bad message from a peer', { event: 'worker.protocol-error', peer, op: err.op, path: err.path, error: err.message });
  }

  private send(msg: WorkerToScheduler, bufs?: Buffer[], weight?: number): void {
    if (this.phase !== 'running') return;
    this.scheduler?.send(msg, bufs, weight);
  }

  private heartbeat(): void {
    const m = process.memoryUsage();
    // Cores used since the last heartbeat: two clock reads, cheap enough for every beat.
    const now = performance.now();
    const usage = process.cpuUsage();
    const elapsedMs = now - this.cpuSample.at;
    const cpu = elapsedMs > 0 ? (usage.user + usage.system - this.cpuSample.user - this.cpuSample.system) / 1000 / elapsedMs : 0;
    this.cpuSample = { at: now, user: usage.user, system: usage.system };
    this.cpuLimit ??= cgroupCpuQuota() ?? availableParallelism();
    this.send({
      op: 'heartbeat',
      rss: m.rss,
      managed: this.store.managedBytes,
      spilled: this.store.spilledBytes,
      executing: this.machine.executing.size,
      ready: this.machine.readyCount,
      paused: this.machine.paused,
      inlineRuns: this.pool.inlineRuns,
      receiveIdle: receivePool.idleBytes,
      receiveReused: receivePool.stats.reused,
      shuffleSpilled: this.shuffle.buffer.spilledBytes,
      cpu: Math.max(0, cpu),
      cpuLimit: this.cpuLimit,
      transferBytes: this.pump.transferBytes,
      shuffleBytes: this.shuffle.pushedBytes,
    });
  }

  /** The worker-side transitions of `key` (bounded log), each with its stimulus id: the scheduler's for computes and frees. */
  story(key: string): TransitionLogEntry[] {
    return this.machine.story(key);
  }

  /** Observability for tests and the CLI. */
  stats(): { stored: number; managedBytes: number; spilledBytes: number; spillCount: number; shuffleBufferBytes: number; shuffleSpilledBytes: number; idleReceiveBytes: number } {
    return { stored: this.store.size, managedBytes: this.store.managedBytes, spilledBytes: this.store.spilledBytes, spillCount: this.store.spillCount, ...this.shuffle.stats(), idleReceiveBytes: receivePool.idleBytes };
  }
}
