import { InvalidTransitionError, TransitionLimitError } from '../errors.ts';
import { own } from '../../shared/core/own.ts';
import {
  DEFAULT_SCHEDULER_OPTIONS,
  type ClientReport,
  type DepLocation,
  type Resources,
  type SchedulerEvent,
  type SchedulerInstruction,
  type SchedulerOptions,
  type TaskErrorInfo,
  type TaskSpec,
  type TaskStateName,
} from './types.ts';

/**
 * The scheduler's pure state machine (modelled on Dask's scheduler
 * transitions). `handle(events, now)` applies a batch of events and returns
 * the instructions for the shell; nothing here does I/O or reads a clock.
 *
 * Task life: released → waiting (on dependencies) → queued (ready, on the
 * scheduler) or no-worker (no worker offers its resources) → processing (on a
 * worker) → memory (held by ≥ 1 worker) or erred; released again once no
 * client and no pending dependent needs it, forgotten once nothing refers to it.
 * Every change goes through `transition`, which looks the pair up in TABLE.
 */

const EMPTY: TaskRecord[] = [];

export class TaskRecord {
  state: TaskStateName = 'released';
  deps: TaskRecord[] = EMPTY;
  dependents: Set<TaskRecord> | null = null;
  /** Dependencies not in memory (meaningful in `waiting`). */
  waitingOn = 0;
  whoHas: WorkerRecord[] | null = null;
  processingOn: WorkerRecord | null = null;
  nbytes = 0;
  wantedBy: ClientRecord[] | null = null;
  prio = 0;
  seq = 0;
  resources: Resources | null = null;
  retries = 0;
  suspicious = 0;
  error: TaskErrorInfo | null = null;
  inHeap = false;
  noWorkerSince = 0;
  /** Estimated run time (ms) counted in its worker's occupancy while processing. */
  est = 0;
  constructor(
    readonly key: string,
    public run: unknown,
    /** Duration statistics are kept per prefix (the function). */
    readonly prefix: string,
  ) {}
}

/** `lambda-3f9a…` → `lambda`; keys without a dash are their own prefix. */
export function keyPrefix(key: string): string {
  const i = key.lastIndexOf('-');
  if (i <= 0) return key;
  // Consecutive keys mostly share a prefix (a map): reuse that string instead of a new slice per task.
  if (i === lastPrefix.length && key.startsWith(lastPrefix)) return lastPrefix;
  lastPrefix = key.slice(0, i);
  return lastPrefix;
}
let lastPrefix = '';

export class WorkerRecord {
  readonly processing = new Set<TaskRecord>();
  readonly has = new Set<TaskRecord>();
  readonly used: Resources = {};
  status: 'running' | 'paused' = 'running';
  removed = false;
  /** Sum of the estimated run times (ms) of the tasks processing here. */
  occupancy = 0;
  constructor(
    readonly id: string,
    readonly name: string,
    readonly nthreads: number,
    readonly resources: Resources,
  ) {}
}

export class ClientRecord {
  readonly wants = new Set<TaskRecord>();
  nextPrio = 0;
  constructor(readonly id: string) {}
}

type Target = TaskStateName | 'ready';
type Arg = { worker?: WorkerRecord; nbytes?: number; durationMs?: number; error?: TaskErrorInfo; notifyWorker?: boolean };
type TransitionFn = (s: SchedulerState, t: TaskRecord, arg: Arg) => void;

/**
 * Queued tasks by (prio, seq), entries leaving lazily. Tasks mostly arrive in
 * priority order (a map, a graph's roots), so those go to a FIFO in O(1);
 * only out-of-order arrivals use the binary heap.
 */
