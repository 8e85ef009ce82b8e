/**
 * Types of the scheduler's pure state machine. Events go in, instructions come
 * out; the network shell (scheduler/server.ts) turns instructions into messages.
 */

export type TaskStateName = 'released' | 'waiting' | 'queued' | 'no-worker' | 'processing' | 'memory' | 'erred' | 'forgotten';

import { DEFAULT_TRANSITION_LOG_SIZE } from '../../shared/engine/transition-log.ts';
import type { TaskErrorInfo } from '../../shared/engine/task-error.ts';
import type { ShuffleAssignment, ShuffleTaskInfo } from '../../shared/shuffle/types.ts';
import type { AdaptiveOptions } from './adaptive.ts';

export type { TaskErrorInfo };
export type { TransitionLogEntry } from '../../shared/engine/transition-log.ts';

export type Resources = Record<string, number>;

/** A task as submitted by a client. `run` is opaque to the state machine. */
export interface TaskSpec {
  key: string;
  run: unknown;
  deps: string[];
  resources?: Resources;
  retries?: number;
  /** Set on the tasks of a shuffle (state/shuffle.ts). */
  shuffle?: ShuffleTaskInfo;
}

interface EventBase {
  stimulusId: string;
}

export type SchedulerEvent =
  | (EventBase & { type: 'add-worker'; workerId: string; name: string; nthreads: number; resources: Resources })
  | (EventBase & { type: 'remove-worker'; workerId: string; reason: string })
  | (EventBase & { type: 'worker-status'; workerId: string; status: 'running' | 'paused' })
  /** Tasks on this worker waiting for a thread (`queued`), and ones of those that started since (`started`). */
  | (EventBase & { type: 'task-queue'; workerId: string; queued: readonly string[]; started: readonly string[] })
  | (EventBase & { type: 'add-client'; clientId: string })
  | (EventBase & { type: 'remove-client'; clientId: string })
  | (EventBase & { type: 'update-graph'; clientId: string; tasks: TaskSpec[]; wants: string[] })
  | (EventBase & { type: 'client-releases'; clientId: string; keys: string[] })
  | (EventBase & { type: 'cancel'; clientId: string; keys: string[] })
  | (EventBase & { type: 'task-finished'; workerId: string; key: string; nbytes: number; /** Run time on the worker, when known. */ durationMs?: number })
  /**
   * Results of one worker message, as parallel arrays: the same as one
   * `task-finished` per key, in order, without an event object per task.
   * `durationsMs[i] < 0` means the run time is unknown.
   */
  | (EventBase & { type: 'tasks-finished'; workerId: string; keys: string[]; nbytes: number[]; durationsMs: number[] })
  | (EventBase & { type: 'task-erred'; workerId: string; key: string; error: TaskErrorInfo })
  | (EventBase & { type: 'missing-data'; workerId: string; key: string; dep: string; from: string })
  /** A worker that reconnected holds these results (`nbytes[i]` for `keys[i]`); see reconnect.ts. */
  | (EventBase & { type: 'worker-held-data'; workerId: string; keys: string[]; nbytes: number[] })
  /**
   * A steal's victim answered (stealing.ts): `states[i]` is `released` when it
   * gave `keys[i]` up before starting it, else the state it keeps it in.
   */
  | (EventBase & { type: 'steal-response'; workerId: string; keys: string[]; states: string[] })
  | (EventBase & { type: 'tick' })
  /** Adaptive scaling looks at the work (adaptive.ts); the shell sends it every `adaptive.intervalMs`. */
  | (EventBase & { type: 'adapt' })
  /** Retire these workers gracefully (retire.ts): their results move elsewhere first. */
  | (EventBase & { type: 'retire-workers'; workerIds: string[] });

export interface DepLocation {
  key: string;
  nbytes: number;
  /** Worker ids holding the dependency. */
  who: string[];
}

export type ClientReport =
  | { op: 'key-in-memory'; key: string; nbytes: number }
  | { op: 'task-erred'; key: string; error: TaskErrorInfo }
  | { op: 'cancelled'; key: string }
  | { op: 'lost-data'; key: string }
  | { op: 'shuffle-progress'; id: string; run: number; message: string };

