import { SHUFFLE_INCOMPLETE, type ShuffleAssignment, type ShuffleTaskInfo } from '../../shared/shuffle/types.ts';
import { TransitionLog, type TransitionLogEntry } from '../../shared/engine/transition-log.ts';
import { InvalidShuffleTransitionError } from '../errors.ts';
import type { SchedulerState } from './machine.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';
import type { TaskErrorInfo } from './types.ts';

/**
 * The shuffle barrier as explicit states (Dask's P2P shuffle extension, as a
 * pure machine beside the task machine). A shuffle's tasks are ordinary
 * tasks; this book only tracks the run they belong to:
 *
 *   waiting ─first transfer sent─▶ transferring ─barrier sent─▶ barrier
 *      ▲                                                           │ barrier in memory
 *      │ restart (a participant died, an unpack found shards      ▼
 *      │ missing): new run, old run forgotten on the workers   unpacking ─all outputs in memory─▶ done
 *      └────────────────────────────────────────────────────────────┘                                │
 *   done ─an output was lost, its transfers run again─▶ transferring  ◀───────────────────────────────┘
 *   any ─more than maxRestarts restarts─▶ failed (the unpacks err; never partial data)
 *
 * Every change goes through `transition` (one table, logged with its
 * stimulus id). Instructions leave through the task machine: `shuffle-forget`
 * to workers and `shuffle-progress` reports to clients.
 */

export type ShuffleStateName = 'waiting' | 'transferring' | 'barrier' | 'unpacking' | 'done' | 'failed';

const TABLE: ReadonlySet<string> = new Set([
  'waiting>transferring',
  'transferring>barrier',
  'barrier>unpacking',
  'unpacking>done',
  'done>transferring',
  // An output submitted again after done found its shards forgotten.
  'done>waiting',
  'done>failed',
  // Restarts.
  'transferring>waiting',
  'barrier>waiting',
  'unpacking>waiting',
  // Giving up.
  'waiting>failed',
  'transferring>failed',
  'barrier>failed',
  'unpacking>failed',
]);

export const SHUFFLE_TRANSITIONS: readonly string[] = [...TABLE];

/** A shuffle restarts at most this many times before its outputs err. */
export const DEFAULT_MAX_SHUFFLE_RESTARTS = 5;

export class ShuffleRecord {
  state: ShuffleStateName = 'waiting';
  /** Increases with every (re)start; workers keep shards per run. */
  run = 0;
  /** Worker ids receiving outputs in the current run, sorted. */
  participants: string[] = [];
  restarts = 0;
  barrier: TaskRecord | null = null;
  constructor(readonly id: string) {}
}

const ACTIVE: ReadonlySet<ShuffleStateName> = new Set(['transferring', 'barrier', 'unpacking']);

export class ShuffleBook {
  readonly shuffles = new Map<string, ShuffleRecord>();
  readonly log = new TransitionLog(10_000);
  transitionCount = 0;
  /**
   * The last run number given to any shuffle. Runs come from this one counter, not from each record: a record
   * goes when its barrier is forgotten, and the same graph computed again has the same shuffle id, which the
   * workers still remember as forgotten up to its old run (worker/shuffle-buffer.ts refuses those shards).
   */
  private lastRun: number;

  constructor(
    private readonly s: SchedulerState,
    readonly maxRestarts = DEFAULT_MAX_SHUFFLE_RESTARTS,
  ) {
    this.lastRun = s.options.firstShuffleRun;
  }

  /** The held state changes of shuffle `id`, oldest first. */
  story(id: string): TransitionLogEntry[] {
    return this.log.story(id);
  }

  private record(info: ShuffleTaskInfo): ShuffleRecord {
    let sh = this.shuffles.get(info.id);
    if (!sh) this.shuffles.set(info.id, (sh = new ShuffleRecord(info.id)));
    return sh;
  }

  private transition(sh: ShuffleRecord, to: ShuffleStateName): void {
    const from = sh.state;
    if (from === to) return;
    if (!TABLE.has(`${from}>${to}`)) throw new InvalidShuffleTransitionError(sh.id, from, to, this.log.story(sh.id));
    sh.state = to;
    this.transitionCount++;
    this.log.record(sh.id, from, to, this.s.stimulus, this.s.clock);
  }