class TaskHeap {
  private a: TaskRecord[] = [];
  private fifo: TaskRecord[] = [];
  private head = 0;
  get size(): number {
    return this.a.length + this.fifo.length - this.head;
  }
  private less(x: TaskRecord, y: TaskRecord): boolean {
    return x.prio < y.prio || (x.prio === y.prio && x.seq < y.seq);
  }
  push(t: TaskRecord): void {
    const f = this.fifo;
    if (f.length === this.head || !this.less(t, f[f.length - 1] as TaskRecord)) {
      f.push(t);
      return;
    }
    const a = this.a;
    a.push(t);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[i] as TaskRecord, a[p] as TaskRecord)) break;
      [a[i], a[p]] = [a[p] as TaskRecord, a[i] as TaskRecord];
      i = p;
    }
  }
  pop(): TaskRecord | undefined {
    const f = this.fifo;
    if (this.head < f.length && (this.a.length === 0 || this.less(f[this.head] as TaskRecord, this.a[0] as TaskRecord))) {
      const t = f[this.head++] as TaskRecord;
      if (this.head === f.length) {
        f.length = 0;
        this.head = 0;
      } else if (this.head > 4096 && this.head * 2 > f.length) {
        f.splice(0, this.head);
        this.head = 0;
      }
      return t;
    }
    return this.popHeap();
  }
  private popHeap(): TaskRecord | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0] as TaskRecord;
    const last = a.pop() as TaskRecord;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[l] as TaskRecord, a[m] as TaskRecord)) m = l;
        if (r < a.length && this.less(a[r] as TaskRecord, a[m] as TaskRecord)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m] as TaskRecord, a[i] as TaskRecord];
        i = m;
      }
    }
    return top;
  }
  *values(): Iterable<TaskRecord> {
    yield* this.a;
    for (let i = this.head; i < this.fifo.length; i++) yield this.fifo[i] as TaskRecord;
  }
}

const PENDING: ReadonlySet<TaskStateName> = new Set(['waiting', 'queued', 'no-worker', 'processing']);