export type SchedulerInstruction =
  | { type: 'compute'; workerId: string; key: string; run: unknown; deps: DepLocation[]; priority: number; stimulusId: string; shuffle?: ShuffleAssignment | undefined }
  /** Drop the shards of shuffle `shuffleId` for runs up to `run` (state/shuffle.ts). */
  | { type: 'shuffle-forget'; workerId: string; shuffleId: string; run: number; stimulusId: string }
  | { type: 'free-keys'; workerId: string; keys: string[]; stimulusId: string }
  /** Give these tasks up if they have not started, and say so (work stealing, stealing.ts). */
  | { type: 'steal-request'; workerId: string; keys: string[]; stimulusId: string }
  /** Fetch these results from their holders and keep them (a retiring worker's data, retire.ts). */
  | { type: 'acquire-replicas'; workerId: string; keys: DepLocation[]; stimulusId: string }
  /** Ask the control plane for this many workers (adaptive.ts). */
  | { type: 'scale'; workers: number; stimulusId: string }
  /** The worker holds nothing needed and runs nothing: stop it (asking for `workers` in all). */
  | { type: 'retire-worker'; workerId: string; name: string; workers: number; stimulusId: string }
  | { type: 'report'; clientId: string; msg: ClientReport; stimulusId: string };

export interface SchedulerOptions {
  /**
   * A worker takes tasks while it has fewer than nthreads, or while the
   * expected run time of what it holds is under `pipelineMs` per thread.
   * Run times are estimated per task prefix (the key up to its last `-`, i.e.
   * per function) from measured durations; an unknown prefix counts as
   * `unknownTaskMs`. Short tasks are therefore pipelined deeply (up to
   * `maxSlots`), long ones go out about one per thread, so memory stays
   * bounded and a worker that joins mid-job gets work at once.
   */
  pipelineMs: number;
  unknownTaskMs: number;
  maxSlots: number;
  /**
   * A worker also takes tasks while it holds fewer than ceil(nthreads ×
   * workerSaturation) (Dask's worker-saturation): above 1, a long task waits
   * on the worker for the one before it and starts the moment that finishes,
   * instead of a scheduler round trip later. Off (1) by default: 1.1 did not
   * move `cpu_efficiency` (64 × 50 ms tasks, 2 single-thread workers: 0.935-
   * 0.944 against 0.94-0.95 quiet, 0.59-0.62 against 0.60-0.61 with one core
   * busy elsewhere, 2026-12-07), the round trip it hides being ~1 % of a
   * 50 ms task now. Either way a task waiting on a worker is not counted
   * against allowedFailures when that worker dies (`task-queue`).
   */
  workerSaturation: number;
  /** A task that was processing on this many workers that died errs with KilledWorkerError. */
  allowedFailures: number;
  /** A task in no-worker this long errs (undefined: wait forever). */
  noWorkerTimeoutMs: number | undefined;
  /** Cap on transitions per handle() call (runaway guard). */
  maxTransitions: number;
  /** State changes kept for `story(key)` (a ring buffer; 0 keeps none). */
  transitionLogSize: number;
  /** Results re-registered by reconnecting workers that no task claims are freed after this long (reconnect.ts). */
  heldDataTimeoutMs: number;
  /** Move queued work from saturated to idle workers (stealing.ts). */
  workStealing: boolean;
  /** Assumed worker→worker bandwidth for the transfer cost of a stolen task, bytes per ms. */
  bandwidthBytesPerMs: number;
  /**
   * A task whose inputs add up to at most this many bytes may run on any
   * worker, chosen by estimated start time (load, then transfer), not only on
   * a holder of its inputs (placement.ts `pickForDeps`).
   */
  tinyInputBytes: number;
  /** Size the cluster from the work (adaptive.ts); undefined: a fixed size. */
  adaptive: AdaptiveOptions | undefined;
  /**
   * Shuffle runs are numbered from above this (shuffle.ts). The shell passes its start time in ms: workers that
   * outlive a scheduler remember the runs it told them to forget, and refuse shards of those runs, so a restarted
   * scheduler must number above any of them.
   */
  firstShuffleRun: number;
}

export const DEFAULT_SCHEDULER_OPTIONS: SchedulerOptions = {
  pipelineMs: 20,
  unknownTaskMs: 500,
  maxSlots: 1024,
  workerSaturation: 1,
  allowedFailures: 3,
  noWorkerTimeoutMs: undefined,
  maxTransitions: 50_000_000,
  transitionLogSize: DEFAULT_TRANSITION_LOG_SIZE,
  heldDataTimeoutMs: 10 * 60_000,
  workStealing: true,
  // 1 GB/s: what worker→worker transfer reaches on loopback (bench 'transfer').
  bandwidthBytesPerMs: 1_000_000,
  // Under ~1 ms of transfer at that bandwidth: load decides.
  tinyInputBytes: 1_000_000,
  adaptive: undefined,
  firstShuffleRun: 0,
};
