import { isoAt, type Clock } from '../shared/core/clock.ts';
import { ReccError } from '../shared/core/errors.ts';
import { silentLogger, type Logger } from '../shared/core/logger.ts';
import { costToDate } from '../shared/cost/accrual.ts';
import { JobStoreConflictError } from '../shared/jobs/errors.ts';
import {
  handleRunEvent,
  isActiveRun,
  isOutcome,
  nextRunEvent,
  retryDelaySeconds,
  teardownInstructions,
  type RunEvent,
  type RunInstruction,
  type RunPolicy,
} from '../shared/jobs/run-machine.ts';
import type { JobRecord, RunRecord } from '../shared/jobs/types.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { JobDriver } from '../shared/ports/job-driver.ts';
import type { JobStore } from '../shared/ports/job-store.ts';
import type { ClusterService } from './clusters.ts';
import type { JobService } from './jobs.ts';

/**
 * Drives runs: one idempotent, level-triggered `step(runId)` that observes
 * (run record, its cluster, its driver), asks the pure machine for the next
 * event, stores the transition (conditional on the version) and only then
 * carries out its instructions. So the outcome is recorded before anything
 * is torn down, a crash at any point is resumed by the next step, and a lost
 * race is simply re-read.
 *
 * The local stack steps every unfinished run each second; on AWS the
 * job-starter and a timer would do the same.
 */
export interface RunDriverDeps {
  jobs: JobStore;
  jobService: JobService;
  clusters: ClusterService;
  clusterStore: ClusterStore;
  driver: JobDriver;
  clock: Clock;
  logger?: Logger;
  /** Actor name in the history. @default 'run-driver' */
  actor?: string;
}

const DEFAULT_POLICY: RunPolicy = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };
const MAX_EVENTS_PER_STEP = 12;

export class RunDriver {
  private readonly logger: Logger;
  private readonly actor: string;
  private readonly inFlight = new Map<string, Promise<RunRecord | undefined>>();

  constructor(private readonly deps: RunDriverDeps) {
    this.logger = deps.logger ?? silentLogger;
    this.actor = deps.actor ?? 'run-driver';
  }

  /** Step every unfinished run once (a periodic tick). Failures are logged per run. */
  async stepAll(): Promise<void> {
    const runs = await this.deps.jobs.listUnfinishedRuns();
    await Promise.all(runs.map((r) => this.step(r.id).catch((err: unknown) => this.logger.warn('run step failed', { runId: r.id, error: err }))));
  }

  /** One step of a run; concurrent calls for the same run share one step. */
  step(runId: string): Promise<RunRecord | undefined> {
    const running = this.inFlight.get(runId);
    if (running) return running;
    const p = this.stepOnce(runId).finally(() => this.inFlight.delete(runId));
    this.inFlight.set(runId, p);
    return p;
  }

  private async stepOnce(runId: string): Promise<RunRecord | undefined> {
    let run = await this.deps.jobs.getRun(runId);
    for (let i = 0; run !== undefined && i < MAX_EVENTS_PER_STEP; i += 1) {
      const job = await this.deps.jobs.getJob(run.jobId);
      const policy = job ? policyOf(job) : DEFAULT_POLICY;
      if (isOutcome(run.status)) return this.teardown(run, policy, teardownInstructions(run, policy));
      if (!isActiveRun(run.status)) return run;
      const event = await this.nextEvent(run, job);
      if (event === undefined) return run;
      const step = handleRunEvent(run, event, policy, { actor: this.actor, at: isoAt(this.deps.clock) });
      if (step.kind === 'ignored') return run;
      let stored: RunRecord;
      try {
        stored = await this.deps.jobs.putRun(step.next, run.version, step.kind === 'changed' ? step.change : undefined);
      } catch (err) {
        if (err instanceof JobStoreConflictError) {
          run = await this.deps.jobs.getRun(runId);
          continue;
        }
        throw err;
      }
      if (step.kind === 'changed') this.logger.info('run status', { runId, jobId: run.jobId, from: run.status, to: stored.status, reason: stored.statusReason, stimulusId: event.stimulusId });
      run = stored;
      if (isOutcome(run.status)) return this.teardown(run, policy, step.instructions);
      // create-cluster and start-driver follow from the stored status on the next turn (so a crash resumes them).
    }
    return run;
  }

