import type { SchedulerState } from './machine.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';
import type { Arg } from './transitions.ts';

/**
 * Workers that come back (after a network cut, or to a scheduler restarted on
 * the same address) re-register the results they hold, so finished work is
 * reused instead of computed again (`worker-held-data` event).
 *
 * - A key the scheduler is still computing (waiting, queued, no-worker,
 *   processing) goes to memory on that worker; dependents may start.
 * - A key already in memory elsewhere gains a replica.
 * - A key the scheduler does not know (it restarted, and no client asked for
 *   it yet) is kept here as *unclaimed* for `heldDataTimeoutMs`. A graph that
 *   later needs it (same key: the SDK's keys are deterministic) takes it when
 *   the task would start waiting (`claimHeld` in `released>waiting`). Expired
 *   entries are freed on their workers at a `tick`.
 * - A key that errs or is no longer needed is freed on the worker.
 */

export interface UnclaimedResult {
  nbytes: number;
  /** Holders; records of workers removed since are skipped lazily. */
  holders: WorkerRecord[];
  /** The scheduler clock when first registered. */
  since: number;
}

/** Unclaimed re-registered results by key. */
export class UnclaimedResults {
  readonly byKey = new Map<string, UnclaimedResult>();

  get size(): number {
    return this.byKey.size;
  }

  add(key: string, w: WorkerRecord, nbytes: number, now: number): void {
    const u = this.byKey.get(key);
    if (!u) this.byKey.set(key, { nbytes, holders: [w], since: now });
    else if (!u.holders.includes(w)) u.holders.push(w);
  }

  /** Take the live holders of `key` out of the registry (none: undefined). */
  take(key: string): { nbytes: number; holders: WorkerRecord[] } | undefined {
    const u = this.byKey.get(key);
    if (!u) return undefined;
    this.byKey.delete(key);
    const holders = u.holders.filter((w) => !w.removed);
    return holders.length > 0 ? { nbytes: u.nbytes, holders } : undefined;
  }
}

const registries = new WeakMap<SchedulerState, UnclaimedResults>();

/** The unclaimed results of one scheduler state (kept beside it, not in it: machine.ts stays small). */
export function unclaimedOf(s: SchedulerState): UnclaimedResults {
  let u = registries.get(s);
  if (!u) registries.set(s, (u = new UnclaimedResults()));
  return u;
}

const PENDING_TO_MEMORY = new Set(['waiting', 'queued', 'no-worker', 'processing']);

/** The `worker-held-data` event: `keys[i]` (of `nbytes[i]` bytes) is in the memory of worker `w`. */
export function registerHeldData(s: SchedulerState, workerId: string, keys: readonly string[], nbytes: readonly number[]): void {
  const w = s.workers.get(workerId);
  if (!w) return;
  const free: string[] = [];
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i] as string;
    const n = nbytes[i] ?? 0;
    const t = s.tasks.get(key);
    if (!t) {
      unclaimedOf(s).add(key, w, n, s.clock);
    } else if (t.state === 'memory') {
      if (!t.whoHas?.includes(w)) {
        // A replica, as after a gather: no state change.
        (t.whoHas ??= []).push(w);
        w.has.add(t);
      }
    } else if (PENDING_TO_MEMORY.has(t.state) && s.isNeeded(t) && !t.shuffle) {
      s.rec(t, 'memory', { worker: w, nbytes: n });
    } else {
      free.push(key);
    }
  }
  if (free.length > 0) s.emit({ type: 'free-keys', workerId: w.id, keys: free, stimulusId: s.stimulus });
}

/**
 * In `released>waiting`: if a worker re-registered this result, the task goes
 * to memory instead of computing (its dependencies are not walked). Returns
 * true when it did.
 */
export function claimHeld(s: SchedulerState, t: TaskRecord): boolean {
  const unclaimed = unclaimedOf(s);
  // A shuffle's parts belong to one run of it (shuffle.ts): never taken from an earlier life.
  if (unclaimed.size === 0 || t.shuffle) return false;
  const held = unclaimed.take(t.key);
  if (!held) return false;
  const [first, ...replicas] = held.holders as [WorkerRecord, ...WorkerRecord[]];
  t.state = 'waiting';
  t.waitingOn = 0;
  s.rec(t, 'memory', { worker: first, nbytes: held.nbytes, replicas });
  return true;
}

/** On `tick`: free unclaimed results older than `heldDataTimeoutMs` on the workers holding them. */
export function expireUnclaimed(s: SchedulerState): void {
  const unclaimed = unclaimedOf(s);
  if (unclaimed.size === 0) return;
  const byWorker = new Map<WorkerRecord, string[]>();
  for (const [key, u] of unclaimed.byKey) {
    if (s.clock - u.since < s.options.heldDataTimeoutMs) continue;
    unclaimed.byKey.delete(key);
    for (const w of u.holders) {
      if (w.removed) continue;
      let list = byWorker.get(w);
      if (!list) byWorker.set(w, (list = []));
      list.push(key);
    }
  }
  for (const [w, keys] of byWorker) s.emit({ type: 'free-keys', workerId: w.id, keys, stimulusId: s.stimulus });
}

/**
 * The table's `waiting|queued|no-worker|released > memory`: a result that a
 * worker re-registered (`arg.worker`, plus `arg.replicas`) while the task was
 * still to be computed. Same effects as `processing>memory` without a run.
 */
export function heldToMemory(s: SchedulerState, t: TaskRecord, arg: Arg): void {
  if (t.state === 'queued') s.dequeue(t);
  else if (t.state === 'no-worker') s.noWorker.delete(t);
  const w = arg.worker as WorkerRecord;
  t.state = 'memory';
  t.nbytes = arg.nbytes ?? 0;
  t.whoHas = [w, ...(arg.replicas ?? [])];
  for (const x of t.whoHas) x.has.add(t);
  if (t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'key-in-memory', key: t.key, nbytes: t.nbytes });
  if (t.dependents) {
    for (const d of t.dependents) {
      if (d.state === 'waiting' && --d.waitingOn === 0) s.rec(d, 'ready');
    }
  }
  s.releaseUnneededDeps(t);
  if (!s.isNeeded(t)) s.rec(t, 'released');
}
