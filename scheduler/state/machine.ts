import { own } from '../../shared/core/own.ts';
import { TransitionLog, type TransitionLogEntry } from '../../shared/engine/transition-log.ts';
import { InvalidTransitionError, TransitionLimitError } from '../errors.ts';
import { adaptiveOf, workersInService } from './adaptive.ts';
import { clientRecord, releaseWants, updateGraph } from './clients.ts';
import { anyWorkerSatisfies, noWorkerError, pickConstrained, pickForDeps, satisfies, type PlacementCosts } from './placement.ts';
import { TaskQueue } from './queue.ts';
import { expireUnclaimed, registerHeldData } from './reconnect.ts';
import { ClientRecord, TaskRecord, WorkerRecord, keyPrefix } from './records.ts';
import { retirementsOf } from './retire.ts';
import { STEAL_LATENCY_MS, balance, clearSteal, reestimate, stealResponse } from './stealing.ts';
import { BY_STATE, TRANSITIONS, shufflesOf, type Arg, type Target } from './transitions.ts';
import { addWorker, removeWorker } from './workers.ts';
import {
  DEFAULT_SCHEDULER_OPTIONS,
  type ClientReport,
  type SchedulerEvent,
  type SchedulerInstruction,
  type SchedulerOptions,
  type TaskErrorInfo,
  type TaskStateName,
} from './types.ts';

/**
 * The scheduler's pure state machine (modelled on Dask's scheduler
 * transitions). `handle(events, now)` applies a batch of events and returns
 * the instructions for the shell; nothing here does I/O or reads a clock
 * (`now` is the shell's injected clock, and stamps the transition log).
 *
 * Task life: released → waiting (on dependencies) → queued (ready, on the
 * scheduler) or no-worker (no worker offers its resources) → processing (on a
 * worker) → memory (held by ≥ 1 worker) or erred; released again once no
 * client and no pending dependent needs it, forgotten once nothing refers to it.
 * Every change goes through `transition`, which looks the pair up in the table
 * (transitions.ts) and records it with its stimulus id in the transition log.
 */

export { ClientRecord, TaskRecord, WorkerRecord, keyPrefix, satisfies, TRANSITIONS };

const PENDING: ReadonlySet<TaskStateName> = new Set(['waiting', 'queued', 'no-worker', 'processing']);

