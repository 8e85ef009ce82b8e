import { DEFAULT_SESSION_TIMEOUT_MINUTES, type ManagedQueue } from '../ports/cluster-queues.ts';
import type { BackendClusterRef, Observation } from '../ports/compute-backend.ts';

/**
 * Types of the harvester: the idle/orphan reaper. The planner
 * (`plan.ts`) is pure and level-triggered: it looks at the live records and
 * at what the backend holds *now* and returns the actions that bring the two
 * in line. `control/harvester.ts` executes them idempotently.
 */

/** Why a live cluster is reaped (moved to DELETING). */
export const REAP_REASONS = ['idle', 'max-lifetime', 'lease-expired', 'scheduler-unreachable'] as const;
export type ReapReason = (typeof REAP_REASONS)[number];

/** Why the harvester moves a cluster to FAILED. */
export const FAIL_REASONS = ['provisioning-deadline', 'resources-vanished', 'component-failed'] as const;
export type FailReason = (typeof FAIL_REASONS)[number];

export interface HarvestConfig {
  /**
   * Used when a record's spec has no positive `idleTimeoutMinutes`.
   * @default 30
   */
  defaultIdleTimeoutMinutes: number;
  /**
   * Client lease: a cluster whose client ever sent a heartbeat is reaped with
   * `lease-expired` when no heartbeat came for this long while no task ran and
   * no client was connected.
   * @default 10
   */
  leaseTimeoutMinutes: number;
  /**
   * A RUNNING cluster whose scheduler did not answer for this long is reaped
   * with `scheduler-unreachable`, whatever its other activity says.
   * @default 10
   */
  schedulerUnreachableMinutes: number;
  /**
   * REQUESTED or PROVISIONING for longer than this → FAILED, resources removed.
   * @default 20
   */
  provisioningDeadlineMinutes: number;
  /**
   * A cluster left in DELETING for longer than this (a lost queue message) is
   * torn down and finished by the harvester itself.
   * @default 15
   */
  deletingDeadlineMinutes: number;
  /**
   * A client session whose reply queue's last-seen (heartbeat) is older than
   * this is dead: its reply queue is deleted (issue 12).
   * @default DEFAULT_SESSION_TIMEOUT_MINUTES (10)
   */
  sessionTimeoutMinutes?: number;
}

export const DEFAULT_HARVEST_CONFIG: HarvestConfig = {
  defaultIdleTimeoutMinutes: 30,
  leaseTimeoutMinutes: 10,
  schedulerUnreachableMinutes: 10,
  provisioningDeadlineMinutes: 20,
  deletingDeadlineMinutes: 15,
  sessionTimeoutMinutes: DEFAULT_SESSION_TIMEOUT_MINUTES,
};

/** What the backend reported, read *before* the records (see `control/harvester.ts`). */
export interface HarvestObserved {
  /** `backend.observe(id)` for live records; a missing entry means observing failed. */
  observations: Readonly<Record<string, Observation>>;
  /** `backend.list()`: every cluster the backend holds resources for. */
  backendClusters: readonly BackendClusterRef[];
  /** `queues.list()`, read before the records like `backendClusters`; absent when there are no cluster queues or listing failed. */
  queues?: readonly ManagedQueue[];
}

interface ActionBase {
  clusterId: string;
  /** Human-readable explanation, written to the record, the history and the logs. */
  detail: string;
}

/** Move a live cluster to DELETING (then tear it down). */
export interface ReapAction extends ActionBase {
  kind: 'reap';
  reason: ReapReason;
  /** Record version the plan was made from (the write is conditional on it). */
  version: number;
}

/** Move a cluster to FAILED and remove whatever it still holds. */
export interface FailAction extends ActionBase {
  kind: 'fail';
  reason: FailReason;
  version: number;
}

/** Remove backend resources that have no live record. */
export interface TeardownOrphanAction extends ActionBase {
  kind: 'teardown-orphan';
  reason: 'orphan';
  owner?: string;
  namespace?: string;
}

/** Delete every queue of a cluster that has no live record (issue 12). */
export interface DeleteOrphanQueuesAction extends ActionBase {
  kind: 'delete-orphan-queues';
  reason: 'orphan';
  /** The queue names found, for the log. */
  queues: string[];
}

/** Delete the reply queue of a client session whose heartbeat stopped. */
export interface DeleteSessionQueueAction extends ActionBase {
  kind: 'delete-session-queue';
  reason: 'session-dead';
  sessionId: string;
  /** The last-seen the plan judged, so a fresher heartbeat read at execution time wins. */
  lastSeenAt?: string;
}

/** A DELETING cluster past the deadline: tear down and mark DELETED. */
export interface FinishDeleteAction extends ActionBase {
  kind: 'finish-delete';
  reason: 'deleting-deadline';
  version: number;
}

/** Remember (or forget) when the scheduler first stopped answering. */
export interface MarkUnreachableAction extends ActionBase {
  kind: 'mark-unreachable';
  reason: 'scheduler-unreachable';
  since: string;
  version: number;
}
export interface ClearUnreachableAction extends ActionBase {
  kind: 'clear-unreachable';
  reason: 'scheduler-reachable';
  version: number;
}

/**
 * Copy scheduler-reported activity onto the record (`store.touch`, no version
 * bump) so `recc cluster get` can tell when the cluster will be reaped.
 */
export interface RecordActivityAction extends ActionBase {
  kind: 'record-activity';
  reason: 'scheduler-activity';
  at: string;
}

export type HarvestAction =
  | ReapAction
  | RecordActivityAction
  | FailAction
  | TeardownOrphanAction
  | FinishDeleteAction
  | MarkUnreachableAction
  | ClearUnreachableAction
  | DeleteOrphanQueuesAction
  | DeleteSessionQueueAction;

/** When a cluster will be reaped if it stays idle from now on. */
export interface ReapForecast {
  /** ISO time. The harvester runs on a schedule, so the reap happens at its first run after this. */
  at: string;
  reason: ReapReason;
}
