/**
 * Where a scheduled-job run's driver logs are kept once copied, so they
 * outlive the run's cluster (its pods, its namespace). Adapters: S3
 * (`adapters/jobs/run-logs-s3.ts`, on AWS) and memory (tests). The local
 * backend's driver keeps its own copy on disk (`adapters/jobs/local-driver.ts`).
 */
export interface RunLogStore {
  /** Store (or replace) the run's log; returns where it is, e.g. `s3://bucket/key`. */
  put(runId: string, text: string): Promise<string>;
  /** The stored log, or undefined when none was copied. */
  get(runId: string): Promise<string | undefined>;
}

/** Run ids are what `runIdFor` makes; anything else never reaches a storage key. */
export const RUN_ID_PATTERN = /^r-[a-z0-9-]{1,100}$/;