export class SchedulerState {
  readonly options: SchedulerOptions;
  /** What placement weighs (placement.ts `pickForDeps`), fixed with the options. */
  private readonly placementCosts: PlacementCosts;
  readonly tasks = new Map<string, TaskRecord>();
  readonly workers = new Map<string, WorkerRecord>();
  readonly clients = new Map<string, ClientRecord>();
  /** Workers that can take another task now. */
  readonly idle = new Set<WorkerRecord>();
  readonly queue = new TaskQueue();
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
  /** The last `options.transitionLogSize` state changes, for `story(key)`. */
  readonly log: TransitionLog;
  /** Submission counter and the highest priority handed out so far (clients.ts). @internal */
  seq = 0;
  /** @internal */ servedPrio = 0;
  /** Number of the current `handle` call. @internal */
  step = 0;
  private out: SchedulerInstruction[] = [];
  /** Computes of this step taken back before they left (key → worker id), see `retract`. */
  private retracted: Map<string, string> | null = null;
  private recs: Array<[TaskRecord, Target, Arg]> = [];
  /** Transition budget of the current `handle` call. */
  private limit = 0;
  private stimulusId = '';
  private now = 0;
  /** Round-robin position over idle workers (reset when the worker set changes). @internal */
  rr: Iterator<WorkerRecord> | null = null;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.options = { ...DEFAULT_SCHEDULER_OPTIONS, ...options };
    this.placementCosts = { bandwidthBytesPerMs: this.options.bandwidthBytesPerMs, fetchLatencyMs: STEAL_LATENCY_MS, tinyInputBytes: this.options.tinyInputBytes };
    this.log = new TransitionLog(this.options.transitionLogSize);
  }

  /**
   * The held state changes of `key`, oldest first, each with its stimulus id
   * and the time of the `handle` call that made it.
   */
  story(key: string): TransitionLogEntry[] {
    return this.log.story(key);
  }

  /** Tasks on workers, waiting to be placed, and results held (replicas counted once per worker). */
  taskCounts(): { processing: number; queued: number; inMemory: number } {
    let processing = 0;
    let inMemory = 0;
    for (const w of this.workers.values()) {
      processing += w.processing.size;
      inMemory += w.has.size;
    }
    let queued = this.constrained.size + this.readyDeps.size + this.noWorker.size;
    for (const t of this.queue.values()) if (t.state === 'queued' && t.inHeap) queued++;
    return { processing, queued, inMemory };
  }

  /** Apply events in order; returns every instruction they cause. */
  handle(events: readonly SchedulerEvent[], now: number): SchedulerInstruction[] {
    this.now = now;
    this.out = [];
    this.step++;
    const limit = this.transitionCount + this.options.maxTransitions;
    this.limit = limit;
    for (const ev of events) {
      this.stimulusId = ev.stimulusId;
      this.apply(ev);
      this.drain(limit);
    }
    this.schedule();
    if (balance(this) > 0) this.drain(limit); // work stealing (stealing.ts)
    const book = retirementsOf(this);
    if (book.size > 0) {
      // Graceful retirement (retire.ts): replicas asked for, finished retirements reported.
      for (const w of book.progress()) {
        const workers = adaptiveOf(this)?.retired(this) ?? workersInService(this).length;
        this.emit({ type: 'retire-worker', workerId: w.id, name: w.name, workers, stimulusId: this.stimulusId });
      }
    }
    let out = this.out;
    this.out = [];
    const retracted = this.retracted;
    if (retracted) {
      this.retracted = null;
      out = out.filter((i) => i.type !== 'compute' || retracted.get(i.key) !== i.workerId);
    }
    return out;
  }

  /**
   * Take back the computes of `t` for `w` emitted in this step (it moved
   * elsewhere before they left: the worker never hears of it). @internal
   */
  retract(t: TaskRecord, w: WorkerRecord): void {
    (this.retracted ??= new Map()).set(t.key, w.id);
  }

  // ---------------------------------------------------------------- events

  private apply(ev: SchedulerEvent): void {
    switch (ev.type) {
      case 'add-worker':
        return addWorker(this, ev.workerId, ev.name, ev.nthreads, ev.resources);
      case 'remove-worker':
        return removeWorker(this, ev.workerId);
      case 'worker-status': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        w.status = ev.status;
        this.updateIdle(w);
        return;
      }
      case 'task-queue': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        // Only tasks still processing there: a report can cross a steal or a release on the wire.
        for (const key of ev.queued) {
          const t = this.tasks.get(key);
          if (t && t.processingOn === w) t.queuedOnWorker = true;
        }
        for (const key of ev.started) {
          const t = this.tasks.get(key);
          if (t && t.processingOn === w) t.queuedOnWorker = false;
        }
        return;
      }
      case 'add-client':
        clientRecord(this, ev.clientId);
        return;
      case 'remove-client': {
        const c = this.clients.get(ev.clientId);
        if (!c) return;
        releaseWants(this, c, [...c.wants].map((t) => t.key), false);
        this.clients.delete(ev.clientId);
        return;
      }
      case 'update-graph':
        return updateGraph(this, ev.clientId, ev.tasks, ev.wants);
      case 'client-releases': {
        const c = this.clients.get(ev.clientId);
        if (c) releaseWants(this, c, ev.keys, false);
        return;
      }
      case 'cancel': {
        const c = this.clients.get(ev.clientId);
        if (c) releaseWants(this, c, ev.keys, true);
        return;
      }
      case 'task-finished': {
        const w = this.workers.get(ev.workerId);
        if (w) this.finished(w, ev.key, ev.nbytes, ev.durationMs);
        return;
      }
      case 'tasks-finished': {
        const w = this.workers.get(ev.workerId);
        if (!w) return;
        const { keys, nbytes, durationsMs } = ev;
        for (let i = 0; i < keys.length; i++) {
          const d = durationsMs[i] as number;
          this.finished(w, keys[i] as string, nbytes[i] as number, d >= 0 ? d : undefined);
          // As if each key were its own event.
          this.drain(this.limit);
        }
        return;
      }
      case 'task-erred': {
        const w = this.workers.get(ev.workerId);
        const t = this.tasks.get(ev.key);
        if (!w || !t || t.state !== 'processing' || t.processingOn !== w || shufflesOf(this).erred(t, ev.error)) return;
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
      case 'steal-response': {
        // The victim of a steal answered (stealing.ts).
        const w = this.workers.get(ev.workerId);
        if (w) stealResponse(this, w, ev.keys, ev.states);
        return;
      }
      case 'worker-held-data': // a returning worker's results (reconnect.ts)
        return registerHeldData(this, ev.workerId, ev.keys, ev.nbytes);
      case 'tick':
        expireUnclaimed(this);
        return this.checkNoWorker();
      case 'adapt':
        adaptiveOf(this)?.adapt(this);
        return;
      case 'retire-workers':
        for (const id of ev.workerIds) {
          const w = this.workers.get(id);
          if (w) retirementsOf(this).start(w);
        }
        return;
    }
  }

  private finished(w: WorkerRecord, key: string, nbytes: number, durationMs: number | undefined): void {
    const t = this.tasks.get(key);
    if (t && t.state === 'memory' && retirementsOf(this).replicaStored(w, t)) return;
    if (!t || t.state !== 'processing' || t.processingOn !== w) {
      // A late or duplicate result (the task was cancelled or moved): the worker drops it.
      this.emit({ type: 'free-keys', workerId: w.id, keys: [key], stimulusId: this.stimulusId });
      return;
    }
    this.transition(t, 'memory', { worker: w, nbytes, durationMs });
  }

  private checkNoWorker(): void {
    const timeout = this.options.noWorkerTimeoutMs;
    if (timeout === undefined) return;
    for (const t of this.noWorker) {
      if (this.now - t.noWorkerSince >= timeout) this.rec(t, 'erred', { error: noWorkerError(t, this.workers.values(), timeout) });
    }
  }

  // ----------------------------------------------------------- transitions

  /** Apply queued transitions in order. @internal */
  drain(limit: number): void {
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

  /** The one place a task changes state: looks the pair up in the table and logs the change. */
  private transition(t: TaskRecord, target: Target, arg: Arg = {}): void {
    const to: TaskStateName = target === 'ready' ? this.readyState(t) : target;
    const from = t.state;
    if (from === to) return;
    const fn = BY_STATE[from]?.[to];
    if (fn) {
      this.transitionCount++;
      fn(this, t, arg);
      this.log.record(t.key, from, to, this.stimulusId, this.now);
      return;
    }
    // Two steps through released (e.g. processing → released → waiting).
    const a = BY_STATE[from]?.released;
    const b = BY_STATE.released?.[to];
    if (a && b) {
      this.transitionCount += 2;
      a(this, t, { ...arg, viaReleased: true });
      this.log.record(t.key, from, 'released', this.stimulusId, this.now);
      if (t.state === 'released') {
        b(this, t, arg);
        this.log.record(t.key, 'released', to, this.stimulusId, this.now);
      }
      return;
    }
    throw new InvalidTransitionError(t.key, from, to, this.log.story(t.key));
  }

  private readyState(t: TaskRecord): TaskStateName {
    if (!t.resources) return 'queued';
    return anyWorkerSatisfies(this.workers.values(), t.resources) ? 'queued' : 'no-worker';
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

  /** Queue a transition; `drain` applies queued ones in order. @internal */ rec(t: TaskRecord, to: Target, arg: Arg = {}): void {
    this.recs.push([t, to, arg]);
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
    clearSteal(t);
    t.started = false;
    t.queuedOnWorker = false;
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

  /** Per prefix, the estimate its processing tasks were last given (`reestimate` in stealing.ts). */
  readonly estimatedAs = new Map<string, number>();

  /** @internal */ observeDuration(prefix: string, ms: number): void {
    const avg = this.durations.get(prefix);
    const next = avg === undefined || ms > avg ? ms : avg * 0.9 + ms * 0.1;
    this.durations.set(prefix, next);
    reestimate(this, prefix, next);
  }

  /** @internal */ estimate(t: TaskRecord): number {
    return this.durations.get(t.prefix) ?? this.options.unknownTaskMs;
  }

  /** @internal */ hasRoom(w: WorkerRecord): boolean {
    const n = w.processing.size;
    return n < Math.ceil(w.nthreads * this.options.workerSaturation) || (n < this.options.maxSlots && w.occupancy < this.options.pipelineMs * w.nthreads);
  }

  /** @internal */ updateIdle(w: WorkerRecord): void {
    if (!w.removed && !w.retiring && w.status === 'running' && this.hasRoom(w)) this.idle.add(w);
    else this.idle.delete(w);
  }

  /** @internal */ releaseUnneededDeps(t: TaskRecord): void {
    for (const d of t.deps) {
      if ((d.state === 'memory' || PENDING.has(d.state)) && !this.isNeeded(d)) this.rec(d, 'released');
    }
  }

  /** @internal */ errDependents(t: TaskRecord, error: TaskErrorInfo): void {
    if (!t.dependents) return;
    for (const d of t.dependents) {
      if (PENDING.has(d.state) || d.state === 'released') {
        if (d.state === 'released' && !this.isNeeded(d)) continue;
        this.rec(d, 'erred', { error: { ...error, blame: error.blame ?? t.key } });
      }
    }
  }

  // ------------------------------------------------------------ placement

  private schedule(): void {
    for (const t of this.readyDeps) {
      const w = shufflesOf(this).pinned(t) ?? pickForDeps(t, this.workers.values(), this.placementCosts);
      if (!w) break;
      this.assign(t, w);
    }
    if (this.idle.size === 0) return;
    if (this.constrained.size > 0) {
      for (const t of [...this.constrained]) {
        const w = pickConstrained(t, this.idle);
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

  private assign(t: TaskRecord, w: WorkerRecord): void {
    this.transition(t, 'processing', { worker: w });
  }
}

/** Functional form: `handle(state, events, now) → instructions`. */
export function handle(state: SchedulerState, events: readonly SchedulerEvent[], now: number): SchedulerInstruction[] {
  return state.handle(events, now);
}
