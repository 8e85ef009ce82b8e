import type { JobRecord, RunRecord } from '../jobs/types.ts';

/**
 * Starts and watches a run's driver inside the run's cluster: a child
 * process on the local backend (`adapters/jobs/local-driver.ts`), a
 * Kubernetes Job in the cluster's namespace on EKS. The driver gets
 * `RECC_CLUSTER=id:<cluster>` so the same script that runs ad hoc runs here
 * unchanged. Every method is idempotent per run id.
 */
export type DriverStatus =
  | { running: true; pid?: number; lastOutputAt?: number }
  | { running: false; exitCode: number | null; signal: string | null; stderrTail: string };

export interface JobDriver {
  /** Start the driver once per run (a second call returns the first start's pid). */
  start(input: { run: RunRecord; job: JobRecord; clusterId: string }): Promise<{ pid?: number }>;
  /** undefined: no driver is known for the run (never started, or lost with its host). */
  status(runId: string): Promise<DriverStatus | undefined>;
  /** Stop the driver (TERM, then KILL); a driver that is gone is success. */
  kill(runId: string): Promise<void>;
  /** Copy the driver's logs somewhere that outlives the cluster; returns where. */
  copyLogs(runId: string): Promise<string | undefined>;
  /** The copied (or, while running, the live) logs. */
  readLogs(runId: string): Promise<string | undefined>;
}
