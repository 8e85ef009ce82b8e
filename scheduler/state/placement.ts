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

/** What placing a dependent costs: where its inputs are, how fast they move, and when inputs count as tiny. */
export interface PlacementCosts {
  /** Assumed worker→worker bandwidth, bytes per ms. */
  bandwidthBytesPerMs: number;
  /** Fixed ms a task pays when any input must come from another worker (a round trip to a peer). */
  fetchLatencyMs: number;
  /** Inputs this small in all may go to any worker, not only to a holder: their transfer is negligible, load decides. */
  tinyInputBytes: number;
}

const usable = (w: WorkerRecord) => w.status === 'running' && !w.removed && !w.retiring;

/**
 * Estimated ms until `t` could start on `w` (Dask's `worker_objective`): the
 * work already there per thread (none while a thread is free), plus moving
 * the inputs `w` lacks.
 */
export function startTimeMs(t: TaskRecord, w: WorkerRecord, costs: PlacementCosts): number {
  let missing = 0;
  let fetches = 0;
  for (const d of t.deps) {
    if (d.whoHas && d.whoHas.includes(w)) continue;
    missing += d.nbytes;
    fetches++;
  }
  // A free thread starts it at once; otherwise it waits for its share of what is there.
  const wait = w.processing.size < w.nthreads ? 0 : w.occupancy / w.nthreads;
  return wait + (fetches === 0 ? 0 : missing / costs.bandwidthBytesPerMs + costs.fetchLatencyMs);
}

/**
 * Where a task with inputs runs (Dask's `decide_worker`): the candidate with
 * the earliest estimated start (`startTimeMs`). Candidates are the running
 * workers holding an input; when the inputs are tiny in all
 * (`tinyInputBytes`), every running worker, so that many dependents of one
 * small result spread by load instead of piling onto its holder. Ties keep the
 * earlier candidate: holders first (in input order), so data stays put. No
 * holder: any running worker.
 */
export function pickForDeps(t: TaskRecord, workers: Iterable<WorkerRecord>, costs: PlacementCosts): WorkerRecord | null {
  let best: WorkerRecord | null = null;
  let bestMs = Infinity;
  let total = 0;
  const consider = (w: WorkerRecord) => {
    const ms = startTimeMs(t, w, costs);
    if (ms < bestMs) {
      best = w;
      bestMs = ms;
    }
  };
  for (const d of t.deps) {
    total += d.nbytes;
    if (!d.whoHas) continue;
    for (const w of d.whoHas) if (usable(w) && w !== best) consider(w);
  }
  if (best && total > costs.tinyInputBytes) return best;
  for (const w of workers) if (usable(w)) consider(w);
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
