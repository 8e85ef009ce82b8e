import type { SchedulerState } from './machine.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';
import type { DepLocation } from './types.ts';

/**
 * Graceful retirement (after Dask's `retire_workers`), as explicit records
 * beside the machine. A retiring worker takes no new task (it leaves the idle
 * set and is never chosen for a task's inputs). Each step, every result only
 * it holds is asked of another worker (`acquire-replicas`: that worker
 * fetches and keeps it, then reports it like a finished task); once the
 * worker runs nothing and all it holds is held elsewhere too, it is dropped
 * as a holder and the machine's `retire-worker` tells the shell it can go. Its data is then
 * never the only copy, and no task of it is lost or computed again.
 *
 * A replica request that got no answer within `REPLICA_RETRY_MS` (the target
 * died, or could not fetch) is asked again, of the least loaded other worker.
 * Retirement waits while no other worker can hold the data.
 */

/** A replica asked for and not reported within this long is asked for again. */
export const REPLICA_RETRY_MS = 10_000;

interface PendingReplica {
  to: WorkerRecord;
  at: number;
}

export class RetirementBook {
  /** Retiring workers → results asked of another worker. */
  private readonly retiring = new Map<WorkerRecord, Map<TaskRecord, PendingReplica>>();

  constructor(private readonly s: SchedulerState) {}

  get size(): number {
    return this.retiring.size;
  }

  isRetiring(w: WorkerRecord): boolean {
    return this.retiring.has(w);
  }

  /** Stop giving `w` work and start moving its unique results away. */
  start(w: WorkerRecord): void {
    if (w.removed || w.retiring) return;
    w.retiring = true;
    this.retiring.set(w, new Map());
    this.s.updateIdle(w);
    this.s.rr = null;
  }

  /** Take `w` back into service (the work grew again before it left). */
  cancel(w: WorkerRecord): void {
    if (!this.retiring.delete(w)) return;
    w.retiring = false;
    this.s.updateIdle(w);
  }

  /**
   * Ask for the replicas still missing and finish the retirements that are
   * done: the worker is dropped as a holder. Returns the workers that may go
   * (the machine tells the shell, see `retire-worker`).
   */
  progress(): WorkerRecord[] {
    const done: WorkerRecord[] = [];
    const s = this.s;
    const asks = new Map<WorkerRecord, DepLocation[]>();
    for (const [w, pending] of this.retiring) {
      for (const t of pending.keys()) if (!w.has.has(t)) pending.delete(t);
      let unique = 0;
      for (const t of w.has) {
        if (t.whoHas && t.whoHas.some((x) => x !== w && !x.retiring && !x.removed)) {
          pending.delete(t);
          continue;
        }
        unique++;
        const p = pending.get(t);
        if (p && !p.to.removed && !p.to.retiring && s.clock - p.at < REPLICA_RETRY_MS) continue;
        const to = this.target(w);
        if (!to) continue;
        pending.set(t, { to, at: s.clock });
        let list = asks.get(to);
        if (!list) asks.set(to, (list = []));
        list.push({ key: t.key, nbytes: t.nbytes, who: [w.id] });
      }
      if (unique === 0 && w.processing.size === 0) {
        this.complete(w);
        done.push(w);
      }
    }
    for (const [to, keys] of asks) s.emit({ type: 'acquire-replicas', workerId: to.id, keys, stimulusId: s.stimulus });
    return done;
  }

  /**
   * `w` reported holding `t` (a `task-finished` for a task already in
   * memory): when it was asked for that replica, it becomes a holder.
   */
  replicaStored(w: WorkerRecord, t: TaskRecord): boolean {
    if (t.state !== 'memory' || !t.whoHas) return false;
    for (const pending of this.retiring.values()) {
      const p = pending.get(t);
      if (!p || p.to !== w) continue;
      pending.delete(t);
      if (!t.whoHas.includes(w)) {
        t.whoHas.push(w);
        w.has.add(t);
      }
      return true;
    }
    return false;
  }

  workerRemoved(w: WorkerRecord): void {
    this.retiring.delete(w);
  }

  private complete(w: WorkerRecord): void {
    this.retiring.delete(w);
    for (const t of w.has) if (t.whoHas) t.whoHas = t.whoHas.filter((x) => x !== w);
    w.has.clear();
    w.retired = true;
  }

  /** The running, non-retiring worker with the least data, then the least work. */
  private target(from: WorkerRecord): WorkerRecord | undefined {
    let best: WorkerRecord | undefined;
    for (const w of this.s.workers.values()) {
      if (w === from || w.removed || w.retiring || w.status !== 'running') continue;
      if (!best || w.has.size < best.has.size || (w.has.size === best.has.size && w.occupancy < best.occupancy)) best = w;
    }
    return best;
  }
}

const books = new WeakMap<SchedulerState, RetirementBook>();

export function retirementsOf(s: SchedulerState): RetirementBook {
  let b = books.get(s);
  if (!b) books.set(s, (b = new RetirementBook(s)));
  return b;
}