  /**
   * A shuffle task is being sent to a worker: what the worker must know
   * (undefined for the barrier). The first transfer of a run fixes the
   * participants: the workers there are now, sorted.
   */
  onProcessing(t: TaskRecord, info: ShuffleTaskInfo): ShuffleAssignment | undefined {
    const sh = this.record(info);
    if (info.role === 'transfer') {
      if (sh.state === 'waiting' || sh.state === 'done') {
        sh.run = ++this.lastRun;
        sh.participants = [...this.s.workers.keys()].sort();
        this.transition(sh, 'transferring');
      }
      sh.barrier ??= barrierOf(t, info.id);
      return { ...info, run: sh.run, workers: sh.participants };
    }
    if (info.role === 'barrier') {
      sh.barrier = t;
      if (sh.state === 'transferring') this.transition(sh, 'barrier');
      return undefined;
    }
    return { ...info, run: sh.run, workers: [] };
  }

  /** The worker an unpack task must run on (where its shards are), or null for any other task. */
  pinned(t: TaskRecord): WorkerRecord | null {
    const info = t.shuffle;
    if (!info || info.role !== 'unpack') return null;
    const sh = this.shuffles.get(info.id);
    if (!sh || sh.participants.length === 0) return null;
    const id = sh.participants[info.i % sh.participants.length] as string;
    return this.s.workers.get(id) ?? null;
  }

  /** A shuffle task reached memory. */
  onMemory(t: TaskRecord, info: ShuffleTaskInfo): void {
    const sh = this.shuffles.get(info.id);
    if (!sh) return;
    if (info.role === 'barrier' && sh.state === 'barrier') this.transition(sh, 'unpacking');
    else if (info.role === 'unpack' && sh.state === 'unpacking' && this.allOutputsDone(sh)) {
      this.transition(sh, 'done');
      this.forgetOnWorkers(sh, sh.run);
    }
  }

  /** A shuffle task was forgotten; the shuffle goes with its barrier. */
  onForget(t: TaskRecord, info: ShuffleTaskInfo): void {
    if (info.role !== 'barrier') return;
    const sh = this.shuffles.get(info.id);
    if (!sh || sh.barrier !== t) return;
    if (sh.participants.length > 0 && sh.state !== 'done') this.forgetOnWorkers(sh, sh.run);
    this.shuffles.delete(info.id);
  }

  /** A worker left: every active run it received outputs for starts again. */
  workerRemoved(w: WorkerRecord): void {
    for (const sh of this.shuffles.values()) {
      if (ACTIVE.has(sh.state) && sh.participants.includes(w.id)) this.restart(sh, `worker ${w.name} left during the shuffle`);
    }
  }

  /**
   * An unpack task found shards missing (a transfer of an older run counted
   * for this one, or a receiver lost data): restart instead of erring.
   * Returns whether the error was handled here.
   */
  erred(t: TaskRecord, error: TaskErrorInfo): boolean {
    const info = t.shuffle;
    if (!info || info.role !== 'unpack' || error.name !== SHUFFLE_INCOMPLETE) return false;
    const sh = this.shuffles.get(info.id);
    if (!sh || sh.state === 'waiting' || sh.state === 'failed') return false;
    this.restart(sh, `output ${info.i} found shards missing (${error.message})`);
    return true;
  }

