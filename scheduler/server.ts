import { createServer, type Server as HttpServer } from 'node:http';
import type { Comm, Message } from '../comm/comm.ts';
import { listen, type Hello, type Listener, type TlsFiles } from '../comm/handshake.ts';
import type { FunctionDef } from '../comm/payload.ts';
import { systemClock, type Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import { SchedulerState } from './state/machine.ts';
import type { DepLocation, SchedulerEvent, SchedulerInstruction, SchedulerOptions, TaskSpec } from './state/types.ts';

export interface SchedulerServerOptions {
  host: string;
  port: number;
  token: string;
  tls?: TlsFiles;
  dashboardPort?: number;
  logger: Logger;
  clock?: Clock;
  /** A worker silent this long is removed. */
  heartbeatTimeoutMs?: number;
  state?: Partial<SchedulerOptions>;
}

interface WorkerConn {
  id: string;
  comm: Comm;
  name: string;
  nthreads: number;
  resources: Record<string, number>;
  memoryLimit: number | null;
  pid: number | null;
  knownFns: Set<string>;
  knownModules: Set<string>;
  lastSeen: number;
  metrics: Record<string, unknown>;
}

interface ClientConn {
  id: string;
  comm: Comm;
}

/** Compute instructions for one worker from one step, as parallel arrays (one message). */
interface ComputeBatch {
  k: string[];
  f: string[];
  a: Uint8Array[];
  /** Per task 0 (no dependencies) or its dependencies as `{key, nbytes, who}` records. */
  d: Array<DepLocation[] | 0>;
  p: number[];
}

/** Status served at `GET /api/status` (never includes the token). */
export interface SchedulerStatus {
  workers: number;
  workerNames: string[];
  tasksProcessing: number;
  tasksQueued: number;
  tasksInMemory: number;
  tasksTotal: number;
  clientsConnected: number;
  lastActivityAt: string | null;
  uptimeSeconds: number;
}

/**
 * The scheduler process shell: it accepts authenticated workers and clients,
 * turns their messages into events for the pure SchedulerState (one batch per
 * event-loop turn) and turns the resulting instructions into messages.
 */
export class SchedulerServer {
  readonly state: SchedulerState;
  private listener: Listener | undefined;
  private http: HttpServer | undefined;
  private readonly workers = new Map<string, WorkerConn>();
  private readonly clients = new Map<string, ClientConn>();
  private readonly fns = new Map<string, FunctionDef>();
  private readonly modules = new Map<string, Buffer>();
  private readonly plugins: Array<{ hash: string; name: string }> = [];
  private events: SchedulerEvent[] = [];
  private smallData = new Map<string, Buffer>();
  private scheduled = false;
  private stim = 0;
  private nextClient = 1;
  private timers: NodeJS.Timeout[] = [];
  private readonly clock: Clock;
  private readonly startedAt: number;
  private lastActivity: number | null = null;
  private closing: Promise<void> | undefined;
  address = '';
  dashboardUrl: string | undefined;

  constructor(private readonly options: SchedulerServerOptions) {
    this.clock = options.clock ?? systemClock;
    this.state = new SchedulerState(options.state ?? {});
    this.startedAt = this.clock.now();
  }

  async start(): Promise<void> {
    this.listener = await listen({
      host: this.options.host,
      port: this.options.port,
      token: this.options.token,
      ...(this.options.tls ? { tls: this.options.tls } : {}),
      logger: this.options.logger,
      accept: (comm, hello) => this.accept(comm, hello),
    });
    const port = this.listener.port;
    const contact = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
    this.address = `${this.options.tls ? 'tls' : 'tcp'}://${contact.includes(':') ? `[${contact}]` : contact}:${port}`;
    if (this.options.dashboardPort !== undefined) {
      try {
        this.dashboardUrl = await this.startDashboard(this.options.dashboardPort);
      } catch (err) {
        await this.listener.close();
        throw err;
      }
    }
    const tick = setInterval(() => this.tick(), 500);
    tick.unref();
    this.timers.push(tick);
  }

  /** Stop accepting, tell workers to stop, close everything. Safe to call twice. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      for (const t of this.timers) clearInterval(t);
      for (const w of this.workers.values()) w.comm.send({ op: 'close' });
      await Promise.all([...this.workers.values()].map((w) => w.comm.close().catch(() => undefined)));
      await Promise.all([...this.clients.values()].map((c) => c.comm.close().catch(() => undefined)));
      await this.listener?.close();
      await new Promise<void>((resolve) => (this.http ? this.http.close(() => resolve()) : resolve()));
      this.http?.closeAllConnections();
    })();
    return this.closing;
  }

  status(): SchedulerStatus {
    let processing = 0;
    for (const w of this.state.workers.values()) processing += w.processing.size;
    let queued = this.state.constrained.size + this.state.readyDeps.size + this.state.noWorker.size;
    for (const t of this.state.queue.values()) if (t.state === 'queued' && t.inHeap) queued++;
    let inMemory = 0;
    for (const w of this.state.workers.values()) inMemory += w.has.size;
    return {
      workers: this.workers.size,
      workerNames: [...this.workers.values()].map((w) => w.name).sort(),
      tasksProcessing: processing,
      tasksQueued: queued,
      tasksInMemory: inMemory,
      tasksTotal: this.state.tasks.size,
      clientsConnected: this.clients.size,
      lastActivityAt: this.lastActivity === null ? null : new Date(this.lastActivity).toISOString(),
      uptimeSeconds: Math.round((this.clock.now() - this.startedAt) / 1000),
    };
  }

  // ------------------------------------------------------------ handshake

  private accept(comm: Comm, hello: Hello): Record<string, unknown> {
    if (this.closing) throw new Error('the scheduler is shutting down');
    if (hello.role === 'worker') return this.acceptWorker(comm, hello);
    if (hello.role === 'client') return this.acceptClient(comm);
    throw new Error(`role ${String(hello.role)} cannot connect to the scheduler`);
  }

  private acceptWorker(comm: Comm, hello: Hello): Record<string, unknown> {
    // A worker listening on all interfaces sends only its data port; its address is where it connects from.
    const address =
      typeof hello.address === 'string'
        ? hello.address
        : typeof hello.dataPort === 'number' && comm.remoteHost
          ? `${hello.tls ? 'tls' : 'tcp'}://${comm.remoteHost.includes(':') ? `[${comm.remoteHost}]` : comm.remoteHost}:${hello.dataPort}`
          : undefined;
    const nthreads = hello.nthreads;
    if (typeof address !== 'string' || typeof nthreads !== 'number' || !(nthreads >= 1)) throw new Error('worker hello lacks address or nthreads');
    if (this.workers.has(address)) throw new Error(`a worker at ${address} is already registered`);
    const resources: Record<string, number> = {};
    if (hello.resources && typeof hello.resources === 'object') {
      for (const [k, v] of Object.entries(hello.resources as Record<string, unknown>)) if (typeof v === 'number') resources[k] = v;
    }
    const w: WorkerConn = {
      id: address,
      comm,
      name: typeof hello.name === 'string' ? hello.name : address,
      nthreads,
      resources,
      memoryLimit: typeof hello.memoryLimit === 'number' ? hello.memoryLimit : null,
      pid: typeof hello.pid === 'number' ? hello.pid : null,
      knownFns: new Set(),
      knownModules: new Set(),
      lastSeen: this.clock.now(),
      metrics: {},
    };
    this.workers.set(w.id, w);
    comm.onMessage((msg, bufs) => this.onWorkerMessage(w, msg, bufs));
    comm.onClose((err) => {
      if (this.workers.get(w.id) !== w) return;
      this.workers.delete(w.id);
      this.options.logger.info('worker removed', { event: 'scheduler.worker-removed', worker: w.name, address: w.id, reason: err?.message });
      this.push({ type: 'remove-worker', workerId: w.id, reason: err?.message ?? 'closed', stimulusId: this.sid('remove-worker') });
    });
    for (const p of this.plugins) this.sendPlugin(w, p);
    this.push({ type: 'add-worker', workerId: w.id, name: w.name, nthreads, resources, stimulusId: this.sid('add-worker') });
    this.options.logger.info('worker registered', { event: 'scheduler.worker-added', worker: w.name, address: w.id, nthreads, resources });
    return { workerId: w.id };
  }

  private acceptClient(comm: Comm): Record<string, unknown> {
    const c: ClientConn = { id: `client-${this.nextClient++}`, comm };
    this.clients.set(c.id, c);
    comm.onMessage((msg, bufs) => this.onClientMessage(c, msg, bufs));
    comm.onClose(() => {
      this.clients.delete(c.id);
      this.push({ type: 'remove-client', clientId: c.id, stimulusId: this.sid('remove-client') });
    });
    this.push({ type: 'add-client', clientId: c.id, stimulusId: this.sid('add-client') });
    this.lastActivity = this.clock.now();
    return { clientId: c.id };
  }

  // -------------------------------------------------------------- inbound

  private onWorkerMessage(w: WorkerConn, msg: Message, bufs: Buffer[] | undefined): void {
    w.lastSeen = this.clock.now();
    switch (msg.op) {
      case 'finished': {
        const keys = msg.k as string[];
        const nbytes = msg.n as number[];
        const ms = msg.ms as number[];
        const di = msg.di as number[];
        if (!Array.isArray(keys) || !Array.isArray(nbytes) || !Array.isArray(ms) || !Array.isArray(di)) throw new Error('malformed finished batch');
        if (nbytes.length !== keys.length || ms.length !== keys.length || di.length !== keys.length) throw new Error('malformed finished batch');
        this.lastActivity = w.lastSeen;
        // One event for the whole batch (the state machine treats it as one task-finished per key).
        const n: number[] = new Array(keys.length);
        const durations: number[] = new Array(keys.length);
        for (let i = 0; i < keys.length; i++) {
          const key = str(keys[i]);
          const d = di[i] as number;
          if (d >= 0 && bufs?.[d]) this.smallData.set(key, bufs[d] as Buffer);
          n[i] = Number(nbytes[i]) || 0;
          const duration = ms[i];
          durations[i] = typeof duration === 'number' && duration >= 0 ? duration : -1;
        }
        this.push({ type: 'tasks-finished', workerId: w.id, keys, nbytes: n, durationsMs: durations, stimulusId: this.sid('finished') });
        return;
      }
      case 'task-finished': {
        const key = str(msg.key);
        if (bufs && bufs[0]) this.smallData.set(key, bufs[0]);
        this.lastActivity = w.lastSeen;
        this.push({
          type: 'task-finished',
          workerId: w.id,
          key,
          nbytes: Number(msg.nbytes) || 0,
          ...(typeof msg.ms === 'number' ? { durationMs: msg.ms } : {}),
          stimulusId: this.sid('task-finished'),
        });
        return;
      }
      case 'task-erred': {
        const e = (msg.error ?? {}) as { name?: unknown; message?: unknown; stack?: unknown };
        this.lastActivity = w.lastSeen;
        this.push({
          type: 'task-erred',
          workerId: w.id,
          key: str(msg.key),
          error: { name: String(e.name ?? 'Error'), message: String(e.message ?? ''), ...(typeof e.stack === 'string' ? { stack: e.stack } : {}) },
          stimulusId: this.sid('task-erred'),
        });
        return;
      }
      case 'missing-data':
        this.push({ type: 'missing-data', workerId: w.id, key: str(msg.key), dep: str(msg.dep), from: String(msg.from ?? ''), stimulusId: this.sid('missing-data') });
        return;
      case 'status':
        this.push({ type: 'worker-status', workerId: w.id, status: msg.status === 'paused' ? 'paused' : 'running', stimulusId: this.sid('worker-status') });
        return;
      case 'heartbeat':
        w.metrics = { ...msg };
        delete w.metrics.op;
        return;
      default:
        throw new Error(`unknown op ${msg.op}`);
    }
  }

  private onClientMessage(c: ClientConn, msg: Message, bufs: Buffer[] | undefined): void {
    this.lastActivity = this.clock.now();
    switch (msg.op) {
      case 'update-graph': {
        // Validate everything here: a malformed message drops this client, never the scheduler.
        const fns = msg.fns ?? [];
        if (!Array.isArray(fns)) throw new Error('update-graph fns must be an array');
        for (const entry of fns) {
          if (!Array.isArray(entry) || typeof entry[0] !== 'string' || !isFunctionDef(entry[1])) throw new Error('malformed function definition');
          if (!this.fns.has(entry[0])) this.fns.set(entry[0], entry[1]);
        }
        const raw = msg.tasks as unknown[];
        if (!Array.isArray(raw)) throw new Error('update-graph without tasks');
        const tasks: TaskSpec[] = new Array(raw.length);
        for (let i = 0; i < raw.length; i++) {
          const tuple = raw[i];
          if (!Array.isArray(tuple)) throw new Error('malformed task in update-graph');
          const [key, f, a, deps, resources, retries] = tuple as unknown[];
          if (typeof key !== 'string' || typeof f !== 'string' || !(a instanceof Uint8Array)) throw new Error('malformed task in update-graph');
          if (!Array.isArray(deps)) throw new Error('task dependencies must be keys');
          for (let j = 0; j < deps.length; j++) if (typeof deps[j] !== 'string') throw new Error('task dependencies must be keys');
          if (resources !== null && resources !== undefined && !isNumberRecord(resources)) throw new Error('task resources must map names to numbers');
          if (retries !== undefined && retries !== null && (typeof retries !== 'number' || !Number.isInteger(retries) || retries < 0)) throw new Error('task retries must be a non-negative integer');
          // The wire tuple itself is the opaque run spec (no extra object per task).
          const spec: TaskSpec = { key, run: tuple, deps: deps as string[] };
          if (resources) spec.resources = resources as Record<string, number>;
          if (retries) spec.retries = retries as number;
          tasks[i] = spec;
        }
        this.push({ type: 'update-graph', clientId: c.id, tasks, wants: keyList(msg.wants ?? []), stimulusId: this.sid('update-graph') });
        return;
      }
      case 'upload-module': {
        const code = bufs?.[0];
        if (code) this.modules.set(str(msg.hash), code);
        return;
      }
      case 'register-plugin': {
        const code = bufs?.[0];
        const p = { hash: str(msg.hash), name: String(msg.name ?? msg.hash) };
        if (code) this.modules.set(p.hash, code);
        this.plugins.push(p);
        for (const w of this.workers.values()) this.sendPlugin(w, p);
        c.comm.send({ op: 'reply', id: msg.id, ok: true });
        return;
      }
      case 'release-keys':
        this.push({ type: 'client-releases', clientId: c.id, keys: keyList(msg.keys), stimulusId: this.sid('client-releases') });
        return;
      case 'cancel':
        this.push({ type: 'cancel', clientId: c.id, keys: keyList(msg.keys), stimulusId: this.sid('cancel') });
        return;
      case 'who-has': {
        const who: Array<[string, string[]]> = [];
        for (const k of keyList(msg.keys)) {
          const t = this.state.tasks.get(k);
          who.push([k, t?.whoHas ? t.whoHas.map((w) => w.id) : []]);
        }
        c.comm.send({ op: 'reply', id: msg.id, who });
        return;
      }
      case 'info':
        c.comm.send({
          op: 'reply',
          id: msg.id,
          status: this.status(),
          workers: [...this.workers.values()].map((w) => ({
            address: w.id,
            name: w.name,
            nthreads: w.nthreads,
            resources: w.resources,
            memoryLimit: w.memoryLimit,
            pid: w.pid,
            metrics: w.metrics,
            processing: this.state.workers.get(w.id)?.processing.size ?? 0,
            stored: this.state.workers.get(w.id)?.has.size ?? 0,
          })),
        });
        return;
      case 'task-states': {
        const keys = keyList(msg.keys);
        c.comm.send({ op: 'reply', id: msg.id, states: keys.map((k) => this.state.tasks.get(k)?.state ?? 'forgotten') });
        return;
      }
      default:
        throw new Error(`unknown op ${msg.op}`);
    }
  }

  private sendPlugin(w: WorkerConn, p: { hash: string; name: string }): void {
    const code = this.modules.get(p.hash);
    w.comm.send({ op: 'plugin', hash: p.hash, name: p.name }, code ? [code] : undefined);
    w.knownModules.add(p.hash);
  }

  // ------------------------------------------------------------- the loop

  private sid(kind: string): string {
    return `${kind}-${++this.stim}`;
  }

  private push(ev: SchedulerEvent): void {
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
    let out: SchedulerInstruction[];
    try {
      out = this.state.handle(events, this.clock.now());
    } catch (err) {
      this.options.logger.error('scheduler state machine failed', { event: 'scheduler.state-error', error: err });
      throw err;
    }
    const free = new Map<string, string[]>();
    const computes = new Map<WorkerConn, ComputeBatch>();
    const inMemory = new Map<ClientConn, { k: string[]; n: number[]; di: number[]; bufs: Buffer[] }>();
    for (const ins of out) {
      if (ins.type === 'compute') {
        const w = this.workers.get(ins.workerId);
        if (!w) continue;
        let b = computes.get(w);
        if (!b) computes.set(w, (b = { k: [], f: [], a: [], d: [], p: [] }));
        this.addCompute(w, b, ins);
      } else if (ins.type === 'free-keys') {
        let list = free.get(ins.workerId);
        if (!list) free.set(ins.workerId, (list = []));
        list.push(...ins.keys);
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
        } else c.comm.send({ ...m });
      }
    }
    for (const [w, b] of computes) w.comm.send(computeBatchMessage(b), undefined, b.k.length);
    for (const [c, b] of inMemory) c.comm.send({ op: 'in-memory', k: b.k, n: b.n, di: b.di }, b.bufs.length > 0 ? b.bufs : undefined, b.k.length);
    for (const [id, keys] of free) this.workers.get(id)?.comm.send({ op: 'free-keys', keys, s: '' });
    this.smallData.clear();
  }

  private addCompute(w: WorkerConn, b: ComputeBatch, ins: Extract<SchedulerInstruction, { type: 'compute' }>): void {
    const tuple = ins.run as [string, string, Uint8Array];
    const f = tuple[1];
    if (!w.knownFns.has(f)) {
      const def = this.fns.get(f);
      if (def) {
        if (def.kind === 'module' && !w.knownModules.has(def.hash)) {
          const code = this.modules.get(def.hash);
          if (code) w.comm.send({ op: 'module', hash: def.hash }, [code]);
          w.knownModules.add(def.hash);
        }
        w.comm.send({ op: 'fns', defs: [[f, def]] });
      }
      w.knownFns.add(f);
    }
    b.k.push(ins.key);
    b.f.push(f);
    b.a.push(tuple[2]);
    // The state machine's fresh DepLocation objects go out as they are (msgpack records).
    b.d.push(ins.deps.length === 0 ? 0 : ins.deps);
    b.p.push(ins.priority);
  }

  private tick(): void {
    const now = this.clock.now();
    const timeout = this.options.heartbeatTimeoutMs ?? 30_000;
    for (const w of this.workers.values()) {
      if (now - w.lastSeen > timeout) {
        this.options.logger.warn('worker missed heartbeats; removing it', { event: 'scheduler.worker-timeout', worker: w.name, silentMs: now - w.lastSeen });
        w.comm.destroy();
      }
    }
    if (this.state.noWorker.size > 0) this.push({ type: 'tick', stimulusId: this.sid('tick') });
  }

  // ------------------------------------------------------------ dashboard

  private startDashboard(port: number): Promise<string> {
    const server = createServer((req, res) => {
      const url = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET') {
        res.writeHead(405, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'method not allowed' }));
        return;
      }
      if (url === '/health') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ status: 'ok' }));
      } else if (url === '/api/status') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(this.status()));
      } else if (url === '/') {
        const s = this.status();
        const rows = [...this.workers.values()]
          .map((w) => `<tr><td>${esc(w.name)}</td><td>${esc(w.id)}</td><td>${w.nthreads}</td><td>${this.state.workers.get(w.id)?.processing.size ?? 0}</td><td>${this.state.workers.get(w.id)?.has.size ?? 0}</td></tr>`)
          .join('');
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          `<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="2"><title>recc scheduler</title>` +
            `<h1>recc scheduler</h1><p>${esc(this.address)} · up ${s.uptimeSeconds} s · ${s.clientsConnected} clients · ${s.tasksProcessing} processing · ${s.tasksQueued} queued · ${s.tasksInMemory} in memory</p>` +
            `<table border="1" cellpadding="4"><tr><th>worker</th><th>address</th><th>threads</th><th>processing</th><th>stored</th></tr>${rows}</table>`,
        );
      } else {
        res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ error: 'not found' }));
      }
    });
    this.http = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, this.options.host, () => {
        server.off('error', reject);
        const addr = server.address();
        const p = typeof addr === 'object' && addr ? addr.port : port;
        const host = this.options.host === '0.0.0.0' || this.options.host === '::' ? '127.0.0.1' : this.options.host;
        resolve(`http://${host.includes(':') ? `[${host}]` : host}:${p}`);
      });
    });
  }
}

/**
 * The wire form of a compute batch: parallel arrays `k`, `f`, `a`, `d`, `p`.
 * When every task runs the same function `f` is that one id (a string), and
 * when no task has dependencies `d` is 0: a map then costs one key, one
 * argument and one priority per task on the wire.
 */
function computeBatchMessage(b: ComputeBatch): Message {
  const f0 = b.f[0];
  let sameFn = true;
  for (let i = 1; i < b.f.length; i++) {
    if (b.f[i] !== f0) {
      sameFn = false;
      break;
    }
  }
  let anyDeps = false;
  for (let i = 0; i < b.d.length; i++) {
    if (b.d[i] !== 0) {
      anyDeps = true;
      break;
    }
  }
  return { op: 'compute-batch', k: b.k, f: sameFn ? f0 : b.f, a: b.a, d: anyDeps ? b.d : 0, p: b.p };
}

function keyList(v: unknown): string[] {
  if (!Array.isArray(v) || v.some((k) => typeof k !== 'string')) throw new Error('expected a list of keys');
  return v as string[];
}

function isNumberRecord(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && Object.values(v).every((n) => typeof n === 'number');
}

function isFunctionDef(v: unknown): v is FunctionDef {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as Record<string, unknown>;
  switch (d.kind) {
    case 'inline':
      return typeof d.source === 'string' && typeof d.name === 'string';
    case 'module':
      return typeof d.hash === 'string' && typeof d.exportName === 'string';
    case 'command':
      return Array.isArray(d.argv) && d.argv.length > 0 && d.argv.every((x) => typeof x === 'string');
    case 'identity':
      return true;
    default:
      return false;
  }
}

function str(v: unknown): string {
  if (typeof v !== 'string') throw new Error('expected a string field');
  return v;
}

function esc(s: string): string {
  return s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] as string);
}
