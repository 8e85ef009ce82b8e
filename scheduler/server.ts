import type { ClusterInfo } from './dashboard/stream.ts';
import type { Comm } from '../comm/comm.ts';
import { ProtocolError } from '../comm/errors.ts';
import type { AdmissionLimits } from '../comm/admission.ts';
import { listen, type Hello, type Listener, type TlsFiles } from '../comm/handshake.ts';
import {
  Channel, checkHelloVersion, computeBatch, decodeClientToScheduler, decodeWorkerHello, decodeWorkerToScheduler,
  type ClientToScheduler, type Reply, type SchedulerToClient, type SchedulerToWorker, type StoryEntry, type WorkerInfo, type WorkerToScheduler,
} from '../comm/protocol.ts';
import { systemClock, type Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import type { SchedulerStatus } from '../shared/engine/scheduler-status.ts';
import type { Dashboard } from './dashboard.ts';
import type { DashboardRecorder } from './dashboard/recorder.ts';
import { SchedulerRefusedError } from './errors.ts';
import { CodeRegistry } from './code-registry.ts';
import { appendCompute, newComputeBatch, type ComputeBatch } from './compute-batch.ts';
import { WorkerOutbox } from './outbox.ts';
import { ScaleRequests, type WorkerScaler } from './scaling.ts';
import { SchedulerState } from './state/machine.ts';
import { KEYS_PER_EVENT, TURN_BUDGET, runsOf, takeTurn } from './turns.ts';
import { unclaimedOf } from './state/reconnect.ts';
import type { SchedulerEvent, SchedulerInstruction, SchedulerOptions } from './state/types.ts';
import { soon } from '../shared/core/soon.ts';

export type { SchedulerStatus } from '../shared/engine/scheduler-status.ts';

export interface SchedulerServerOptions {
  host: string;
  port: number;
  /** Serve this inherited descriptor of a socket already listening on `port` (comm/free-ports preboundListener). */
  listenFd?: number;
  token: string;
  tls?: TlsFiles;
  /** Bounds on not-yet-authenticated connections (defaults in comm/admission.ts). */
  admission?: Partial<AdmissionLimits>;
  dashboardPort?: number;
  /** Shown in the dashboard header: the cluster and, for scheduled-job clusters, the job and run. */
  clusterInfo?: ClusterInfo;
  logger: Logger;
  clock?: Clock;
  /** A worker silent this long is removed. */
  heartbeatTimeoutMs?: number;
  state?: Partial<SchedulerOptions>;
  /** Where an adaptive scheduler asks for workers (scaling.ts); without one, retired workers are closed. */
  scaler?: WorkerScaler;
  /** Bench only: the dashboard serves a forced full GC (dashboard.ts `benchGc`). */
  benchGc?: boolean;
  /** Clients' tasks and keys handled per event-loop turn (turns.ts TURN_BUDGET). */
  turnBudget?: number;
}

interface WorkerConn {
  id: string;
  channel: Channel<WorkerToScheduler, SchedulerToWorker>;
  name: string;
  nthreads: number;
  resources: Record<string, number>;
  memoryLimit: number | null;
  pid: number | null;
  knownFns: Set<string>;
  knownModules: Set<string>;
  lastSeen: number;
  metrics: Record<string, number | boolean>;
}

interface ClientConn {
  id: string;
  channel: Channel<ClientToScheduler, SchedulerToClient>;
}

/**
 * The scheduler process shell: it accepts authenticated workers and clients,
 * turns their messages into events for the pure SchedulerState (one batch per
 * event-loop turn) and turns the resulting instructions into messages.
 */
export class SchedulerServer {
  readonly state: SchedulerState;
  private listener: Listener | undefined;
  private dashboard: Dashboard | undefined;
  /** Task spans and cluster events for the dashboard; only when a dashboard port is asked for. */
  private recorder: DashboardRecorder | undefined;
  private readonly workers = new Map<string, WorkerConn>();
  private readonly clients = new Map<string, ClientConn>();
  private readonly code = new CodeRegistry();
  /** Events from workers and timers, handled as they come; clients' events, handled a budget per turn (turns.ts). */
  private readonly events: SchedulerEvent[] = [];
  private readonly clientEvents: SchedulerEvent[] = [];
  /** Client tasks and keys per event-loop turn, what is left of it, and whether the next turn is scheduled. */
  private readonly budget: number;
  private left: number;
  private turnPending = false;
  /** Requests that arrived behind queued client events, answered once those (numbered up to `after`) are handled. */
  private readonly answers: Array<{ after: number; run: () => void }> = [];
  /** Client events handled so far (the ones queued are numbered after them). */
  private handled = 0;
  private smallData = new Map<string, Buffer>();
  private scheduled = false;
  private stim = 0;
  private nextClient = 1;
  private timers: NodeJS.Timeout[] = [];
  private readonly clock: Clock;
  private readonly startedAt: number;
  private lastActivity: number | null = null;
  private closing: Promise<void> | undefined;
  /** Adaptive scaling's requests to the control plane (scaling.ts). */
  readonly scaling: ScaleRequests | undefined;
  address = '';
  dashboardUrl: string | undefined;

  constructor(private readonly options: SchedulerServerOptions) {
    this.clock = options.clock ?? systemClock;
    this.budget = this.left = options.turnBudget ?? TURN_BUDGET;
    // Shuffle runs numbered from the start time: above any a worker that outlived an earlier scheduler remembers.
    this.state = new SchedulerState({ firstShuffleRun: Math.floor(Date.now()), ...(options.state ?? {}) });
    this.startedAt = this.clock.now();
    if (options.scaler) this.scaling = new ScaleRequests(options.scaler, options.logger, (names) => this.closeWorkers(names));
  }

  async start(): Promise<void> {
    this.listener = await listen({
      host: this.options.host,
      port: this.options.port,
      ...(this.options.listenFd !== undefined ? { fd: this.options.listenFd } : {}),
      token: this.options.token,
      ...(this.options.tls ? { tls: this.options.tls } : {}),
      ...(this.options.admission ? { admission: this.options.admission } : {}),
      logger: this.options.logger,
      accept: (comm, hello) => this.accept(comm, hello),
    });
    const port = this.listener.port;
    const contact = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    this.address = `${this.options.tls ? 'tls' : 'tcp'}://${contact.includes(':') ? `[${contact}]` : contact}:${port}`;
    // Workers register from here on, before the dashboard and `scheduler.ready`: start milestones date readiness from this.
    this.options.logger.info('scheduler listening', { event: 'scheduler.listening', address: this.address });
    if (this.options.dashboardPort !== undefined) {
      try {
        // Loaded only when asked for: node:http and the page cost every scheduler start ~30 ms otherwise.
        const [{ startDashboard, benchGcFunction }, { groupCounts, workerView }, { DashboardRecorder }] = await Promise.all([import('./dashboard.ts'), import('./dashboard/aggregate.ts'), import('./dashboard/recorder.ts')]);
        const recorder = (this.recorder = new DashboardRecorder(() => this.clock.now()));
        for (const w of this.workers.values()) recorder.workerJoined(w.name, w.nthreads);
        this.dashboard = await startDashboard(this.options.host, this.options.dashboardPort, {
          status: () => this.status(),
          story: (key) => this.story(key),
          workerRows: () => this.workerInfo().map((w) => ({ name: w.name, address: w.address, nthreads: w.nthreads, processing: w.processing, stored: w.stored })),
          address: this.address,
          token: this.options.token,
          recorder,
          ...(this.options.clusterInfo ? { cluster: this.options.clusterInfo } : {}),
          ...(this.options.benchGc ? { benchGc: await benchGcFunction() } : {}),
          live: () => ({ groups: groupCounts(this.state.tasks.values()), workers: Object.fromEntries(this.workerInfo().map((w) => [w.address, workerView(w)])) }),
        });
        this.dashboardUrl = this.dashboard.url;
      } catch (err) {
        await this.listener.close();
        throw err;
      }
    }
    const tick = setInterval(() => this.tick(), 500);
    tick.unref();
    this.timers.push(tick);
    // Adaptive scaling looks at the work every interval (state/adaptive.ts).
    const adaptMs = this.state.options.adaptive?.intervalMs;
    if (adaptMs) this.timers.push(setInterval(() => this.push({ type: 'adapt', stimulusId: this.sid('adapt') }), adaptMs).unref());
  }

  /** Tell the named workers to close (a retirement the control plane did not take, or no control plane). */
  private closeWorkers(names: readonly string[]): void {
    for (const w of this.workers.values()) if (names.includes(w.name)) w.channel.send({ op: 'close' });
  }

  /** Stop accepting, tell workers to stop, close everything. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      for (const w of this.workers.values()) w.channel.send({ op: 'close' });
      await Promise.all([...this.workers.values()].map((w) => w.channel.comm.close().catch(() => undefined)));
      await Promise.all([...this.clients.values()].map((c) => c.channel.comm.close().catch(() => undefined)));
      await this.listener?.close();
      await this.dashboard?.close();
    })();
    return this.closing;
  }

  status(): SchedulerStatus {
    const counts = this.state.taskCounts();
    return {
      workers: this.workers.size,
      workerNames: [...this.workers.values()].map((w) => w.name).sort(),
      tasksProcessing: counts.processing,
      tasksQueued: counts.queued,
      tasksInMemory: counts.inMemory,
      tasksTotal: this.state.tasks.size,
      clientsConnected: this.clients.size,
      lastActivityAt: this.lastActivity === null ? null : new Date(this.lastActivity).toISOString(),
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
    };
  }

  // ------------------------------------------------------------ handshake

  private accept(comm: Comm, hello: Hello): Record<string, unknown> {
    if (this.closing) throw new SchedulerRefusedError('the scheduler is shutting down');
    checkHelloVersion(hello);
    if (hello.role === 'worker') return this.acceptWorker(comm, hello);
    if (hello.role === 'client') return this.acceptClient(comm);
    throw new SchedulerRefusedError(`role ${String(hello.role)} cannot connect to the scheduler`);
  }

  /** Bad messages are answered with an `error` message and logged; the connection stays up. */
  private protocolErrorLogger(peer: string): (err: ProtocolError) => void {
    return (err) => this.options.logger.warn('bad message from a peer', { event: 'scheduler.protocol-error', peer, op: err.op, path: err.path, error: err.message });
  }

  private acceptWorker(comm: Comm, raw: Hello): Record<string, unknown> {
    const hello = decodeWorkerHello(raw);
    // A worker listening on all interfaces sends only its data port; its address is where it connects from.
    const host = comm.remoteHost.includes(':') ? `[${comm.remoteHost}]` : comm.remoteHost;
    const address = hello.address ?? `${hello.tls ? 'tls' : 'tcp'}://${host}:${hello.dataPort}`;
    if (this.workers.has(address)) throw new SchedulerRefusedError(`a worker at ${address} is already registered`);
    const name = hello.name ?? address;
    const w: WorkerConn = {
      id: address,
      channel: new Channel(comm, decodeWorkerToScheduler, { onProtocolError: this.protocolErrorLogger(`worker ${name}`) }),
      name,
      nthreads: hello.nthreads,
      resources: hello.resources ?? {},
      memoryLimit: hello.memoryLimit ?? null,
      pid: hello.pid ?? null,
      knownFns: new Set(),
      knownModules: new Set(),
      lastSeen: this.clock.now(),
      metrics: {},
    };
    this.workers.set(w.id, w);
    w.channel.onMessage((msg, bufs) => this.onWorkerMessage(w, msg, bufs));
    w.channel.onClose((err) => {
      if (this.workers.get(w.id) !== w) return;
      this.workers.delete(w.id);
      this.options.logger.info('worker removed', { event: 'scheduler.worker-removed', worker: w.name, address: w.id, reason: err?.message });
      this.recorder?.workerRemoved(w.name, err?.message ?? 'connection closed', this.state.workers.get(w.id)?.processing ?? [], this.state.options.allowedFailures);
      this.push({ type: 'remove-worker', workerId: w.id, reason: err?.message ?? 'closed', stimulusId: this.sid('remove-worker') });
    });
    this.code.welcome(w);
    this.push({ type: 'add-worker', workerId: w.id, name: w.name, nthreads: w.nthreads, resources: w.resources, stimulusId: this.sid('add-worker') });
    this.recorder?.workerJoined(w.name, w.nthreads);
    this.options.logger.info('worker registered', { event: 'scheduler.worker-added', worker: w.name, address: w.id, nthreads: w.nthreads, resources: w.resources });
    return { workerId: w.id };
  }

  private acceptClient(comm: Comm): Record<string, unknown> {
    const id = `client-${this.nextClient++}`;
    const c: ClientConn = { id, channel: new Channel(comm, decodeClientToScheduler, { onProtocolError: this.protocolErrorLogger(id), repliesToRequests: true }) };
    this.clients.set(c.id, c);
    c.channel.onMessage((msg, bufs) => this.onClientMessage(c, msg, bufs));
    c.channel.onClose(() => {
      this.clients.delete(c.id);
      // Its futures are released in runs first (turns.ts): a million of them at once held the loop for seconds.
      const wants = this.state.clients.get(c.id)?.wants;
      if (wants && wants.size > KEYS_PER_EVENT) {
        for (const keys of runsOf([...wants].map((t) => t.key), KEYS_PER_EVENT)) this.push({ type: 'client-releases', clientId: c.id, keys, stimulusId: this.sid('client-releases') });
      }
      this.push({ type: 'remove-client', clientId: c.id, stimulusId: this.sid('remove-client') });
    });
    this.push({ type: 'add-client', clientId: c.id, stimulusId: this.sid('add-client') });
    this.lastActivity = this.clock.now();
    return { clientId: c.id };
  }

  // -------------------------------------------------------------- inbound

  private onWorkerMessage(w: WorkerConn, msg: WorkerToScheduler, bufs: Buffer[] | undefined): void {
    w.lastSeen = this.clock.now();
    switch (msg.op) {
      case 'finished': {
        const { k: keys, n: nbytes, ms, di } = msg;
        this.lastActivity = w.lastSeen;
        // One event for the whole batch (the state machine treats it as one task-finished per key).
        const durations: number[] = new Array(keys.length);
        for (let i = 0; i < keys.length; i++) {
          const d = di[i] as number;
          if (d >= 0 && bufs?.[d]) this.smallData.set(keys[i] as string, bufs[d] as Buffer);
          const duration = ms[i] as number;
          durations[i] = duration >= 0 ? duration : -1;
        }
        // O(1) per batch, and nothing while no one watches (dashboard/recorder.ts).
        this.recorder?.finished(w.name, keys, durations, msg.th);
        this.push({ type: 'tasks-finished', workerId: w.id, keys, nbytes, durationsMs: durations, stimulusId: this.sid('finished') });
        return;
      }
      case 'task-erred':
        this.lastActivity = w.lastSeen;
        if (this.recorder) this.recorder.taskErred(msg.key, this.state.tasks.get(msg.key)?.state === 'processing' ? this.state.tasks.get(msg.key)?.retries : undefined, msg.error);
        this.push({ type: 'task-erred', workerId: w.id, key: msg.key, error: msg.error, stimulusId: this.sid('task-erred') });
        return;
      case 'task-queue':
        this.push({ type: 'task-queue', workerId: w.id, queued: msg.q, started: msg.st, stimulusId: this.sid('task-queue') });
        return;
      case 'missing-data':
        this.push({ type: 'missing-data', workerId: w.id, key: msg.key, dep: msg.dep, from: msg.from, stimulusId: this.sid('missing-data') });
        return;
      case 'steal-response':
        this.push({ type: 'steal-response', workerId: w.id, keys: [msg.key], states: [msg.state], stimulusId: this.sid('steal-response') });
        return;
      case 'status':
        this.push({ type: 'worker-status', workerId: w.id, status: msg.status, stimulusId: this.sid('worker-status') });
        return;
      case 'held-data':
        this.push({ type: 'worker-held-data', workerId: w.id, keys: msg.k, nbytes: msg.n, stimulusId: this.sid('worker-held-data') });
        return;
      case 'heartbeat': {
        const { op: _op, ...metrics } = msg;
        w.metrics = metrics;
        return;
      }
      case 'error':
        this.options.logger.warn('a worker refused a message', { event: 'scheduler.refused-by-peer', worker: w.name, ...msg.error });
        return;
    }
  }

  private onClientMessage(c: ClientConn, msg: ClientToScheduler, bufs: Buffer[] | undefined): void {
    this.lastActivity = this.clock.now();
    switch (msg.op) {
      case 'update-graph': {
        const tasks = this.code.intake(msg.fns, msg.tasks);
        this.push({ type: 'update-graph', clientId: c.id, tasks, wants: msg.wants, stimulusId: this.sid('update-graph') });
        return;
      }
      case 'upload-module': {
        const code = bufs?.[0];
        if (!code) throw new ProtocolError('upload-module', '', 'the module code (one buffer) is missing');
        this.code.addModule(msg.hash, code);
        return;
      }
      case 'register-plugin': {
        const code = bufs?.[0];
        if (!code) throw new ProtocolError('register-plugin', '', 'the plugin code (one buffer) is missing');
        this.code.addPlugin({ hash: msg.hash, name: msg.name }, code, this.workers.values());
        c.channel.send({ op: 'reply', id: msg.id });
        return;
      }
      case 'release-keys':
      case 'cancel': {
        const type = msg.op === 'cancel' ? 'cancel' : 'client-releases';
        for (const keys of runsOf(msg.keys, KEYS_PER_EVENT)) this.push({ type, clientId: c.id, keys, stimulusId: this.sid(type) });
        return;
      }
      default:
        // After the events before it (a backlog waits for later turns): a client reads its own writes.
        if (this.clientEvents.length > 0) this.answers.push({ after: this.handled + this.clientEvents.length, run: () => this.answer(c, msg) });
        else this.answer(c, msg);
    }
  }

  /** Requests the scheduler answers at once from its state. */
  private answer(c: ClientConn, msg: Exclude<ClientToScheduler, { op: 'update-graph' | 'upload-module' | 'register-plugin' | 'release-keys' | 'cancel' }>): void {
    switch (msg.op) {
      case 'who-has': {
        const who = msg.keys.map((k): [string, string[]] => [k, this.state.tasks.get(k)?.whoHas?.map((w) => w.id) ?? []]);
        c.channel.send({ op: 'reply', id: msg.id, who } satisfies Reply<'who-has'>);
        return;
      }
      case 'info':
        c.channel.send({ op: 'reply', id: msg.id, status: this.status(), workers: this.workerInfo() } satisfies Reply<'info'>);
        return;
      case 'task-states':
        c.channel.send({ op: 'reply', id: msg.id, states: msg.keys.map((k) => this.state.tasks.get(k)?.state ?? 'forgotten') } satisfies Reply<'task-states'>);
        return;
      case 'story':
        c.channel.send({ op: 'reply', id: msg.id, story: this.story(msg.key) } satisfies Reply<'story'>);
        return;
      case 'error':
        this.options.logger.warn('a client refused a message', { event: 'scheduler.refused-by-peer', client: c.id, ...msg.error });
        return;
    }
  }

  /** The transitions of one task, oldest first, each with the stimulus that caused it. */
  story(key: string): StoryEntry[] {
    return this.state.story(key);
  }

  private workerInfo(): WorkerInfo[] {
    return [...this.workers.values()].map((w) => ({
      address: w.id,
      name: w.name,
      nthreads: w.nthreads,
      resources: w.resources,
      memoryLimit: w.memoryLimit,
      pid: w.pid,
      metrics: w.metrics,
      processing: this.state.workers.get(w.id)?.processing.size ?? 0,
      stored: this.state.workers.get(w.id)?.has.size ?? 0,
    }));
  }

  // ------------------------------------------------------------- the loop

  private sid(kind: string): string {
    return `${kind}-${++this.stim}`;
  }

  private push(ev: SchedulerEvent): void {
    ('clientId' in ev ? this.clientEvents : this.events).push(ev);
    if (this.scheduled) return;
    this.scheduled = true;
    soon(() => this.process());
  }

  /** Workers' events all at once; clients' events up to this turn's budget, the rest after pending I/O (turns.ts). */
  private process(newTurn = false): void {
    this.scheduled = false;
    if (newTurn) {
      this.left = this.budget;
      this.turnPending = false;
    }
    const turn = this.left > 0 ? takeTurn(this.clientEvents, this.left) : { count: 0, weight: 0 };
    const clients = turn.count === 0 ? [] : this.clientEvents.splice(0, turn.count);
    const events = this.events.length === 0 ? clients : this.events.splice(0).concat(clients);
    this.handled += clients.length;
    this.left -= turn.weight;
    if (this.clientEvents.length > 0 && !this.turnPending) {
      this.turnPending = true;
      setImmediate(() => this.process(true));
    }
    if (events.length === 0) return;
    let out: SchedulerInstruction[];
    try {
      out = this.state.handle(events, this.clock.now());
    } catch (err) {
      this.options.logger.error('scheduler state machine failed', { event: 'scheduler.state-error', error: err });
      throw err;
    }
    // Per worker: one compute batch and the keys to free per stimulus, in an order the worker can follow (outbox.ts).
    const outbox = new WorkerOutbox<WorkerConn, ComputeBatch>({
      newBatch: newComputeBatch,
      sendCompute: (w, b) => w.channel.send(computeBatch(b), undefined, b.k.length),
      sendFree: (w, keys, s) => w.channel.send({ op: 'free-keys', keys, s }),
    });
    const inMemory = new Map<ClientConn, { k: string[]; n: number[]; di: number[]; bufs: Buffer[] }>();
    let steals: Array<Extract<SchedulerInstruction, { type: 'steal-request' }>> | undefined;
    for (const ins of out) {
      if (ins.type === 'compute') {
        const w = this.workers.get(ins.workerId);
        if (w) appendCompute(this.code, w, outbox.compute(w, ins.key), ins);
      } else if (ins.type === 'shuffle-forget') {
        this.workers.get(ins.workerId)?.channel.send({ op: 'shuffle-forget', id: ins.shuffleId, run: ins.run });
      } else if (ins.type === 'free-keys') {
        const w = this.workers.get(ins.workerId);
        if (w) outbox.free(w, ins.keys, ins.stimulusId);
      } else if (ins.type === 'steal-request') {
        // After this step's computes and frees: a request is only ever for a task placed in an earlier step.
        (steals ??= []).push(ins);
      } else if (ins.type === 'acquire-replicas') {
        this.workers.get(ins.workerId)?.channel.send({ op: 'acquire-replicas', keys: ins.keys, s: ins.stimulusId });
      } else if (ins.type === 'scale') {
        this.scaling?.request(ins.workers);
      } else if (ins.type === 'retire-worker') {
        this.options.logger.info('worker retired: its results are held elsewhere', { event: 'scheduler.worker-retired', worker: ins.name, workers: ins.workers });
        if (this.scaling) this.scaling.request(ins.workers, [ins.name]);
        else this.closeWorkers([ins.name]);
      } else {
        const c = this.clients.get(ins.clientId);
        if (!c) continue;
        const m = ins.msg;
        if (m.op === 'key-in-memory') {
          let b = inMemory.get(c);
          if (!b) inMemory.set(c, (b = { k: [], n: [], di: [], bufs: [] }));
          const data = this.smallData.get(m.key);
          b.k.push(m.key);
          b.n.push(m.nbytes);
          b.di.push(data ? b.bufs.push(data) - 1 : -1);
        } else c.channel.send({ ...m });
      }
    }
    outbox.flush();
    if (steals) for (const ins of steals) this.workers.get(ins.workerId)?.channel.send({ op: 'steal-request', keys: ins.keys, s: ins.stimulusId });
    for (const [c, b] of inMemory) c.channel.send({ op: 'in-memory', k: b.k, n: b.n, di: b.di }, b.bufs.length > 0 ? b.bufs : undefined, b.k.length);
    // Every worker event was handled (only clients' events wait for a later turn).
    this.smallData.clear();
    while (this.answers.length > 0 && (this.answers[0] as { after: number }).after <= this.handled) this.answers.shift()?.run();
  }

  private tick(): void {
    const now = this.clock.now();
    const timeout = this.options.heartbeatTimeoutMs ?? 30_000;
    for (const w of this.workers.values()) {
      if (now - w.lastSeen > timeout) {
        this.options.logger.warn('worker missed heartbeats; removing it', { event: 'scheduler.worker-timeout', worker: w.name, silentMs: now - w.lastSeen });
        w.channel.comm.destroy();
      }
    }
    if (this.state.noWorker.size > 0 || unclaimedOf(this.state).size > 0) this.push({ type: 'tick', stimulusId: this.sid('tick') });
  }
}
