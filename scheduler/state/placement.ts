import { own } from '../../shared/core/own.ts';
import type { TaskRecord, WorkerRecord } from './records.ts';
import type { Resources, TaskErrorInfo } from './types.ts';

/** Where a ready task runs: pure choices over the worker records (see machine.ts `schedule`). */

/** Does `offer` (minus `used`) cover `need`? */
export function satisfies(offer: Resources, need: Resources, used?: Resources): boolean {
  for (const [r, n] of Object.entries(need)) {
    // `own`: a resource named `constructor` or `toString` must not read Object.prototype.
    const have = (own(offer, r) ?? 0) - (used === undefined ? 0 : (own(used, r) ?? 0));
    if (have < n) return false;
  }
  return true;
}

/** Why a task's resource requirements are invalid, or undefined when they are fine. */
export function resourceProblem(r: Resources): string | undefined {
  for (const [name, n] of Object.entries(r)) {
    if (!/^[A-Za-z][\w.-]*$/.test(name)) return `resource name "${name}" is invalid`;
    if (typeof n !== 'number' || !Number.isFinite(n) || n <= 0) return `resource ${name} must be a positive number, got ${String(n)}`;
  }
  return undefined;
}

export function anyWorkerSatisfies(workers: Iterable<WorkerRecord>, r: Resources): boolean {
  for (const w of workers) if (satisfies(w.resources, r)) return true;
  return false;
}

/** The running worker holding most of the task's input bytes, then the least occupied. */
export function pickForDeps(t: TaskRecord, workers: Iterable<WorkerRecord>): WorkerRecord | null {
  let best: WorkerRecord | null = null;
  let bestBytes = -1;
  const better = (w: WorkerRecord, bytes: number) => bytes > bestBytes || (bytes === bestBytes && best !== null && w.occupancy < best.occupancy);
  for (const d of t.deps) {
    if (!d.whoHas) continue;
    for (const w of d.whoHas) {
      if (w.status !== 'running' || w.removed || w.retiring) continue;
      let bytes = 0;
      for (const dd of t.deps) if (dd.whoHas && dd.whoHas.includes(w)) bytes += dd.nbytes;
      if (better(w, bytes)) {
        best = w;
        bestBytes = bytes;
      }
    }
  }
  if (best) return best;
  for (const w of workers) {
    if (w.status !== 'running' || w.retiring) continue;
    if (!best || w.occupancy < best.occupancy) best = w;
  }
  return best;
}

/** The idle worker with room for the task's resources holding most of its inputs, then the least busy. */
export function pickConstrained(t: TaskRecord, idle: Iterable<WorkerRecord>): WorkerRecord | null {
  const need = t.resources as Resources;
  let best: WorkerRecord | null = null;
  let bestBytes = -1;
  for (const w of idle) {
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

/** The error of a task that was processing on `allowedFailures` workers that died (`t.killedOn` names them). */
export function killedWorkerError(t: TaskRecord, last: WorkerRecord): TaskErrorInfo {
  const names = (t.killedOn ?? [last.name]).join(', ');
  return { name: 'KilledWorkerError', message: `task ${t.key} was processing on ${t.suspicious} workers that died (${names}; the last was ${last.name}); it may be crashing them` };
}

/** The error of a task no joining worker could run within `timeoutMs`, naming what the workers offer. */
export function noWorkerError(t: TaskRecord, workers: Iterable<WorkerRecord>, timeoutMs: number): TaskErrorInfo {
  const offered = [...workers].map((w) => `${w.name}: ${JSON.stringify(w.resources)}`).join('; ') || 'no workers';
  return {
    name: 'NoWorkerError',
    message: `task ${t.key} needs resources ${JSON.stringify(t.resources)} but no worker offering them joined within ${Math.round(timeoutMs / 1000)} s (workers: ${offered})`,
  };
}