  /** What happened since the last step, as at most one event. */
  private async nextEvent(run: RunRecord, job: JobRecord | undefined): Promise<RunEvent | undefined> {
    const now = this.deps.clock.now();
    if (job === undefined && run.cancelRequestedAt === undefined) return { type: 'fail', stimulusId: `job-gone:${run.jobId}`, reason: `job ${run.jobName} was deleted` };
    if (run.status === 'PENDING') {
      if (run.cancelRequestedAt !== undefined) return { type: 'cancel', stimulusId: `cancel:${run.cancelRequestedAt}`, by: 'request' };
      if (run.notBefore !== undefined && now < Date.parse(run.notBefore)) return undefined;
      const t = (job as JobRecord).timeouts;
      return {
        type: 'start',
        stimulusId: `start:${run.id}`,
        preRunningDeadline: new Date(now + t.preRunningSeconds * 1000).toISOString(),
        activeDeadline: new Date(now + t.activeSeconds * 1000).toISOString(),
      };
    }
    const cluster = run.clusterId === undefined ? undefined : await this.deps.clusterStore.get(run.clusterId);
    const driver = run.status === 'RUNNING' || run.status === 'SUBMITTING' ? await this.deps.driver.status(run.id) : undefined;
    const event = nextRunEvent(run, {
      now,
      ...(run.clusterId === undefined ? {} : { cluster: cluster?.status ?? 'missing' }),
      ...(cluster?.statusReason === undefined ? {} : { clusterReason: cluster.statusReason }),
      ...(driver === undefined ? {} : { driver }),
      idleTimeoutMs: (job?.timeouts.idleSeconds ?? 3600) * 1000,
    });
    if (event !== undefined) return event;
    // A RUNNING run whose driver is unknown lost it (its host restarted): the exit status can never come.
    if (run.status === 'RUNNING' && driver === undefined) return { type: 'fail', stimulusId: `driver-lost:${run.id}`, reason: 'the driver process was lost (the stack restarted while it ran)' };
    // Resume a step that stored PROVISIONING / SUBMITTING and died before acting.
    if (run.status === 'PROVISIONING' && run.clusterId === undefined) return this.createCluster(run, job as JobRecord);
    if (run.status === 'SUBMITTING') return this.startDriver(run, job as JobRecord);
    return undefined;
  }

  /** Ask for the run's own cluster (idempotent by the run id as client token), tagged with the job. */
  private async createCluster(run: RunRecord, job: JobRecord): Promise<RunEvent> {
    try {
      const result = await this.deps.clusters.create(
        { user: run.owner, admin: false },
        {
          ...(job.cluster.template === undefined ? {} : { template: job.cluster.template }),
          overrides: {
            // The job's published branch is the cluster's too: its workers import the same task modules, and on EKS
            // the driver runs the entry from the branch's mount.
            ...(job.sourceGitBranch === undefined ? {} : { sourceGitBranch: job.sourceGitBranch }),
            ...job.cluster.overrides,
            tags: { ...(job.cluster.overrides.tags as Record<string, string> | undefined), 'recc-job': job.name, 'recc-run': run.id },
          },
          job: job.name,
          clientToken: run.id,
        },
      );
      return { type: 'cluster-requested', stimulusId: `cluster-created:${result.cluster.id}`, clusterId: result.cluster.id };
    } catch (err) {
      const why = err instanceof ReccError && err.exposable ? err.message : 'the cluster request failed';
      this.logger.warn('run cluster request failed', { runId: run.id, error: err });
      return { type: 'fail', stimulusId: `cluster-create-failed:${run.id}`, reason: `could not create the run's cluster: ${why}` };
    }
  }

  private async startDriver(run: RunRecord, job: JobRecord): Promise<RunEvent> {
    try {
      const { pid } = await this.deps.driver.start({ run, job, clusterId: run.clusterId as string });
      return { type: 'driver-started', stimulusId: `driver-start:${pid ?? run.id}`, ...(pid === undefined ? {} : { pid }) };
    } catch (err) {
      this.logger.warn('run driver start failed', { runId: run.id, error: err });
      return { type: 'fail', stimulusId: `driver-start-failed:${run.id}`, reason: `the driver could not start: ${(err as Error).message}` };
    }
  }

  /** Kill, copy logs, delete the cluster, note the cost, then CLEANED; every step idempotent. */
  private async teardown(run: RunRecord, policy: RunPolicy, instructions: RunInstruction[]): Promise<RunRecord> {
    let logsRef: string | undefined;
    for (const ins of instructions) {
      if (ins.do === 'kill-driver') await this.deps.driver.kill(run.id);
      if (ins.do === 'copy-logs') logsRef = await this.deps.driver.copyLogs(run.id);
      if (ins.do === 'delete-cluster' && run.clusterId !== undefined) {
        await this.deps.clusters.delete({ user: run.owner, admin: false }, run.clusterId).catch((err: unknown) => {
          if ((err as ReccError).statusCode !== 404) throw err;
        });
      }
      if (ins.do === 'schedule-retry') {
        const job = await this.deps.jobs.getJob(run.jobId);
        if (job !== undefined) {
          const delay = retryDelaySeconds(ins.attempt, job.retries) * 1000;
          await this.deps.jobService.trigger(job.id, Date.parse(run.scheduledAt), 'retry', this.actor, ins.attempt, this.deps.clock.now() + delay);
        }
      }
    }
    const cluster = run.clusterId === undefined ? undefined : await this.deps.clusterStore.get(run.clusterId);
    const cost = cluster === undefined ? undefined : Math.round(costToDate(cluster, this.deps.clock.now()) * 10_000) / 10_000;
    const step = handleRunEvent(run, { type: 'cleaned', stimulusId: `cleaned:${run.id}`, ...(logsRef === undefined ? {} : { logsRef }), ...(cost === undefined ? {} : { cost }) }, policy, {
      actor: this.actor,
      at: isoAt(this.deps.clock),
    });
    if (step.kind !== 'changed') return run;
    try {
      return await this.deps.jobs.putRun(step.next, run.version, step.change);
    } catch (err) {
      if (err instanceof JobStoreConflictError) return (await this.deps.jobs.getRun(run.id)) ?? run;
      throw err;
    }
  }
}

function policyOf(job: JobRecord): RunPolicy {
  return { deleteClusterOnSuccess: job.cleanup.deleteClusterOnSuccess, deleteClusterOnFailure: job.cleanup.deleteClusterOnFailure, retryLimit: job.retries.limit };
}
