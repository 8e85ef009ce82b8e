import { systemClock } from '../../shared/core/clock.ts';
import { InOrderQueue } from '../../shared/core/heap.ts';
import { DEFAULT_TRANSITION_LOG_SIZE, TransitionLog, type TransitionLogEntry } from '../../shared/engine/transition-log.ts';
import { InvalidWorkerTransitionError } from '../errors.ts';
import type { DepSpec, SchedulerMessage, TaskErrorInfo, WorkerEvent, WorkerInstruction, WorkerStateOptions, WorkerTaskStateName } from './types.ts';

/**
 * The worker's pure state machine (modelled on Dask's worker_state_machine). Events in, instructions out; the
 * shell (worker/pump.ts) runs tasks in threads, talks to peers and holds the data.
 *
 * A task the scheduler asked for is `owned`; it goes waiting (dependencies missing) → ready → executing →
 * memory. Dependencies held elsewhere go fetch → flight → memory as replicas, which are dropped once no local
 * task needs them. Results of owned tasks stay until the scheduler frees them. A record starts `released` and
 * leaves it in the same step. Every state change goes through `transition`, which looks the pair up in TABLE
 * and records it with its stimulus id in the transition log.
 */

/**
 * Shared empty lists: most tasks have no dependencies and are no replicas, and two fresh arrays per task were
 * garbage on the no-op hot path. Never mutated: `attachDeps` gives a task its own list before the first push,
 * and `who` is only ever replaced.
 */
const NO_TASKS: readonly WorkerTask[] = [];
const NO_PEERS: readonly string[] = [];
const NO_KEYS: readonly string[] = [];

export class WorkerTask {
  state: WorkerTaskStateName = 'released';
  run: unknown = undefined;
  priority = 0;
  owned = false;
  deps: WorkerTask[] = NO_TASKS as WorkerTask[];
  dependents: Set<WorkerTask> | null = null;
  waitingOn = 0;
  who: string[] = NO_PEERS as string[];
  nbytes = 0;
  inReady = false;
  constructor(readonly key: string) {}
}

type Fn = (s: WorkerState, t: WorkerTask) => void;

export class WorkerState {
  readonly options: WorkerStateOptions;
  readonly tasks = new Map<string, WorkerTask>();
  readonly executing = new Set<WorkerTask>();
  readonly fetching = new Set<WorkerTask>();
  /** Peers with a gather in flight → keys requested. */
  readonly inFlight = new Map<string, Set<WorkerTask>>();
  paused = false;
  transitionCount = 0;
  /** The last `options.transitionLogSize` state changes, for `story(key)`. */
  readonly log: TransitionLog;
  /** Ready tasks, lowest priority number first; entries that left `ready` are skipped when popped. */
  readonly ready = new InOrderQueue<WorkerTask>((x, y) => x.priority < y.priority);
  private out: WorkerInstruction[] = [];
  private stimulusId = '';
  private now = 0;

  constructor(options: Partial<WorkerStateOptions> & { nthreads: number }) {
    this.options = {
      maxGathers: 8,
      gatherBatchBytes: 64 * 1024 * 1024,
      maxExecuting: options.nthreads,
      transitionLogSize: DEFAULT_TRANSITION_LOG_SIZE,
      clock: systemClock,
      ...options,
    };
    this.log = new TransitionLog(this.options.transitionLogSize);
  }

  handle(events: readonly WorkerEvent[]): WorkerInstruction[] {
    this.out = [];
    this.now = this.options.clock.now();
    for (const ev of events) {
      this.stimulusId = ev.stimulusId;
      this.apply(ev);
    }
    this.ensureFetching();
    this.ensureExecuting();
    const out = this.out;
    this.out = [];
    return out;
  }

  /** The held state changes of `key`, oldest first, each with its stimulus id and time. */
  story(key: string): TransitionLogEntry[] {
    return this.log.story(key);
  }

  get readyCount(): number {
    let n = 0;
    for (const t of this.ready.values()) if (t.state === 'ready') n++;
    return n;
  }

