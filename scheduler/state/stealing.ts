import type { SchedulerState } from './machine.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';

/**
 * Work stealing (after Dask's stealing.py), as a pure policy over the
 * scheduler's records. Tasks with dependencies go at once to the worker
 * holding their inputs, so one worker can end up with a long backlog while
 * another idles. After each step (`SchedulerState.handle`), `balance` moves
 * queued tasks from saturated workers to idle ones when they would finish
 * sooner there, counting the expected run time (per task prefix) and the cost
 * of moving the inputs.
 *
 * The scheduler's view of a worker lags: a worker that finished a task starts
 * the next before the scheduler hears of it, so "the oldest nthreads tasks are
 * the running ones" is only a guess. A move is therefore confirmed by the
 * victim first, as in Dask: `steal-request` asks it to give the task up; it
 * answers `steal-response` with `released` (the task had not started: it
 * dropped it, including from its thread pool's queue) or the state it keeps
 * (`executing`, `memory`, ...). Only on `released` does the task move, by two
 * transitions through the table (`processing>queued`, `queued>processing` on
 * the thief), so `story(key)` shows it; otherwise it stays where it runs and
 * is not asked for again (`TaskRecord.started`). A task never runs on two
 * workers because of a steal.
 *
 * While a request is out the task stays `processing` on the victim
 * (`TaskRecord.stealTo` names the thief; its expected time counts in the
 * victim's `stealOut` and the thief's `stealIn`, so the next plans neither
 * ask again nor overfill the thief). It is cleared whenever the task leaves
 * the victim (finished, released, the victim gone): a late answer is ignored.
 * A task placed in the same step is moved at once instead: its compute never
 * left the scheduler, so it is taken back (`SchedulerState.retract`).
 */

/** Tasks expected to take less than this are never moved (Dask gives up below 5 ms too). */
export const MIN_STEAL_MS = 5;
/** Fixed cost of a move in ms: the drop and compute messages and the dependency request. */
export const STEAL_LATENCY_MS = 2;

/** Processing tasks' estimates are redone when their prefix's estimate moved by this factor since they were set. */
export const REESTIMATE_FACTOR = 2;
/** ... unless both estimates are below this (ms): the jitter of no-op tasks never triggers a rescan. */
export const REESTIMATE_FLOOR_MS = 1;

/**
 * The measured run time of `prefix` is now `next` ms: when that is far from
 * what its processing tasks were counted at (`t.est`, set when each was
 * placed), count them at `next` instead, in their workers' occupancy and in
 * pending steals. Without this, tasks placed before their prefix was
 * measured (or after a warm-up of short runs) kept a stale estimate: 1,000
 * tasks of 1-200 ms placed at the 1 ms a warm-up measured made their worker
 * look nearly empty, so nothing was ever stolen (2.0 x the ideal time). As in
 * Dask, occupancy follows the current estimate; the factor-of-2 hysteresis
 * bounds the rescans (O(processing tasks) each) to a few per prefix.
 */
