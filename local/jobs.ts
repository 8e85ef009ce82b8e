import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { LocalJobDriver } from '../adapters/jobs/local-driver.ts';
import { defaultSourceStore } from '../adapters/source/store.ts';
import { LocalJobScheduler } from '../adapters/scheduler/local.ts';
import { DynamoDbJobStore } from '../adapters/store/jobs-dynamodb.ts';
import { ClusterService } from '../control/clusters.ts';
import type { QuotaPolicy } from '../shared/quota/config.ts';
import { RunDriver } from '../control/job-runs.ts';
import { JobService } from '../control/jobs.ts';
import type { Clock } from '../shared/core/clock.ts';
import type { IdGenerator } from '../shared/core/ids.ts';
import type { Logger } from '../shared/core/logger.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { WorkQueue } from '../shared/ports/work-queue.ts';

/**
 * Scheduled jobs in the local stack: the job store on the stack's table, the
 * local scheduler (croner) ticking every `tickMs`, the run driver stepping
 * every unfinished run on the same beat (and at once when a run is created or
 * cancelled), and drivers as child processes pointed at the local API.
 * On restart the first tick catches up missed fires by each job's policy,
 * and runs whose driver died with the old stack are failed with a reason.
 */
export interface LocalJobsOptions {
  doc: DynamoDBDocumentClient;
  tableName: string;
  store: ClusterStore;
  queue: WorkQueue;
  clock: Clock;
  ids: IdGenerator;
  stateDir: string;
  apiUrl: () => string;
  apiToken?: string;
  processEnv: Record<string, string | undefined>;
  logger: Logger;
  /** @default 1000 */
  tickMs?: number;
  /** The stack's quotas, so clusters of job runs count like any other (`RECC_QUOTAS`). */
  quotas?: QuotaPolicy;
}

export interface LocalJobs {
  readonly service: JobService;
  readonly runner: RunDriver;
  readonly scheduler: LocalJobScheduler;
  readonly driver: LocalJobDriver;
  /** Start the timers (once the API answers, since drivers call it). */
  start(): void;
  /** Stop the timers and kill running drivers (their runs fail as lost on the next start). */
  close(): Promise<void>;
}

export function startLocalJobs(options: LocalJobsOptions): LocalJobs {
  const { logger } = options;
  const jobStore = new DynamoDbJobStore(options.doc, { tableName: options.tableName });
  const driver = new LocalJobDriver({
    stateDir: options.stateDir,
    apiUrl: options.apiUrl,
    ...(options.apiToken ? { apiToken: options.apiToken } : {}),
    baseEnv: options.processEnv,
    logger: logger.child({ part: 'driver' }),
    sourceStoreDir: defaultSourceStore(options.stateDir, options.processEnv),
  });
  const clusters = new ClusterService({ store: options.store, queue: options.queue, clock: options.clock, ids: options.ids, logger: logger.child({ part: 'clusters' }), ...(options.quotas ? { quotas: options.quotas } : {}) });
  // The service and the run driver refer to each other: the service kicks the driver when a run is created.
  const holder: { runner?: RunDriver } = {};
  const kick = (runId: string): void => {
    void holder.runner?.step(runId).catch((err: unknown) => logger.warn('run step failed', { runId, error: err }));
  };
  const scheduler = new LocalJobScheduler({
    store: jobStore,
    clock: options.clock,
    fire: (job, at, trigger) => service.trigger(job.id, at, trigger),
    recordMissed: (job, at) => service.recordMissed(job, at),
    logger: logger.child({ part: 'scheduler' }),
  });
  const service: JobService = new JobService({ jobs: jobStore, scheduler, driver, clock: options.clock, logger, onRunCreated: (run) => kick(run.id) });
  const r = new RunDriver({ jobs: jobStore, jobService: service, clusters, clusterStore: options.store, driver, clock: options.clock, logger: logger.child({ part: 'runs' }) });
  holder.runner = r;

  let timer: NodeJS.Timeout | undefined;
  let busy = false;
  const tick = async (): Promise<void> => {
    await scheduler.tick().catch((err: unknown) => logger.warn('job scheduler tick failed', { error: err }));
    await r.stepAll().catch((err: unknown) => logger.warn('run driver tick failed', { error: err }));
  };
  return {
    service,
    runner: r,
    scheduler,
    driver,
    start() {
      if (timer) return;
      timer = setInterval(() => {
        if (busy) return;
        busy = true;
        void tick().finally(() => {
          busy = false;
        });
      }, options.tickMs ?? 1000);
      timer.unref();
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = undefined;
      await driver.close();
    },
  };
}