export class SchedulerState {
  readonly options: SchedulerOptions;
  readonly tasks = new Map<string, TaskRecord>();
  readonly workers = new Map<string, WorkerRecord>();
  readonly clients = new Map<string, ClientRecord>();
  /** Workers that can take another task now. */
  readonly idle = new Set<WorkerRecord>();
  readonly queue = new TaskHeap();
  /** Ready tasks with resource requirements that some worker can satisfy. */
  readonly constrained = new Set<TaskRecord>();
  /**
   * Ready tasks with dependencies. As in Dask only root tasks wait for room on
   * the scheduler (they create data); these go at once to the worker holding
   * most of their inputs, which keeps data where it is.
   */
  readonly readyDeps = new Set<TaskRecord>();
  readonly noWorker = new Set<TaskRecord>();
  /** Transitions applied so far (observability, runaway guard). */
  transitionCount = 0;
  private seq = 0;
  private servedPrio = 0;
  private out: SchedulerInstruction[] = [];
  private recs: Array<[TaskRecord, Target, Arg]> = [];
  /** Transition budget of the current `handle` call. */
  private limit = 0;
  private stimulusId = '';
  private now = 0;
  private rr: Iterator<WorkerRecord> | null = null;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
  }

  /** Apply events in order; returns every instruction they cause. */
  handle(events: readonly SchedulerEvent[], now: number): SchedulerInstruction[] {
    this.now = now;
    this.out = [];
    const limit = this.transitionCount + this.options.maxTransitions;
    this.limit = limit;
    for (const ev of events) {
      this.stimulusId = ev.stimulusId;
      this.apply(ev);
      this.drain(limit);
    }
    this.schedule();
    const out = this.out;
    this.out = [];
    return out;
  }

  // ---------------------------------------------------------------- events

  private apply(ev: SchedulerEvent): void {
    switch (ev.type) {
      case 'add-worker':
        return this.addWorker(ev.workerId, ev.name, ev.nthreads, ev.resources);
      case 'remove-worker':
        return this.removeWorker(ev.workerId);
      case 'worker-status': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        w.status = ev.status;
        this.updateIdle(w);
        return;
      }
      case 'add-client':
        this.client(ev.clientId);
        return;
      case 'remove-client': {
        const c = this.clients.get(ev.clientId);
        if (!c) return;
        this.releaseWants(c, [...c.wants].map((t) => t.key), false);
        this.clients.delete(ev.clientId);
        return;
      }
      case 'update-graph':
        return this.updateGraph(ev.clientId, ev.tasks, ev.wants);
      case 'client-releases': {
        const c = this.clients.get(ev.clientId);
        if (c) this.releaseWants(c, ev.keys, false);
        return;
      }
      case 'cancel': {
        const c = this.clients.get(ev.clientId);
        if (c) this.releaseWants(c, ev.keys, true);
        return;
      }
      case 'task-finished': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        const t = this.tasks.get(ev.key);
        if (!t || t.state !== 'processing' || t.processingOn !== w) {
          // A late or duplicate result (the task was cancelled or moved): the worker drops it.
          this.emit({ type: 'free-keys', workerId: w.id, keys: [ev.key], stimulusId: this.stimulusId });
          return;
        }
        this.transition(t, 'memory', { worker: w, nbytes: ev.nbytes, durationMs: ev.durationMs });
        return;
      }
      case 'tasks-finished': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        const { keys, nbytes, durationsMs } = ev;
        for (let i = 0; i < keys.length; i++) {
          const key = keys[i] as string;
          const t = this.tasks.get(key);
          if (!t || t.state !== 'processing' || t.processingOn !== w) {
            this.emit({ type: 'free-keys', workerId: w.id, keys: [key], stimulusId: this.stimulusId });
            continue;
          }
          const d = durationsMs[i] as number;
          this.transition(t, 'memory', { worker: w, nbytes: nbytes[i] as number, durationMs: d >= 0 ? d : undefined });
          // As if each key were its own event.
          this.drain(this.limit);
        }
        return;
      }
      case 'task-erred': {
        const w = this.workers.get(ev.workerId);
        const t = this.tasks.get(ev.key);
        if (!w || !t || t.state !== 'processing' || t.processingOn !== w) return;
        if (t.retries > 0) {
          t.retries -= 1;
          this.transition(t, 'released', { notifyWorker: false });
        } else {
          this.transition(t, 'erred', { error: ev.error });
        }
        return;
      }
      case 'missing-data': {
        const d = this.tasks.get(ev.dep);
        const from = this.workers.get(ev.from);
        if (d && from && d.whoHas && d.whoHas.includes(from)) {
          d.whoHas = d.whoHas.filter((w) => w !== from);
          from.has.delete(d);
          if (d.whoHas.length === 0) {
            d.whoHas = null;
            this.transition(d, 'released', { notifyWorker: false });
          }
        }
        const t = this.tasks.get(ev.key);
        const w = this.workers.get(ev.workerId);
        if (t && w && t.state === 'processing' && t.processingOn === w) this.transition(t, 'released', {});
        return;
      }
      case 'tick':
        return this.checkNoWorker();
    }
  }

  private client(id: string): ClientRecord {
    let c = this.clients.get(id);
    if (!c) {
      c = new ClientRecord(id);
      this.clients.set(id, c);
    }
    return c;
  }

  private addWorker(id: string, name: string, nthreads: number, resources: Resources): void {
    if (this.workers.has(id)) return;
    const w = new WorkerRecord(id, name, nthreads, { ...resources });
    this.workers.set(id, w);
    this.updateIdle(w);
    for (const t of this.noWorker) {
      if (t.resources && satisfies(w.resources, t.resources)) this.recommend(t, 'queued');
    }
  }

  private removeWorker(id: string): void {
    const w = this.workers.get(id);
    if (!w) return;
    w.removed = true;
    this.workers.delete(id);
    this.idle.delete(w);
    this.rr = null;
    for (const t of [...w.processing]) {
      t.suspicious += 1;
      if (t.suspicious >= this.options.allowedFailures) {
        this.recommend(t, 'erred', {
          error: {
            name: 'KilledWorkerError',
            message: `task ${t.key} was processing on ${t.suspicious} workers that died (the last was ${w.name}); it may be crashing them`,
          },
        });
      } else {
        this.recommend(t, 'released', { notifyWorker: false });
      }
    }
    for (const t of [...w.has]) {
      w.has.delete(t);
      const rest = (t.whoHas ?? EMPTY_W).filter((x) => x !== w);
      t.whoHas = rest.length > 0 ? rest : null;
      if (!t.whoHas) this.recommend(t, 'released', { notifyWorker: false });
    }
    for (const t of [...this.constrained]) {
      if (!this.anyWorkerSatisfies(t.resources as Resources)) this.recommend(t, 'no-worker');
    }
  }

  private updateGraph(clientId: string, specs: readonly TaskSpec[], wants: readonly string[]): void {
    const c = this.client(clientId);
    let prio = Math.max(c.nextPrio, this.servedPrio);
    const created: TaskRecord[] = [];
    for (const spec of specs) {
      if (this.tasks.has(spec.key)) continue;
      const t = new TaskRecord(spec.key, spec.run, keyPrefix(spec.key));
      t.prio = prio++;
      t.seq = this.seq++;
      t.retries = spec.retries ?? 0;
      this.tasks.set(spec.key, t);
      created.push(t);
      let bad: TaskErrorInfo | null = null;
      if (spec.resources && Object.keys(spec.resources).length > 0) {
        const problem = resourceProblem(spec.resources);
        if (problem) bad = { name: 'InvalidResourcesError', message: `task ${spec.key}: ${problem}` };
        else t.resources = { ...spec.resources };
      }
      if (spec.deps.length > 0) {
        const deps: TaskRecord[] = [];
        for (const k of spec.deps) {
          if (k === spec.key) {
            bad ??= { name: 'InvalidGraphError', message: `task ${spec.key} depends on itself` };
            continue;
          }
          const d = this.tasks.get(k);
          if (!d) {
            bad ??= { name: 'MissingDependencyError', message: `task ${spec.key} depends on ${k}, which the scheduler does not know (was its future released?)` };
            continue;
          }
          if (deps.includes(d)) continue;
          deps.push(d);
          (d.dependents ??= new Set()).add(t);
        }
        t.deps = deps;
      }
      if (bad) t.error = bad;
    }
    c.nextPrio = prio;
    const toRun: TaskRecord[] = [];
    for (const key of wants) {
      const t = this.tasks.get(key);
      if (!t) {
        this.report(c, { op: 'task-erred', key, error: { name: 'MissingDependencyError', message: `the scheduler does not know task ${key}` } });
        continue;
      }
      if (!c.wants.has(t)) {
        c.wants.add(t);
        (t.wantedBy ??= []).push(c);
      }
      if (t.state === 'memory') this.report(c, { op: 'key-in-memory', key, nbytes: t.nbytes });
      else if (t.state === 'erred' && t.error) this.report(c, { op: 'task-erred', key, error: t.error });
      else if (t.state === 'released') toRun.push(t);
    }
    // Tasks that cannot run (bad resources, unknown dependency) err first, then the rest start.
    for (const t of created) if (t.error) this.recommend(t, 'erred', { error: t.error });
    this.drain(this.transitionCount + this.options.maxTransitions);
    for (const t of toRun) if (t.state === 'released') this.recommend(t, 'waiting');
    this.drain(this.transitionCount + this.options.maxTransitions);
    // Tasks sent along that nobody needs are dropped again.
    for (const t of created) if (t.state === 'released' && this.canForget(t)) this.recommend(t, 'forgotten');
  }

  private releaseWants(c: ClientRecord, keys: readonly string[], cancelled: boolean): void {
    for (const key of keys) {
      const t = this.tasks.get(key);
      if (!t || !c.wants.has(t)) continue;
      c.wants.delete(t);
      if (t.wantedBy) {
        if (t.wantedBy.length === 1) t.wantedBy = null;
        else {
          const rest = t.wantedBy.filter((x) => x !== c);
          t.wantedBy = rest.length > 0 ? rest : null;
        }
      }
      if (cancelled) this.report(c, { op: 'cancelled', key });
      if (this.isNeeded(t)) continue;
      if (t.state === 'released' || t.state === 'erred') {
        if (this.canForget(t)) this.recommend(t, 'forgotten');
      } else {
        this.recommend(t, 'released');
      }
    }
  }

  private checkNoWorker(): void {
    const timeout = this.options.noWorkerTimeoutMs;
    if (timeout === undefined) return;
    for (const t of this.noWorker) {
      if (this.now - t.noWorkerSince >= timeout) {
        const offered = [...this.workers.values()].map((w) => `${w.name}: ${JSON.stringify(w.resources)}`).join('; ') || 'no workers';
        this.recommend(t, 'erred', {
          error: {
            name: 'NoWorkerError',
            message: `task ${t.key} needs resources ${JSON.stringify(t.resources)} but no worker offering them joined within ${Math.round(timeout / 1000)} s (workers: ${offered})`,
          },
        });
      }
    }
  }

  // ----------------------------------------------------------- transitions

  private recommend(t: TaskRecord, to: Target, arg: Arg = {}): void {
    this.recs.push([t, to, arg]);
  }

  private drain(limit: number): void {
    const recs = this.recs;
    let i = 0;
    while (i < recs.length) {
      const [t, to, arg] = recs[i++] as [TaskRecord, Target, Arg];
      if (t.state === 'forgotten') continue;
      this.transition(t, to, arg);
      if (this.transitionCount > limit) throw new TransitionLimitError(this.options.maxTransitions);
      if (i > 4096 && i * 2 > recs.length) {
        recs.splice(0, i);
        i = 0;
      }
    }
    recs.length = 0;
  }

  private transition(t: TaskRecord, target: Target, arg: Arg = {}): void {
    const to: TaskStateName = target === 'ready' ? this.readyState(t) : target;
    const from = t.state;
    if (from === to) return;
    const fn = BY_STATE[from]?.[to];
    if (fn) {
      this.transitionCount++;
      fn(this, t, arg);
      return;
    }
    // Two steps through released (e.g. processing → released → waiting).
    const a = BY_STATE[from]?.released;
    const b = BY_STATE.released?.[to];
    if (a && b) {
      this.transitionCount += 2;
      a(this, t, { ...arg, viaReleased: true } as Arg);
      if (t.state === 'released') b(this, t, arg);
      return;
    }
    throw new InvalidTransitionError(t.key, from, to);
  }

  private readyState(t: TaskRecord): TaskStateName {
    if (!t.resources) return 'queued';
    return this.anyWorkerSatisfies(t.resources) ? 'queued' : 'no-worker';
  }

  private anyWorkerSatisfies(r: Resources): boolean {
    for (const w of this.workers.values()) if (satisfies(w.resources, r)) return true;
    return false;
  }

  /** Some client or some pending dependent still needs this task's result. */
  isNeeded(t: TaskRecord): boolean {
    if (t.wantedBy) return true;
    if (t.dependents) for (const d of t.dependents) if (PENDING.has(d.state)) return true;
    return false;
  }

  canForget(t: TaskRecord): boolean {
    return !t.wantedBy && (!t.dependents || t.dependents.size === 0);
  }

  // Helpers used by the transition table.

  /** @internal */ emit(i: SchedulerInstruction): void {
    this.out.push(i);
  }

  /** @internal */ report(c: ClientRecord, msg: ClientReport): void {
    this.out.push({ type: 'report', clientId: c.id, msg, stimulusId: this.stimulusId });
  }

  /** @internal */ rec(t: TaskRecord, to: Target, arg: Arg = {}): void {
    this.recommend(t, to, arg);
  }

  /** @internal */ get stimulus(): string {
    return this.stimulusId;
  }

  /** @internal */ get clock(): number {
    return this.now;
  }

  /** @internal */ enqueue(t: TaskRecord): void {
    if (t.resources) {
      this.constrained.add(t);
    } else if (t.deps.length > 0) {
      this.readyDeps.add(t);
    } else if (!t.inHeap) {
      t.inHeap = true;
      this.queue.push(t);
    }
  }

  /** @internal */ dequeue(t: TaskRecord): void {
    this.constrained.delete(t);
    this.readyDeps.delete(t);
  }

  /** @internal */ stopProcessing(t: TaskRecord): WorkerRecord | null {
    const w = t.processingOn;
    if (!w) return null;
    w.processing.delete(t);
    w.occupancy = w.processing.size === 0 ? 0 : Math.max(0, w.occupancy - t.est);
    t.est = 0;
    if (t.resources) for (const [r, n] of Object.entries(t.resources)) w.used[r] = (own(w.used, r) ?? 0) - n;
    t.processingOn = null;
    this.updateIdle(w);
    return w;
  }

  /** Measured run time per task prefix (ms): a slow average that jumps up at once for longer runs. */
  readonly durations = new Map<string, number>();

  /** @internal */ observeDuration(prefix: string, ms: number): void {
    const avg = this.durations.get(prefix);
    this.durations.set(prefix, avg === undefined || ms > avg ? ms : avg * 0.9 + ms * 0.1);
  }

  /** @internal */ estimate(t: TaskRecord): number {
    return this.durations.get(t.prefix) ?? this.options.unknownTaskMs;
  }

  /** @internal */ hasRoom(w: WorkerRecord): boolean {
    const n = w.processing.size;
    return n < w.nthreads || (n < this.options.maxSlots && w.occupancy < this.options.pipelineMs * w.nthreads);
  }

  /** @internal */ updateIdle(w: WorkerRecord): void {
    if (!w.removed && w.status === 'running' && this.hasRoom(w)) this.idle.add(w);
    else this.idle.delete(w);
  }

  /** @internal */ releaseUnneededDeps(t: TaskRecord): void {
    for (const d of t.deps) {
      if ((d.state === 'memory' || PENDING.has(d.state)) && !this.isNeeded(d)) this.recommend(d, 'released');
    }
  }

  /** @internal */ errDependents(t: TaskRecord, error: TaskErrorInfo): void {
    if (!t.dependents) return;
    for (const d of t.dependents) {
      if (PENDING.has(d.state) || d.state === 'released') {
        if (d.state === 'released' && !this.isNeeded(d)) continue;
        this.recommend(d, 'erred', { error: { ...error, blame: error.blame ?? t.key } });
      }
    }
  }

  // ------------------------------------------------------------ placement

  private schedule(): void {
    for (const t of this.readyDeps) {
      const w = this.pickForDeps(t);
      if (!w) break;
      this.assign(t, w);
    }
    if (this.idle.size === 0) return;
    if (this.constrained.size > 0) {
      for (const t of [...this.constrained]) {
        const w = this.pickConstrained(t);
        if (w) this.assign(t, w);
        if (this.idle.size === 0) return;
      }
    }
    // Root tasks: fill one worker with a contiguous run (neighbours in submission order
    // are often combined later, so they stay together), then the next.
    let current: WorkerRecord | null = null;
    while (this.idle.size > 0 && this.queue.size > 0) {
      const t = this.queue.pop() as TaskRecord;
      t.inHeap = false;
      if (t.state !== 'queued') continue;
      if (t.prio > this.servedPrio) this.servedPrio = t.prio;
      if (!current || !this.idle.has(current)) current = this.nextIdle();
      this.assign(t, current);
    }
  }

  /** The running worker holding most of the task's input bytes, then the least occupied. */
  private pickForDeps(t: TaskRecord): WorkerRecord | null {
    let best: WorkerRecord | null = null;
    let bestBytes = -1;
    const better = (w: WorkerRecord, bytes: number) => bytes > bestBytes || (bytes === bestBytes && best !== null && w.occupancy < best.occupancy);
    for (const d of t.deps) {
      if (!d.whoHas) continue;
      for (const w of d.whoHas) {
        if (w.status !== 'running' || w.removed) continue;
        let bytes = 0;
        for (const dd of t.deps) if (dd.whoHas && dd.whoHas.includes(w)) bytes += dd.nbytes;
        if (better(w, bytes)) {
          best = w;
          bestBytes = bytes;
        }
      }
    }
    if (best) return best;
    for (const w of this.workers.values()) {
      if (w.status !== 'running') continue;
      if (!best || w.occupancy < best.occupancy) best = w;
    }
    return best;
  }

  /** Round-robin over workers with free slots (O(1) per task, fair fill). */
  private nextIdle(): WorkerRecord {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.rr) this.rr = this.idle.values();
      const n = this.rr.next();
      if (!n.done) return n.value;
      this.rr = null;
    }
    throw new Error('nextIdle called with no idle worker');
  }

  private pickConstrained(t: TaskRecord): WorkerRecord | null {
    const need = t.resources as Resources;
    let best: WorkerRecord | null = null;
    let bestBytes = -1;
    for (const w of this.idle) {
      if (!satisfies(w.resources, need, w.used)) continue;
      let bytes = 0;
      for (const d of t.deps) if (d.whoHas && d.whoHas.includes(w)) bytes += d.nbytes;
      if (bytes > bestBytes || (bytes === bestBytes && best && w.processing.size < best.processing.size)) {
        best = w;
        bestBytes = bytes;
      }
    }
    return best;
  }

  private assign(t: TaskRecord, w: WorkerRecord): void {
    this.transitionCount++;
    this.dequeue(t);
    t.state = 'processing';
    t.processingOn = w;
    w.processing.add(t);
    t.est = this.estimate(t);
    w.occupancy += t.est;
    if (t.resources) for (const [r, n] of Object.entries(t.resources)) w.used[r] = (own(w.used, r) ?? 0) + n;
    this.updateIdle(w);
    const deps = t.deps.length === 0 ? NO_DEPS : t.deps.map((d) => ({ key: d.key, nbytes: d.nbytes, who: (d.whoHas ?? EMPTY_W).map((x) => x.id) }));
    this.out.push({ type: 'compute', workerId: w.id, key: t.key, run: t.run, deps, priority: t.prio, stimulusId: this.stimulusId });
  }
}

