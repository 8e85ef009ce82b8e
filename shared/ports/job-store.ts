import type { JobRecord, RunRecord, RunStatusChange } from '../jobs/types.ts';

/**
 * Persistence port for job definitions and their runs. Adapters: in-memory
 * and DynamoDB (the cluster table, single-table design). The contract is
 * `test/conformance/job-store.ts`.
 *
 * Every change is conditional: `createJob` on absence (JobExistsError),
 * `putJob`/`putRun` on the stored version (JobStoreConflictError carrying the
 * current record), `createRun` on absence of the run id, which is derived
 * from (job, fire time): of any number of concurrent creators exactly one
 * gets `created: true`, the others get the stored run.
 */
/** A run's place in the newest-first order of its job's runs. */
export interface RunCursor {
  scheduledAt: string;
  id: string;
}

export interface JobStore {
  createJob(job: JobRecord): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  /** Newest first; every job when `owner` is undefined. */
  listJobs(owner?: string): Promise<JobRecord[]>;
  putJob(next: JobRecord, expectedVersion: number): Promise<JobRecord>;
  /** Deleting a missing job is success. Runs are kept (they expire by TTL). */
  deleteJob(id: string): Promise<void>;

  createRun(run: RunRecord, change: RunStatusChange): Promise<{ run: RunRecord; created: boolean }>;
  getRun(id: string): Promise<RunRecord | undefined>;
  putRun(next: RunRecord, expectedVersion: number, change?: RunStatusChange): Promise<RunRecord>;
  /**
   * A job's runs, newest scheduled time first, at most `limit` (default all),
   * starting strictly after `after` in that order (the last run of the
   * previous page: `GET /jobs/{name}/runs?nextToken=`), so runs fired
   * meanwhile, which are newer, never shift or repeat a page.
   */
  listRuns(jobId: string, options?: { limit?: number; after?: RunCursor }): Promise<RunRecord[]>;
  /** Runs in an active status or with an outcome not yet CLEANED, oldest update first (driver ticks, harvester). */
  listUnfinishedRuns(): Promise<RunRecord[]>;
  runHistory(id: string): Promise<RunStatusChange[]>;
}