  private apply(ev: WorkerEvent): void {
    switch (ev.type) {
      case 'compute-task':
        return this.computeTask(ev.key, ev.run, ev.priority, ev.deps);
      case 'free-keys':
        for (const key of ev.keys) this.freeKey(key);
        return;
      case 'acquire-replicas':
        for (const spec of ev.keys) this.acquireReplica(spec);
        return;
      case 'steal-request':
        return this.stealRequest(ev.key, ev.dequeued);
      case 'execute-success': {
        const t = this.tasks.get(ev.key);
        if (!t) return;
        t.nbytes = ev.nbytes;
        if (t.state === 'executing') {
          this.transition(t, 'memory');
          this.send({ op: 'task-finished', key: t.key, nbytes: t.nbytes });
        } else if (t.state === 'cancelled') {
          // A discarded run whose result a local task has come to need since (it was computed again elsewhere): keep it as a replica.
          if (t.dependents && t.dependents.size > 0) return this.transition(t, 'memory');
          this.emit({ type: 'release-data', key: t.key, stimulusId: this.stimulusId });
          this.transition(t, 'forgotten');
        }
        return;
      }
      case 'execute-failure': {
        const t = this.tasks.get(ev.key);
        if (!t || (t.state !== 'executing' && t.state !== 'cancelled')) return;
        const owned = t.state === 'executing';
        if (owned) this.send({ op: 'task-erred', key: t.key, error: ev.error });
        t.owned = false;
        if (t.dependents && t.dependents.size > 0) {
          // Local tasks wait on it. A discarded run's input is fetched from where it was computed since;
          // an owned one failed for good: the scheduler errs and frees its dependents.
          this.transition(t, owned ? 'missing' : 'fetch');
        } else {
          this.transition(t, 'forgotten');
        }
        return;
      }
      case 'gather-dep-done':
        return this.gatherDone(ev.peer, ev.received, ev.missing);
      case 'gather-dep-failed':
        return this.gatherDone(ev.peer, [], ev.keys);
      case 'pause':
        this.paused = true;
        return;
      case 'unpause':
        this.paused = false;
        return;
    }
  }

  private computeTask(key: string, run: unknown, priority: number, deps: readonly DepSpec[]): void {
    let t = this.tasks.get(key);
    if (t) {
      t.owned = true;
      t.run = run;
      t.priority = priority;
      if (t.state === 'memory') this.send({ op: 'task-finished', key, nbytes: t.nbytes });
      else if (t.state === 'cancelled') this.transition(t, 'executing');
      else if (t.state === 'fetch' || t.state === 'missing') this.attachDeps(t, deps);
      // flight: the copy on its way becomes ours and is reported on arrival.
      return;
    }
    t = new WorkerTask(key);
    t.owned = true;
    t.run = run;
    t.priority = priority;
    this.tasks.set(key, t);
    this.attachDeps(t, deps);
  }

  /**
   * Hold a copy of a result another worker has (it retires): fetched like a
   * dependency but owned, so it is kept without a local dependent and
   * reported as finished on arrival. One already here is reported at once.
   */
  private acquireReplica(spec: DepSpec): void {
    let d = this.tasks.get(spec.key);
    if (d && d.state === 'memory') {
      d.owned = true;
      this.send({ op: 'task-finished', key: d.key, nbytes: d.nbytes });
      return;
    }
    if (d && d.state !== 'fetch' && d.state !== 'flight' && d.state !== 'missing') return; // computed here: reported when done
    if (!d) {
      d = new WorkerTask(spec.key);
      this.tasks.set(spec.key, d);
      d.owned = true;
      d.who = [...spec.who];
      d.nbytes = spec.nbytes;
      this.transition(d, 'fetch');
      return;
    }
    d.owned = true;
    if (d.state !== 'flight') {
      d.who = [...spec.who];
      d.nbytes = spec.nbytes;
      if (d.state === 'missing') this.transition(d, 'fetch');
    }
  }

