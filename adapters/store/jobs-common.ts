import { JobStoreUsageError } from '../../shared/jobs/errors.ts';
import { ACTIVE_RUN_STATUSES, OUTCOME_STATUSES, type JobRecord, type RunRecord, type RunStatusChange } from '../../shared/jobs/types.ts';

/** Contract checks and orderings shared by every JobStore adapter, so memory and DynamoDB agree. */

export function checkJobPut(next: JobRecord, expectedVersion: number): void {
  if (next.version !== expectedVersion + 1) throw new JobStoreUsageError(`putJob: job ${next.id} has version ${next.version}, expected ${expectedVersion + 1}`);
}

export function checkRunCreate(run: RunRecord, change: RunStatusChange): void {
  if (run.version !== 1) throw new JobStoreUsageError(`createRun: run ${run.id} must have version 1`);
  if (change.runId !== run.id || change.version !== 1 || change.to !== run.status) throw new JobStoreUsageError(`createRun: change does not match run ${run.id}`);
}

export function checkRunPut(next: RunRecord, expectedVersion: number, change: RunStatusChange | undefined): void {
  if (next.version !== expectedVersion + 1) throw new JobStoreUsageError(`putRun: run ${next.id} has version ${next.version}, expected ${expectedVersion + 1}`);
  if (change !== undefined && (change.runId !== next.id || change.version !== next.version || change.to !== next.status)) {
    throw new JobStoreUsageError(`putRun: change does not match run ${next.id} at version ${next.version}`);
  }
}

/** A run the driver or the harvester still has to act on. */
export function isUnfinished(run: RunRecord): boolean {
  return ACTIVE_RUN_STATUSES.includes(run.status) || OUTCOME_STATUSES.includes(run.status);
}

export function jobsNewestFirst(a: JobRecord, b: JobRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function runsNewestFirst(a: RunRecord, b: RunRecord): number {
  if (a.scheduledAt !== b.scheduledAt) return a.scheduledAt < b.scheduledAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

export function runsOldestUpdateFirst(a: RunRecord, b: RunRecord): number {
  if (a.updatedAt !== b.updatedAt) return a.updatedAt < b.updatedAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** `run` comes strictly after `cursor` in the newest-first order of runsNewestFirst. */
export function isOlderRun(run: Pick<RunRecord, 'scheduledAt' | 'id'>, cursor: { scheduledAt: string; id: string }): boolean {
  return run.scheduledAt < cursor.scheduledAt || (run.scheduledAt === cursor.scheduledAt && run.id < cursor.id);
}