  private restart(sh: ShuffleRecord, why: string): void {
    const old = sh.run;
    const transfers = sh.barrier ? sh.barrier.deps : [];
    const unpacks = sh.barrier?.dependents ? [...sh.barrier.dependents].filter((d) => d.shuffle?.id === sh.id) : [];
    this.forgetOnWorkers(sh, old);
    sh.participants = [];
    if (sh.restarts >= this.maxRestarts) {
      this.transition(sh, 'failed');
      const error = { name: 'ShuffleFailedError', message: `shuffle ${sh.id} restarted ${sh.restarts} times and gives up; the last time because ${why}` };
      this.progress(sh, error.message);
      for (const u of unpacks) if (u.state !== 'memory' && u.state !== 'erred') this.s.rec(u, 'erred', { error });
      return;
    }
    sh.restarts += 1;
    this.transition(sh, 'waiting');
    this.progress(sh, `shuffle ${sh.id}: ${why}; restarting it (restart ${sh.restarts} of at most ${this.maxRestarts})`);
    // Every transfer runs again (receivers drop the old run), then the barrier, then the outputs not yet done.
    for (const t of transfers) if (t.state !== 'released' && t.state !== 'waiting' && t.state !== 'erred') this.s.rec(t, 'released');
    const b = sh.barrier;
    if (b && b.state !== 'released' && b.state !== 'waiting' && b.state !== 'erred') this.s.rec(b, 'released');
    for (const u of unpacks) if (u.state === 'processing' || u.state === 'queued' || u.state === 'no-worker') this.s.rec(u, 'released');
  }

  private allOutputsDone(sh: ShuffleRecord): boolean {
    if (!sh.barrier?.dependents) return true;
    for (const d of sh.barrier.dependents) if (d.shuffle?.id === sh.id && d.state !== 'memory' && d.state !== 'erred') return false;
    return true;
  }

  private forgetOnWorkers(sh: ShuffleRecord, run: number): void {
    for (const id of sh.participants) {
      if (this.s.workers.has(id)) this.s.emit({ type: 'shuffle-forget', workerId: id, shuffleId: sh.id, run, stimulusId: this.s.stimulus });
    }
  }

  private progress(sh: ShuffleRecord, message: string): void {
    for (const c of this.s.clients.values()) this.s.report(c, { op: 'shuffle-progress', id: sh.id, run: sh.run, message });
  }

  /** Invariants of the shuffle records against the task records (tests run it after every step). */
  validate(): string[] {
    const problems: string[] = [];
    for (const sh of this.shuffles.values()) {
      const active = sh.state !== 'waiting' && sh.state !== 'failed';
      if (active !== sh.participants.length > 0) problems.push(`shuffle ${sh.id} (${sh.state}) has ${sh.participants.length} participants`);
      const b = sh.barrier;
      if (!b) continue;
      if (this.s.tasks.get(b.key) !== b) problems.push(`shuffle ${sh.id}: its barrier ${b.key} is not stored`);
      if (b.state === 'processing' && sh.state !== 'barrier') problems.push(`shuffle ${sh.id} (${sh.state}): barrier processing outside the barrier state`);
      for (const t of b.deps) {
        if (t.state === 'processing' && sh.state !== 'transferring' && sh.state !== 'barrier' && sh.state !== 'unpacking') {
          problems.push(`shuffle ${sh.id} (${sh.state}): transfer ${t.key} processing outside a run`);
        }
      }
      for (const u of b.dependents ?? []) {
        if (u.shuffle?.id !== sh.id || u.state !== 'processing') continue;
        if (sh.state !== 'unpacking') problems.push(`shuffle ${sh.id} (${sh.state}): unpack ${u.key} processing outside the unpacking state`);
        const want = sh.participants.length > 0 ? sh.participants[u.shuffle.i % sh.participants.length] : undefined;
        if (want && this.s.workers.has(want) && u.processingOn?.id !== want) problems.push(`shuffle ${sh.id}: unpack ${u.key} runs on ${u.processingOn?.id} instead of ${want}`);
      }
    }
    if (this.log.recorded !== this.transitionCount) problems.push(`${this.transitionCount} shuffle transitions but ${this.log.recorded} logged`);
    return problems;
  }
}

const books = new WeakMap<SchedulerState, ShuffleBook>();

/** The shuffle book of a scheduler state (kept beside it, so the task machine needs no field for it). */
export function shufflesOf(s: SchedulerState): ShuffleBook {
  let b = books.get(s);
  if (!b) books.set(s, (b = new ShuffleBook(s)));
  return b;
}

/** The barrier a transfer feeds (its one dependent of the same shuffle). */
function barrierOf(t: TaskRecord, id: string): TaskRecord | null {
  if (!t.dependents) return null;
  for (const d of t.dependents) if (d.shuffle?.id === id && d.shuffle.role === 'barrier') return d;
  return null;
}
