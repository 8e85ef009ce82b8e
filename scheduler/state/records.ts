import { resourceProblem } from './placement.ts';
import type { Resources, TaskErrorInfo, TaskSpec, TaskStateName } from './types.ts';
import type { ShuffleTaskInfo } from '../../shared/shuffle/types.ts';

/** The scheduler's records of tasks, workers and clients (see machine.ts). */

export const EMPTY_TASKS: TaskRecord[] = [];
export const EMPTY_WORKERS: WorkerRecord[] = [];

export class TaskRecord {
  state: TaskStateName = 'released';
  deps: TaskRecord[] = EMPTY_TASKS;
  dependents: Set<TaskRecord> | null = null;
  /** Dependencies not in memory (meaningful in `waiting`). */
  waitingOn = 0;
  whoHas: WorkerRecord[] | null = null;
  processingOn: WorkerRecord | null = null;
  nbytes = 0;
  wantedBy: ClientRecord[] | null = null;
  prio = 0;
  seq = 0;
  resources: Resources | null = null;
  retries = 0;
  suspicious = 0;
  /** Names of the workers that died while running it (for KilledWorkerError). */
  killedOn: string[] | null = null;
  error: TaskErrorInfo | null = null;
  inHeap = false;
  noWorkerSince = 0;
  /** Estimated run time (ms) counted in its worker's occupancy while processing. */
  est = 0;
  /** Its part in a shuffle (transfer, barrier or unpack), see shuffle.ts. */
  shuffle: ShuffleTaskInfo | null = null;
  /** The scheduler step that last sent it to a worker (a move in that same step takes the compute back). */
  placedStep = -1;
  /** The worker it moves to once its worker confirms it had not started it (stealing.ts). */
  stealTo: WorkerRecord | null = null;
  /** Its worker refused a steal: it had started it, so it is never asked again while there. */
  started = false;
  /** Its worker reported it waiting for a thread and not yet started (`task-queue`): innocent if the worker dies. */
  queuedOnWorker = false;
  constructor(
    readonly key: string,
    public run: unknown,
    /** Duration statistics are kept per prefix (the function). */
    readonly prefix: string,
  ) {}
}

/** `lambda-3f9a…` → `lambda`; keys without a dash are their own prefix. */
export function keyPrefix(key: string): string {
  const i = key.lastIndexOf('-');
  if (i <= 0) return key;
  // Consecutive keys mostly share a prefix (a map): reuse that string instead of a new slice per task.
  if (i === lastPrefix.length && key.startsWith(lastPrefix)) return lastPrefix;
  lastPrefix = key.slice(0, i);
  return lastPrefix;
}
let lastPrefix = '';

export class WorkerRecord {
  readonly processing = new Set<TaskRecord>();
  readonly has = new Set<TaskRecord>();
  readonly used: Resources = {};
  status: 'running' | 'paused' = 'running';
  removed = false;
  /** Takes no new task; its results move to other workers (retire.ts). */
  retiring = false;
  /** Retired: holds nothing the scheduler counts on; waiting to be stopped. */
  retired = false;
  /** Sum of the estimated run times (ms) of the tasks processing here. */
  occupancy = 0;
  /** Expected ms of the tasks asked of other workers for this one, and asked of this one (stealing.ts). */
  stealIn = 0;
  stealOut = 0;
  /** Tasks processing here that another worker asked for (stealing.ts). */
  stealOutCount = 0;
  constructor(
    readonly id: string,
    readonly name: string,
    readonly nthreads: number,
    readonly resources: Resources,
  ) {}
}

export class ClientRecord {
  readonly wants = new Set<TaskRecord>();
  nextPrio = 0;
  constructor(readonly id: string) {}
}

/**
 * Records for the new tasks of an update-graph, numbered from `prio` and `seq`
 * in submission order and linked to their dependencies. A task that cannot run
 * (invalid resources, a self or unknown dependency) gets its `error` set; the
 * machine errs it right away.
 */
export function createTasks(tasks: Map<string, TaskRecord>, specs: readonly TaskSpec[], prio: number, seq: number): TaskRecord[] {
  const created: TaskRecord[] = [];
  for (const spec of specs) {
    if (tasks.has(spec.key)) continue;
    const t = new TaskRecord(spec.key, spec.run, keyPrefix(spec.key));
    t.prio = prio++;
    t.seq = seq++;
    t.retries = spec.retries ?? 0;
    if (spec.shuffle) t.shuffle = spec.shuffle;
    tasks.set(spec.key, t);
    created.push(t);
    let bad: TaskErrorInfo | null = null;
    if (spec.resources && Object.keys(spec.resources).length > 0) {
      const problem = resourceProblem(spec.resources);
      if (problem) bad = { name: 'InvalidResourcesError', message: `task ${spec.key}: ${problem}` };
      else t.resources = { ...spec.resources };
    }
    if (spec.deps.length > 0) {
      const deps: TaskRecord[] = [];
      for (const k of spec.deps) {
        if (k === spec.key) {
          bad ??= { name: 'InvalidGraphError', message: `task ${spec.key} depends on itself` };
          continue;
        }
        const d = tasks.get(k);
        if (!d) {
          bad ??= { name: 'MissingDependencyError', message: `task ${spec.key} depends on ${k}, which the scheduler does not know (was its future released?)` };
          continue;
        }
        if (deps.includes(d)) continue;
        deps.push(d);
        (d.dependents ??= new Set()).add(t);
      }
      // A copy of exactly its length: `push` onto `[]` reserves 17 slots (148 bytes), and most tasks keep one or two for life.
      t.deps = deps.slice();
    }
    if (bad) t.error = bad;
  }
  return created;
}