const EMPTY_W: WorkerRecord[] = [];
const NO_DEPS: DepLocation[] = [];

/** Does `offer` (minus `used`) cover `need`? */
export function satisfies(offer: Resources, need: Resources, used?: Resources): boolean {
  for (const [r, n] of Object.entries(need)) {
    // `own`: a resource named `constructor` or `toString` must not read Object.prototype.
    const have = (own(offer, r) ?? 0) - (used === undefined ? 0 : (own(used, r) ?? 0));
    if (have < n) return false;
  }
  return true;
}

function resourceProblem(r: Resources): string | undefined {
  for (const [name, n] of Object.entries(r)) {
    if (!/^[A-Za-z][\w.-]*$/.test(name)) return `resource name "${name}" is invalid`;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return `resource ${name} must be a positive number, got ${String(n)}`;
  }
  return undefined;
}

// -------------------------------------------------------------------------
// The transition table: every allowed (from, to) pair and what it does.

const toReleased = (s: SchedulerState, t: TaskRecord, needed: boolean, arg: Arg & { viaReleased?: boolean }) => {
  t.state = 'released';
  if (arg.viaReleased) return; // the caller moves on to the next state at once
  if (needed) s.rec(t, 'waiting');
  else {
    s.releaseUnneededDeps(t);
    if (s.canForget(t)) s.rec(t, 'forgotten');
  }
};

