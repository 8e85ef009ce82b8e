import type { JobRecord } from '../jobs/types.ts';

/**
 * One schedule per job definition, created, updated and deleted with it.
 * Adapters: EventBridge Scheduler (`adapters/scheduler/eventbridge.ts`, the
 * schedule targets the job-starter Lambda with a retry policy and a DLQ) and
 * the local stack's evaluator (`adapters/scheduler/local.ts`, croner).
 *
 * Every fire calls the same use case, `JobService.trigger(jobId, scheduledAt)`.
 * All methods are idempotent: create of an existing schedule updates it,
 * delete of a missing one succeeds.
 */
export interface JobScheduler {
  create(job: JobRecord): Promise<void>;
  update(job: JobRecord): Promise<void>;
  delete(job: Pick<JobRecord, 'id'>): Promise<void>;
}

/** What a schedule fire delivers to the job starter (the Lambda's event, the local tick's call). */
export interface JobFire {
  jobId: string;
  /** ISO time the fire was scheduled for (EventBridge's `<aws.scheduler.scheduled-time>`). */
  scheduledTime: string;
}

/** The schedule name for a job: `recc-<job id>` (EventBridge: 1–64 of [0-9a-zA-Z-_.]). */
export function scheduleNameFor(jobId: string): string {
  return `recc-${jobId}`.slice(0, 64);
}
