/**
 * Scheduled jobs: a job definition (stored, owned, scheduled) and its runs.
 * Each run gets a cluster of its own, created for the run and deleted after it.
 */

export const CONCURRENCY_POLICIES = ['Forbid', 'Allow', 'Replace'] as const;
export type ConcurrencyPolicy = (typeof CONCURRENCY_POLICIES)[number];

/** What to do with fire times missed while the local scheduler was down. */
export const CATCH_UP_POLICIES = ['run-latest', 'record-missed'] as const;
export type CatchUpPolicy = (typeof CATCH_UP_POLICIES)[number];

/** How the driver is started inside the run's cluster. */
export type JobEntry =
  | {
      kind: 'module';
      /** Path of a module in the published source (`sourceGitBranch`), e.g. `examples/backfill-job.ts`. */
      module: string;
      /** Export to call with `params`; absent: the module runs as a script. */
      export?: string;
      params: Record<string, string | number | boolean>;
    }
  | {
      kind: 'command';
      /** argv of an image command, e.g. `["python", "-m", "backfill"]`. */
      command: string[];
      params: Record<string, string | number | boolean>;
    };

export interface JobTimeouts {
  /** The run's cluster must be RUNNING this long after the run starts. */
  preRunningSeconds: number;
  /** The whole run, from its start to the driver's exit. */
  activeSeconds: number;
  /** The driver may be silent (no output) this long. */
  idleSeconds: number;
}

export interface JobRetries {
  /** Extra attempts after a FAILED or TIMED_OUT run (0: none). */
  limit: number;
  /** Delay before the first retry; doubles per attempt up to `maxBackoffSeconds`. */
  backoffSeconds: number;
  maxBackoffSeconds: number;
}

export interface JobCleanup {
  deleteClusterOnSuccess: boolean;
  deleteClusterOnFailure: boolean;
  /** Run records are kept this many days after they end (DynamoDB TTL). */
  runRecordTtlDays: number;
}

/** The validated, defaulted job definition a user gives (API body after parsing). */
export interface JobDefinitionInput {
  name: string;
  namespace?: string;
  /** `cron(...)`, `rate(...)` or `at(...)`. */
  schedule: string;
  /** IANA time zone the schedule is evaluated in. */
  timezone: string;
  cluster: { template?: string; overrides: Record<string, unknown> };
  entry: JobEntry;
  /** Branch of the published source the module entry is taken from. */
  sourceGitBranch?: string;
  timeouts: JobTimeouts;
  retries: JobRetries;
  concurrency: ConcurrencyPolicy;
  catchUp: CatchUpPolicy;
  cleanup: JobCleanup;
  /** Paused jobs keep their definition but their schedule fires nothing. */
  enabled: boolean;
}

export interface JobRecord extends JobDefinitionInput {
  id: string;
  owner: string;
  principalArn?: string;
  namespace: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  /** Fire times before this are not caught up (set at create and at each schedule change). */
  scheduleAnchorAt: string;
  /** The latest fire time the local scheduler handled (catch-up starts after it). */
  lastFiredAt?: string;
}

export const RUN_STATUSES = [
  'PENDING',
  'PROVISIONING',
  'SUBMITTING',
  'RUNNING',
  'SUCCEEDED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'SKIPPED',
  'CLEANED',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses in which a run may still hold a cluster or a driver. */
export const ACTIVE_RUN_STATUSES: readonly RunStatus[] = ['PENDING', 'PROVISIONING', 'SUBMITTING', 'RUNNING'];
/** Outcomes: recorded before anything is torn down; only CLEANED follows them. */
export const OUTCOME_STATUSES: readonly RunStatus[] = ['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'];
/** Nothing leaves these. */
export const FINAL_STATUSES: readonly RunStatus[] = ['SKIPPED', 'CLEANED'];

export type RunTrigger = 'schedule' | 'manual' | 'catch-up' | 'retry';

export interface RunRecord {
  id: string;
  jobId: string;
  jobName: string;
  owner: string;
  /** The fire time the run is for (the run id derives from it). */
  scheduledAt: string;
  trigger: RunTrigger;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
  status: RunStatus;
  /** Kept after CLEANED: SUCCEEDED, FAILED, TIMED_OUT or CANCELLED. */
  outcome?: RunStatus;
  statusReason?: string;
  version: number;
  createdAt: string;
  updatedAt: string;
  provisioningAt?: string;
  runningAt?: string;
  /** When the outcome was recorded (end of the run proper). */
  endedAt?: string;
  cleanedAt?: string;
  /** The run's own cluster, once asked for. */
  clusterId?: string;
  /** Deadlines, fixed when the run starts provisioning. */
  preRunningDeadline?: string;
  activeDeadline?: string;
  /** What the driver process reported. */
  driver?: { exitCode?: number | null; signal?: string | null; stderrTail?: string; pid?: number; lastOutputAt?: string };
  /** Where the driver's logs were copied before teardown. */
  logsRef?: string;
  /** Dollars the run's cluster cost (copied from the cluster record at teardown). */
  cost?: number;
  /** A retry does not start before this time. */
  notBefore?: string;
  /** A cancel was asked for while the run was active. */
  cancelRequestedAt?: string;
  /** Epoch seconds after which the record may be dropped (DynamoDB TTL). */
  expiresAt?: number;
}

/** One recorded run status change. */
export interface RunStatusChange {
  runId: string;
  from: RunStatus | null;
  to: RunStatus;
  at: string;
  actor: string;
  /** What caused it (a trigger id, a driver exit, a deadline check, a cancel request). */
  stimulusId: string;
  reason?: string;
  version: number;
}