const toErred = (s: SchedulerState, t: TaskRecord, arg: Arg) => {
  const error = arg.error ?? t.error ?? { name: 'Error', message: `task ${t.key} failed` };
  t.state = 'erred';
  t.error = error;
  if (t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'task-erred', key: t.key, error });
  s.errDependents(t, error);
  s.releaseUnneededDeps(t);
  if (s.canForget(t)) s.rec(t, 'forgotten');
};

const TABLE = new Map<string, TransitionFn>([
  [
    'released>waiting',
    (s, t) => {
      t.state = 'waiting';
      t.waitingOn = 0;
      for (const d of t.deps) {
        if (d.state === 'memory') continue;
        if (d.state === 'erred') {
          s.rec(t, 'erred', { error: { ...(d.error as TaskErrorInfo), blame: d.error?.blame ?? d.key } });
          return;
        }
        t.waitingOn++;
        if (d.state === 'released') s.rec(d, 'waiting');
      }
      if (t.waitingOn === 0) s.rec(t, 'ready');
    },
  ],
  ['waiting>queued', (s, t) => ((t.state = 'queued'), s.enqueue(t))],
  ['no-worker>queued', (s, t) => (s.noWorker.delete(t), (t.state = 'queued'), s.enqueue(t))],
  ['waiting>no-worker', (s, t) => ((t.state = 'no-worker'), s.noWorker.add(t), (t.noWorkerSince = s.clock))],
  ['queued>no-worker', (s, t) => (s.dequeue(t), (t.state = 'no-worker'), s.noWorker.add(t), (t.noWorkerSince = s.clock))],
  [
    'processing>memory',
    (s, t, arg) => {
      const w = arg.worker as WorkerRecord;
      if (arg.durationMs !== undefined) s.observeDuration(t.prefix, arg.durationMs);
      s.stopProcessing(t);
      t.state = 'memory';
      t.nbytes = arg.nbytes ?? 0;
      t.whoHas = [w];
      w.has.add(t);
      if (t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'key-in-memory', key: t.key, nbytes: t.nbytes });
      if (t.dependents) {
        for (const d of t.dependents) {
          if (d.state === 'waiting' && --d.waitingOn === 0) s.rec(d, 'ready');
        }
      }
      s.releaseUnneededDeps(t);
      if (!s.isNeeded(t)) s.rec(t, 'released');
    },
  ],
  [
    'memory>released',
    (s, t, arg) => {
      const needed = s.isNeeded(t);
      if (t.whoHas) {
        for (const w of t.whoHas) {
          w.has.delete(t);
          if (!w.removed && arg.notifyWorker !== false) s.emit({ type: 'free-keys', workerId: w.id, keys: [t.key], stimulusId: s.stimulus });
        }
      }
      t.whoHas = null;
      if (needed && t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'lost-data', key: t.key });
      if (t.dependents) {
        // Data lost while dependents still need it: they wait for it again.
        for (const d of t.dependents) {
          if (d.state === 'waiting') d.waitingOn++;
          else if (d.state === 'queued' || d.state === 'no-worker' || d.state === 'processing') s.rec(d, 'waiting');
        }
      }
      toReleased(s, t, needed, arg);
    },
  ],
  [
    'processing>released',
    (s, t, arg) => {
      const w = s.stopProcessing(t);
      if (w && !w.removed && arg.notifyWorker !== false) s.emit({ type: 'free-keys', workerId: w.id, keys: [t.key], stimulusId: s.stimulus });
      toReleased(s, t, s.isNeeded(t), arg);
    },
  ],
  ['waiting>released', (s, t, arg) => toReleased(s, t, s.isNeeded(t), arg)],
  ['queued>released', (s, t, arg) => (s.dequeue(t), toReleased(s, t, s.isNeeded(t), arg))],
  ['no-worker>released', (s, t, arg) => (s.noWorker.delete(t), toReleased(s, t, s.isNeeded(t), arg))],
  [
    'erred>released',
    (s, t) => {
      t.state = 'released';
      t.error = null;
      if (s.canForget(t)) s.rec(t, 'forgotten');
    },
  ],
  ['processing>erred', (s, t, arg) => (s.stopProcessing(t), toErred(s, t, arg))],
  ['waiting>erred', (s, t, arg) => toErred(s, t, arg)],
  ['queued>erred', (s, t, arg) => (s.dequeue(t), toErred(s, t, arg))],
  ['no-worker>erred', (s, t, arg) => (s.noWorker.delete(t), toErred(s, t, arg))],
  ['released>erred', (s, t, arg) => toErred(s, t, arg)],
  [
    'released>forgotten',
    (s, t) => forget(s, t),
  ],
  ['erred>forgotten', (s, t) => forget(s, t)],
]);