  /**
   * Give a task up to another worker only if it has not started here: it
   * waits for inputs, is ready, or was handed to the thread pool and taken
   * off its queue again by the shell (`dequeued`). Anything else (running,
   * done, a replica on its way) stays, and the scheduler keeps it here, so a
   * stolen task never runs twice. The answer says which (scheduler/state/stealing.ts).
   */
  private stealRequest(key: string, dequeued: boolean): void {
    const t = this.tasks.get(key);
    // Not ours (unknown, or a replica): nothing of the scheduler's runs here.
    if (!t || !t.owned) return this.send({ op: 'steal-response', key, state: 'released' });
    if (t.state === 'waiting' || t.state === 'ready' || (t.state === 'executing' && dequeued)) {
      t.owned = false;
      // Local tasks that wait on it fetch it from the thief instead.
      this.transition(t, t.dependents && t.dependents.size > 0 ? 'fetch' : 'forgotten');
      return this.send({ op: 'steal-response', key, state: 'released' });
    }
    this.send({ op: 'steal-response', key, state: t.state });
  }

  private attachDeps(t: WorkerTask, deps: readonly DepSpec[]): void {
    this.transition(t, 'waiting');
    for (const spec of deps) {
      let d = this.tasks.get(spec.key);
      if (!d) {
        d = new WorkerTask(spec.key);
        this.tasks.set(spec.key, d);
        this.transition(d, 'fetch');
      }
      if (d.state === 'fetch' || d.state === 'missing' || d.state === 'flight' || d.state === 'cancelled') {
        d.who = [...spec.who];
        d.nbytes = spec.nbytes;
        if (d.state === 'missing') this.transition(d, 'fetch');
      }
      if (!t.deps.includes(d)) {
        if (t.deps === NO_TASKS) t.deps = [];
        t.deps.push(d);
        (d.dependents ??= new Set()).add(t);
        if (d.state !== 'memory') t.waitingOn++;
      }
    }
    if (t.waitingOn === 0) this.transition(t, 'ready');
  }

  private freeKey(key: string): void {
    const t = this.tasks.get(key);
    if (!t) return;
    t.owned = false;
    switch (t.state) {
      case 'executing':
        this.transition(t, 'cancelled');
        return;
      case 'memory':
        if (!t.dependents || t.dependents.size === 0) {
          this.emit({ type: 'release-data', key, stimulusId: this.stimulusId });
          this.transition(t, 'forgotten');
        }
        return;
      case 'waiting':
      case 'ready':
        // Local tasks that wait on it fetch it instead (or report it missing), no longer run it here.
        this.transition(t, t.dependents && t.dependents.size > 0 ? 'fetch' : 'forgotten');
        return;
      default:
        // fetch/flight/missing/cancelled: a replica or a discarded run; nothing owned to drop.
        return;
    }
  }

  private gatherDone(peer: string, received: ReadonlyArray<[string, number]>, missing: readonly string[]): void {
    const asked = this.inFlight.get(peer);
    this.inFlight.delete(peer);
    for (const [key, nbytes] of received) {
      const d = this.tasks.get(key);
      if (!d || d.state !== 'flight') {
        if (!d || d.state !== 'memory') this.emit({ type: 'release-data', key, stimulusId: this.stimulusId });
        continue;
      }
      d.nbytes = nbytes;
      const owned = d.owned;
      this.transition(d, 'memory');
      if (owned) this.send({ op: 'task-finished', key, nbytes });
    }
    const missingSet = new Set(missing);
    if (asked) for (const d of asked) if (d.state === 'flight' && !received.some(([k]) => k === d.key)) missingSet.add(d.key);
    for (const key of missingSet) {
      const d = this.tasks.get(key);
      if (!d || d.state !== 'flight') continue;
      d.who = d.who.filter((p) => p !== peer);
      if (!d.dependents || d.dependents.size === 0) {
        this.transition(d, 'forgotten');
      } else if (d.who.length > 0) {
        this.transition(d, 'fetch');
      } else {
        this.transition(d, 'missing');
        for (const t of d.dependents) this.send({ op: 'missing-data', key: t.key, dep: d.key, from: peer });
      }
    }
  }

