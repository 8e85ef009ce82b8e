import type { Clock } from '../../shared/core/clock.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { JobStoreConflictError, JobValidationError } from '../../shared/jobs/errors.ts';
import { planFires } from '../../shared/jobs/fire-plan.ts';
import { parseSchedule } from '../../shared/jobs/schedule.ts';
import type { JobRecord, RunTrigger } from '../../shared/jobs/types.ts';
import type { JobScheduler } from '../../shared/ports/job-scheduler.ts';
import type { JobStore } from '../../shared/ports/job-store.ts';

/**
 * The local stack's JobScheduler: it evaluates the same expressions as
 * EventBridge Scheduler (croner, through `shared/jobs/schedule.ts`) on each
 * `tick()`. The job store is its registry, so after a restart the next tick
 * sees every job and the fire times missed while the stack was down: by the
 * job's `catchUp` policy the latest is run (`catch-up`) or all are recorded
 * as missed. `lastFiredAt` is moved forward with a conditional write; run ids
 * derive from the fire time, so a tick racing another fires each time once.
 */
export interface LocalJobSchedulerDeps {
  store: JobStore;
  clock: Clock;
  /** The job starter: the same use case the Lambda calls. */
  fire: (job: JobRecord, scheduledAtMs: number, trigger: RunTrigger) => Promise<unknown>;
  /** Record a fire time that will not run. */
  recordMissed: (job: JobRecord, scheduledAtMs: number) => Promise<unknown>;
  /** A due time this close to now fires on time. @default 90000 */
  graceMs?: number;
  /** At most this many missed fires are recorded per job and tick. @default 10 */
  maxMissed?: number;
  logger?: Logger;
}

export class LocalJobScheduler implements JobScheduler {
  private readonly graceMs: number;
  private readonly maxMissed: number;
  private readonly logger: Logger;

  constructor(private readonly deps: LocalJobSchedulerDeps) {
    this.graceMs = deps.graceMs ?? 90_000;
    this.maxMissed = deps.maxMissed ?? 10;
    this.logger = deps.logger ?? silentLogger;
  }

  /** The store holds the schedule; creating one only checks that it can be evaluated here. */
  async create(job: JobRecord): Promise<void> {
    const { problems } = parseSchedule(job.schedule, job.timezone);
    if (problems.length > 0) throw new JobValidationError(problems);
  }

  async update(job: JobRecord): Promise<void> {
    await this.create(job);
  }

  async delete(): Promise<void> {}

  /** Fire or record every due time of every job. Returns what it did, for logs and tests. */
  async tick(): Promise<{ fired: { jobId: string; at: number; trigger: RunTrigger }[]; missed: { jobId: string; at: number }[] }> {
    const now = this.deps.clock.now();
    const fired: { jobId: string; at: number; trigger: RunTrigger }[] = [];
    const missed: { jobId: string; at: number }[] = [];
    for (const job of await this.deps.store.listJobs()) {
      const plan = planFires(job, now, { graceMs: this.graceMs, maxMissed: this.maxMissed });
      if (plan.handledUntil === undefined) continue;
      try {
        // Claim the fire times first: a concurrent tick that loses this write does nothing.
        await this.deps.store.putJob({ ...job, lastFiredAt: new Date(plan.handledUntil).toISOString(), version: job.version + 1 }, job.version);
      } catch (err) {
        if (err instanceof JobStoreConflictError) continue;
        throw err;
      }
      for (const at of plan.missed) {
        await this.deps.recordMissed(job, at).catch((err: unknown) => this.logger.warn('could not record a missed fire', { jobId: job.id, at, error: err }));
        missed.push({ jobId: job.id, at });
      }
      if (plan.fire) {
        const { at, trigger } = plan.fire;
        await this.deps.fire(job, at, trigger).catch((err: unknown) => this.logger.warn('job fire failed', { jobId: job.id, at, error: err }));
        fired.push({ jobId: job.id, at, trigger });
      }
    }
    return { fired, missed };
  }
}