export function reestimate(s: SchedulerState, prefix: string, next: number): void {
  const was = s.estimatedAs.get(prefix) ?? s.options.unknownTaskMs;
  if (Math.max(was, next) < REESTIMATE_FLOOR_MS) return;
  if (next < was * REESTIMATE_FACTOR && next * REESTIMATE_FACTOR > was) return;
  s.estimatedAs.set(prefix, next);
  for (const w of s.workers.values()) {
    let changed = false;
    for (const t of w.processing) {
      if (t.prefix !== prefix || t.est === next) continue;
      const d = next - t.est;
      t.est = next;
      w.occupancy += d;
      if (t.stealTo) {
        t.stealTo.stealIn += d;
        w.stealOut += d;
      }
      changed = true;
    }
    if (changed) s.updateIdle(w);
  }
}

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
  for (const w of s.idle) if (w.status === 'running' && !w.removed) thieves.push({ w, occ: w.occupancy + w.stealIn });
  if (thieves.length === 0) return [];
  const victims: WorkerRecord[] = [];
  for (const w of s.workers.values()) {
    // Tasks already asked of a worker count as gone from it.
    const n = w.processing.size - w.stealOutCount;
    if (n <= w.nthreads || s.idle.has(w) || (w.occupancy - w.stealOut) / n < MIN_STEAL_MS) continue;
    victims.push(w);
  }
  if (victims.length === 0) return [];
  victims.sort((a, b) => (b.occupancy - b.stealOut) / b.nthreads - (a.occupancy - a.stealOut) / a.nthreads);
  const plan: StealPlan[] = [];
  for (const v of victims) {
    let occV = v.occupancy - v.stealOut;
    const tasks = [...v.processing];
    // Newest first: they would start last on the victim; the oldest nthreads are probably running
    // (and the victim refuses a task it started, see the top of this file).
    for (let i = tasks.length - 1; i >= v.nthreads; i--) {
      const t = tasks[i] as TaskRecord;
      const compute = t.est;
      // Resource-bound tasks stay: the thief's free resources are only known after each move.
      // A shuffle's tasks are pinned to their workers (shuffle.ts). A task asked for already waits for its answer;
      // one its worker refused to give up has started there.
      if (t.stealTo || t.started || compute < MIN_STEAL_MS || t.resources || t.shuffle || s.estimate(t) < MIN_STEAL_MS) continue;
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

/**
 * Carry out the plan: a task placed in this step moves at once (its compute is
 * taken back before it leaves); any other is asked of its victim. Returns how
 * many moved at once (the machine drains their transitions).
 */
export function balance(s: SchedulerState): number {
  const plan = planSteals(s);
  let moved = 0;
  const asks = new Map<WorkerRecord, string[]>();
  for (const { task, victim, thief } of plan) {
    if (task.placedStep === s.step) {
      s.retract(task, victim);
      s.rec(task, 'queued');
      s.rec(task, 'processing', { worker: thief });
      moved++;
      continue;
    }
    task.stealTo = thief;
    thief.stealIn += task.est;
    victim.stealOut += task.est;
    victim.stealOutCount++;
    let keys = asks.get(victim);
    if (!keys) asks.set(victim, (keys = []));
    keys.push(task.key);
  }
  for (const [victim, keys] of asks) s.emit({ type: 'steal-request', workerId: victim.id, keys, stimulusId: s.stimulus });
  return moved;
}

/** The request for `t` is over (answered, or the task left its worker): undo its counts. */
export function clearSteal(t: TaskRecord): void {
  const thief = t.stealTo;
  const victim = t.processingOn;
  if (!thief) return;
  t.stealTo = null;
  thief.stealIn -= t.est;
  if (victim) {
    victim.stealOut -= t.est;
    victim.stealOutCount--;
  }
}

/** What a worker answers when it gave a task up (it had not started it). */
export const STEAL_RELEASED = 'released';

/**
 * The victim `w` answered: `states[i]` is `released` when it dropped
 * `keys[i]` (the task moves to the thief, or back in line if the thief can no
 * longer take it), or the state it keeps the task in (it stays). An answer
 * for a task no longer waiting on this request is ignored.
 */
export function stealResponse(s: SchedulerState, w: WorkerRecord, keys: readonly string[], states: readonly string[]): void {
  for (let i = 0; i < keys.length; i++) {
    const t = s.tasks.get(keys[i] as string);
    if (!t || !t.stealTo || t.processingOn !== w || t.state !== 'processing') continue;
    const thief = t.stealTo;
    clearSteal(t);
    if (states[i] !== STEAL_RELEASED) {
      t.started = true;
      continue;
    }
    s.rec(t, 'queued');
    if (!thief.removed && !thief.retiring && thief.status === 'running' && s.workers.get(thief.id) === thief) s.rec(t, 'processing', { worker: thief });
  }
}