  private ensureFetching(): void {
    if (this.fetching.size === 0) return;
    const batches = new Map<string, WorkerTask[]>();
    const bytes = new Map<string, number>();
    for (const d of [...this.fetching]) {
      if ((!d.dependents || d.dependents.size === 0) && !d.owned) {
        this.transition(d, 'forgotten');
        continue;
      }
      let peer: string | undefined;
      for (const p of d.who) {
        if (this.inFlight.has(p)) continue;
        if (batches.has(p)) {
          peer = p;
          break;
        }
        if (this.inFlight.size + batches.size < this.options.maxGathers) {
          peer = p;
          break;
        }
      }
      if (!peer) {
        if (d.who.length === 0) {
          // An owned replica nobody here needs is given up (the scheduler asks again elsewhere).
          if (!d.dependents || d.dependents.size === 0) {
            this.transition(d, 'forgotten');
            continue;
          }
          this.transition(d, 'missing');
          for (const t of d.dependents) this.send({ op: 'missing-data', key: t.key, dep: d.key, from: '' });
        }
        continue;
      }
      const b = bytes.get(peer) ?? 0;
      if (b > 0 && b + d.nbytes > this.options.gatherBatchBytes) continue;
      bytes.set(peer, b + d.nbytes);
      let list = batches.get(peer);
      if (!list) batches.set(peer, (list = []));
      list.push(d);
    }
    for (const [peer, list] of batches) {
      this.inFlight.set(peer, new Set(list));
      for (const d of list) this.transition(d, 'flight');
      this.emit({ type: 'gather-dep', peer, keys: list.map((d) => d.key), stimulusId: this.stimulusId });
    }
  }

  private ensureExecuting(): void {
    while (!this.paused && this.executing.size < this.options.maxExecuting && this.ready.size > 0) {
      const t = this.ready.pop() as WorkerTask;
      t.inReady = false;
      if (t.state !== 'ready') continue;
      this.transition(t, 'executing');
      this.emit({ type: 'execute', key: t.key, run: t.run, deps: t.deps.length === 0 ? (NO_KEYS as string[]) : t.deps.map((d) => d.key), priority: t.priority, stimulusId: this.stimulusId });
    }
  }

  // ------------------------------------------------------------------ table

  /**
   * The one place a task changes state. The change is logged before the
   * table's function runs, so changes it causes in turn (a replica that
   * arrives unneeded is forgotten at once) come after it in the story.
   */
  /** @internal */ transition(t: WorkerTask, to: WorkerTaskStateName): void {
    const from = t.state;
    const fn = BY_STATE[from]?.[to];
    if (!fn) throw new InvalidWorkerTransitionError(t.key, from, to, this.log.story(t.key));
    this.transitionCount++;
    this.log.record(t.key, from, to, this.stimulusId, this.now);
    fn(this, t);
  }

  /** @internal */ pushReady(t: WorkerTask): void {
    if (t.inReady) return;
    t.inReady = true;
    this.ready.push(t);
  }

  /** @internal */ send(msg: SchedulerMessage): void {
    this.out.push({ type: 'send', msg, stimulusId: this.stimulusId });
  }

  /** @internal */ emit(i: WorkerInstruction): void {
    this.out.push(i);
  }

  /** @internal */ stimulus(): string {
    return this.stimulusId;
  }

  /** A dependent no longer needs `d`: drop the local replica if nothing else does. */
  /** @internal */ unref(d: WorkerTask, t: WorkerTask): void {
    if (!d.dependents) return;
    d.dependents.delete(t);
    if (d.dependents.size > 0 || d.owned) return;
    d.dependents = null;
    if (d.state === 'memory') {
      this.emit({ type: 'release-data', key: d.key, stimulusId: this.stimulusId });
      this.transition(d, 'forgotten');
    } else if (d.state === 'fetch' || d.state === 'missing') {
      this.transition(d, 'forgotten');
    }
    // flight: released when the gather returns (the record stays until then).
  }
}

/** An owned task is computed here: it waits for the dependencies `attachDeps` links next. */
const toWaiting: Fn = (s, t) => {
  s.fetching.delete(t);
  t.state = 'waiting';
  t.waitingOn = 0;
};