function forget(s: SchedulerState, t: TaskRecord): void {
  t.state = 'forgotten';
  s.tasks.delete(t.key);
  for (const d of t.deps) {
    if (!d.dependents) continue;
    d.dependents.delete(t);
    if (d.dependents.size === 0) d.dependents = null;
    if ((d.state === 'released' || d.state === 'erred') && s.canForget(d)) s.rec(d, 'forgotten');
    else if (d.state === 'memory' && !s.isNeeded(d)) s.rec(d, 'released');
  }
  t.deps = EMPTY;
  t.run = undefined;
}

/** The same table keyed by state, then target (no string building per transition). */
const BY_STATE: Partial<Record<TaskStateName, Partial<Record<TaskStateName, TransitionFn>>>> = {};
for (const [pair, fn] of TABLE) {
  const [from, to] = pair.split('>') as [TaskStateName, TaskStateName];
  (BY_STATE[from] ??= {})[to] = fn;
}

/** The allowed transitions, for documentation and tests. */
export const TRANSITIONS: readonly string[] = [...TABLE.keys()];

/** Functional form: `handle(state, events, now) → instructions`. */
export function handle(state: SchedulerState, events: readonly SchedulerEvent[], now: number): SchedulerInstruction[] {
  return state.handle(events, now);
}
