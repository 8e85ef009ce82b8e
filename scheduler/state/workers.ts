import type { SchedulerState } from './machine.ts';
import { anyWorkerSatisfies, killedWorkerError, satisfies } from './placement.ts';
import { EMPTY_WORKERS, WorkerRecord } from './records.ts';
import { retirementsOf } from './retire.ts';
import { shufflesOf } from './shuffle.ts';
import type { Resources } from './types.ts';

/**
 * Workers joining and leaving the scheduler's machine. A worker that leaves
 * takes its running tasks (rescheduled, or erred after `allowedFailures`
 * deaths) and the results only it held (recomputed when needed) with it.
 */

export function addWorker(s: SchedulerState, id: string, name: string, nthreads: number, resources: Resources): void {
  if (s.workers.has(id)) return;
  const w = new WorkerRecord(id, name, nthreads, { ...resources });
  s.workers.set(id, w);
  s.updateIdle(w);
  for (const t of s.noWorker) if (t.resources && satisfies(w.resources, t.resources)) s.rec(t, 'queued');
}

export function removeWorker(s: SchedulerState, id: string): void {
  const w = s.workers.get(id);
  if (!w) return;
  w.removed = true;
  s.workers.delete(id);
  s.idle.delete(w);
  s.rr = null;
  retirementsOf(s).workerRemoved(w);
  for (const t of [...w.processing]) {
    // Waiting for a thread when the worker died (its own report): it did not run there, so it is not a suspect.
    if (t.queuedOnWorker) {
      s.rec(t, 'released', { notifyWorker: false });
      continue;
    }
    t.suspicious += 1;
    (t.killedOn ??= []).push(w.name);
    if (t.suspicious >= s.options.allowedFailures) s.rec(t, 'erred', { error: killedWorkerError(t, w) });
    else s.rec(t, 'released', { notifyWorker: false });
  }
  for (const t of [...w.has]) {
    w.has.delete(t);
    const rest = (t.whoHas ?? EMPTY_WORKERS).filter((x) => x !== w);
    t.whoHas = rest.length > 0 ? rest : null;
    if (!t.whoHas) s.rec(t, 'released', { notifyWorker: false });
  }
  for (const t of [...s.constrained]) {
    if (!anyWorkerSatisfies(s.workers.values(), t.resources as Resources)) s.rec(t, 'no-worker');
  }
  shufflesOf(s).workerRemoved(w);
}