const toFetch: Fn = (s, t) => {
  t.state = 'fetch';
  s.fetching.add(t);
};

/** Drop a task record and the local replicas only it needed. */
const forget: Fn = (s, t) => {
  s.tasks.delete(t.key);
  s.fetching.delete(t);
  s.executing.delete(t);
  t.state = 'forgotten';
  for (const d of t.deps) s.unref(d, t);
  t.deps = NO_TASKS as WorkerTask[];
};

const TABLE = new Map<string, Fn>([
  ['released>waiting', toWaiting],
  ['fetch>waiting', toWaiting],
  ['missing>waiting', toWaiting],
  ['released>fetch', toFetch],
  ['missing>fetch', toFetch],
  ['flight>fetch', toFetch],
  ['fetch>missing', (s, t) => (s.fetching.delete(t), (t.state = 'missing'))],
  ['flight>missing', (_s, t) => (t.state = 'missing')],
  ['waiting>ready', (s, t) => ((t.state = 'ready'), s.pushReady(t))],
  ['ready>executing', (s, t) => ((t.state = 'executing'), s.executing.add(t))],
  ['executing>cancelled', (_s, t) => (t.state = 'cancelled')],
  ['cancelled>executing', (_s, t) => (t.state = 'executing')],
  ['executing>memory', (s, t) => ranToMemory(s, t)],
  ['cancelled>memory', (s, t) => ranToMemory(s, t)],
  ['cancelled>fetch', (s, t) => (dropRun(s, t), toFetch(s, t))],
  // Stolen before a thread started it (the shell took it off the pool's queue).
  ['executing>fetch', (s, t) => (dropRun(s, t), toFetch(s, t))],
  ['waiting>fetch', (s, t) => (dropRun(s, t), toFetch(s, t))],
  ['ready>fetch', (s, t) => (dropRun(s, t), toFetch(s, t))],
  ['executing>missing', (s, t) => (dropRun(s, t), (t.state = 'missing'))],
  ['fetch>flight', (s, t) => (s.fetching.delete(t), (t.state = 'flight'))],
  ['flight>memory', (s, t) => inMemory(s, t)],
  ...(['waiting', 'ready', 'executing', 'cancelled', 'memory', 'fetch', 'flight', 'missing'] as const).map((from) => [`${from}>forgotten`, forget] as [string, Fn]),
]);

/** A run is over (or will not happen): its inputs are no longer needed by it. */
function dropRun(s: WorkerState, t: WorkerTask): void {
  s.executing.delete(t);
  for (const d of t.deps) s.unref(d, t);
  t.deps = NO_TASKS as WorkerTask[];
  t.run = undefined;
}

function ranToMemory(s: WorkerState, t: WorkerTask): void {
  s.executing.delete(t);
  inMemory(s, t);
  if (t.state !== 'forgotten') dropRun(s, t);
}

function inMemory(s: WorkerState, t: WorkerTask): void {
  t.state = 'memory';
  if (t.dependents) {
    for (const d of t.dependents) {
      if (d.state === 'waiting' && --d.waitingOn === 0) s.transition(d, 'ready');
    }
  }
  if (!t.owned && (!t.dependents || t.dependents.size === 0)) {
    s.emit({ type: 'release-data', key: t.key, stimulusId: s.stimulus() });
    s.transition(t, 'forgotten');
  }
}

/** The table keyed by state, then target (no string building per transition). */
const BY_STATE: Partial<Record<WorkerTaskStateName, Partial<Record<WorkerTaskStateName, Fn>>>> = {};
for (const [pair, fn] of TABLE) {
  const [from, to] = pair.split('>') as [WorkerTaskStateName, WorkerTaskStateName];
  (BY_STATE[from] ??= {})[to] = fn;
}

/** The allowed transitions as `from>to`, for documentation and tests. */
export const WORKER_TRANSITIONS: readonly string[] = [...TABLE.keys()];

export function handleWorker(state: WorkerState, events: readonly WorkerEvent[]): WorkerInstruction[] {
  return state.handle(events);
}

export type { TaskErrorInfo };
