import type { SchedulerState } from './machine.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';

/**
 * Work stealing (after Dask's stealing.py), as a pure policy over the
 * scheduler's records. Tasks with dependencies go at once to the worker
 * holding their inputs, so one worker can end up with a long backlog while
 * another idles. After each step (`SchedulerState.handle`), `balance` moves
 * queued tasks from saturated workers to idle ones when they would finish
 * sooner there, counting the expected run time (per task prefix) and the cost
 * of moving the inputs. A move is two transitions through the table:
 * `processing>queued` (the victim is told to drop the task) and
 * `queued>processing` on the thief, so `story(key)` shows it.
 *
 * Differences from Dask: no confirmation round trip. The scheduler skips the
 * `nthreads` oldest tasks of a victim (those are probably running); if a
 * stolen task had started after all, the victim's result is dropped as late
 * (the task runs twice, nothing is lost), and a task still waiting in the
 * victim's thread-pool queue is removed from it (worker/pump.ts).
 */

/** Tasks expected to take less than this are never moved (Dask gives up below 5 ms too). */
export const MIN_STEAL_MS = 5;
/** Fixed cost of a move in ms: the drop and compute messages and the dependency request. */
export const STEAL_LATENCY_MS = 2;

/** Expected ms to bring `t`'s inputs to `w` (zero bytes still pay the latency). */
export function transferMs(s: SchedulerState, t: TaskRecord, w: WorkerRecord): number {
  let bytes = 0;
  for (const d of t.deps) if (!d.whoHas || !d.whoHas.includes(w)) bytes += d.nbytes;
  return bytes / s.options.bandwidthBytesPerMs + STEAL_LATENCY_MS;
}

interface Thief {
  w: WorkerRecord;
  /** Occupancy (ms of expected work) including what this round already gave it. */
  occ: number;
}

export interface StealPlan {
  task: TaskRecord;
  victim: WorkerRecord;
  thief: WorkerRecord;
}

/**
 * Decide which tasks move where (pure: no record is changed). Thieves are
 * running workers with room (`s.idle`); victims are workers without room
 * that hold more tasks than threads, with an average task long enough to be
 * worth moving (an O(1) test, so no-op workloads never pay for a scan).
 * From the most loaded victim, newest task first, each candidate goes to the
 * thief where it would finish first, if that is sooner than where it would
 * finish on the victim minus half its run time (Dask's damping).
 */
export function planSteals(s: SchedulerState): StealPlan[] {
  if (!s.options.workStealing || s.idle.size === 0 || s.workers.size < 2) return [];
  const thieves: Thief[] = [];
  for (const w of s.idle) if (w.status === 'running' && !w.removed) thieves.push({ w, occ: w.occupancy });
  if (thieves.length === 0) return [];
  const victims: WorkerRecord[] = [];
  for (const w of s.workers.values()) {
    const n = w.processing.size;
    if (n <= w.nthreads || s.idle.has(w) || w.occupancy / n < MIN_STEAL_MS) continue;
    victims.push(w);
  }
  if (victims.length === 0) return [];
  victims.sort((a, b) => b.occupancy / b.nthreads - a.occupancy / a.nthreads);
  const plan: StealPlan[] = [];
  for (const v of victims) {
    let occV = v.occupancy;
    const tasks = [...v.processing];
    // Newest first: they would start last on the victim; the oldest nthreads are probably running.
    for (let i = tasks.length - 1; i >= v.nthreads; i--) {
      const t = tasks[i] as TaskRecord;
      const compute = t.est;
      // Resource-bound tasks stay: the thief's free resources are only known after each move.
      // A shuffle's tasks are pinned to their workers (shuffle.ts).
      if (compute < MIN_STEAL_MS || t.resources || t.shuffle || s.estimate(t) < MIN_STEAL_MS) continue;
      let best: Thief | undefined;
      let bestFinish = Number.POSITIVE_INFINITY;
      for (const th of thieves) {
        const finish = th.occ / th.w.nthreads + transferMs(s, t, th.w) + compute;
        if (finish < bestFinish) {
          best = th;
          bestFinish = finish;
        }
      }
      if (!best) break;
      const onVictim = (occV - compute / 2) / v.nthreads;
      if (bestFinish > onVictim) {
        // Balanced against the least loaded thief: nothing further back moves either.
        if (minLoad(thieves) + compute >= occV / v.nthreads) break;
        continue;
      }
      plan.push({ task: t, victim: v, thief: best.w });
      occV -= compute;
      best.occ += compute;
    }
  }
  return plan;
}

function minLoad(thieves: readonly Thief[]): number {
  let m = Number.POSITIVE_INFINITY;
  for (const th of thieves) m = Math.min(m, th.occ / th.w.nthreads);
  return m;
}

/** Queue the planned moves as transitions (the machine drains them). Returns how many. */
export function balance(s: SchedulerState): number {
  const plan = planSteals(s);
  for (const { task, thief } of plan) {
    s.rec(task, 'queued');
    s.rec(task, 'processing', { worker: thief });
  }
  return plan.length;
}
