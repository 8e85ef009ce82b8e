/** Types of the worker's pure state machine (see machine.ts). */

import type { Clock } from '../../shared/core/clock.ts';
import type { TaskErrorInfo } from '../../shared/engine/task-error.ts';

export type { TaskErrorInfo };
export type { TransitionLogEntry } from '../../shared/engine/transition-log.ts';

/** `released` is where a record starts; it leaves it in the same step (to waiting or fetch). */
export type WorkerTaskStateName = 'released' | 'waiting' | 'ready' | 'executing' | 'cancelled' | 'memory' | 'fetch' | 'flight' | 'missing' | 'forgotten';

export interface DepSpec {
  key: string;
  nbytes: number;
  /** Data addresses of the peers holding it. */
  who: string[];
}

interface EventBase {
  stimulusId: string;
}

export type WorkerEvent =
  | (EventBase & { type: 'compute-task'; key: string; run: unknown; priority: number; deps: DepSpec[] })
  | (EventBase & { type: 'free-keys'; keys: string[] })
  /** Fetch and keep these results (another worker retires); each is reported like a finished task. */
  | (EventBase & { type: 'acquire-replicas'; keys: DepSpec[] })
  /**
   * The scheduler would move this task to another worker (work stealing).
   * `dequeued`: the shell took it off the thread pool's queue, so no thread
   * started it. Answered with a `steal-response`.
   */
  | (EventBase & { type: 'steal-request'; key: string; dequeued: boolean })
  | (EventBase & { type: 'execute-success'; key: string; nbytes: number })
  | (EventBase & { type: 'execute-failure'; key: string; error: TaskErrorInfo })
  | (EventBase & { type: 'gather-dep-done'; peer: string; received: Array<[string, number]>; missing: string[] })
  | (EventBase & { type: 'gather-dep-failed'; peer: string; keys: string[] })
  | (EventBase & { type: 'pause' })
  | (EventBase & { type: 'unpause' });

export type SchedulerMessage =
  | { op: 'task-finished'; key: string; nbytes: number }
  | { op: 'task-erred'; key: string; error: TaskErrorInfo }
  | { op: 'missing-data'; key: string; dep: string; from: string }
  /** `released`: the task was given up before it started (the scheduler moves it); else the state it stays in here. */
  | { op: 'steal-response'; key: string; state: string };

export type WorkerInstruction =
  | { type: 'execute'; key: string; run: unknown; deps: string[]; priority: number; stimulusId: string }
  | { type: 'gather-dep'; peer: string; keys: string[]; stimulusId: string }
  | { type: 'release-data'; key: string; stimulusId: string }
  | { type: 'send'; msg: SchedulerMessage; stimulusId: string };

export interface WorkerStateOptions {
  nthreads: number;
  /** Tasks handed to the thread pool at once (≥ nthreads; more pipelines short tasks). Default nthreads. */
  maxExecuting: number;
  /** Concurrent gathers from distinct peers. */
  maxGathers: number;
  /** Bytes requested from one peer in one gather. */
  gatherBatchBytes: number;
  /** State changes kept for `story(key)` (a ring buffer; 0 keeps none). */
  transitionLogSize: number;
  /** Stamps the transition log (read once per `handle` call). */
  clock: Clock;
}
