import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { SUPERVISOR_STALE_ENV } from '../comm/supervisor-lease.ts';
import { getNumber } from '../shared/core/env.ts';
import { LocalProcessBackend } from '../adapters/local-backend/index.ts';
import { defaultSourceStore } from '../adapters/source/store.ts';
import { SqsWorkQueue } from '../adapters/queue/sqs.ts';
import { SqsClusterQueues } from '../adapters/cluster-queues/sqs.ts';
import { generateClusterSecrets } from '../adapters/secrets/index.ts';
import { DynamoDbClusterStore, createTable } from '../adapters/store/dynamodb.ts';
import { DynamoDbAlertLedger } from '../adapters/store/alert-ledger-dynamodb.ts';
import type { AlertLedger } from '../shared/ports/alert-ledger.ts';
import type { JobStore } from '../shared/ports/job-store.ts';
import { startLocalJobs, type LocalJobs } from './jobs.ts';
import { Provisioner, secretsRequestFor, type ProvisionerConfig } from '../control/provisioner.ts';
import { systemClock, type Clock } from '../shared/core/clock.ts';
import { randomIds, type IdGenerator } from '../shared/core/ids.ts';
import type { HarvestConfig } from '../shared/harvest/types.ts';
import type { QuotaPolicy } from '../shared/quota/config.ts';
import { silentLogger, type Logger } from '../shared/core/logger.ts';
import { QUEUE_ENV, type ClusterQueues } from '../shared/ports/cluster-queues.ts';
import { SECRET_FILES } from '../shared/definition/types.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { ComputeBackend } from '../shared/ports/compute-backend.ts';
import type { WorkQueue } from '../shared/ports/work-queue.ts';
import { LOCAL_IDENTITY, startApiServer, type ApiServer } from './api-server.ts';
import { startEmbeddedDynalite, type EmbeddedDynalite } from './dynalite.ts';
import { LocalStackStartError } from './errors.ts';
import { clusterLogsRoute } from './logs.ts';
import { ProvisionerPoller } from './poller.ts';
import { reconcileOnStart, type ReconcileReport } from './reconcile.ts';
import { LOCAL_CREDENTIALS, LOCAL_REGION, startEmbeddedSqs, type EmbeddedSqs } from './sqs.ts';
import { lockStateDir } from './state-lock.ts';

/**
 * The embedded local stack behind `recc up` and `npm start`, in one process
 * (plus the cluster processes it starts):
 *
 * | part | what runs |
 * |---|---|
 * | store | dynalite 4.0.0 on 127.0.0.1, LevelDB under `<stateDir>/dynamodb` (records survive restarts) |
 * | queue | fauxqs 1.9.2 on 127.0.0.1 (SQS protocol; in memory, refilled by the start-up reconcile) |
 * | cluster queues | per-cluster request/DLQ/reply queues on the same fauxqs (`recc-` prefix), payloads in its S3 |
 * | provisioner | the same `control/provisioner.ts` Lambda runs, fed by a long-polling loop |
 * | backend | `LocalProcessBackend`: scheduler and workers as local processes |
 * | API | `local/api-server.ts`: the same handlers as Lambda, plus `GET /clusters/{id}/logs` |
 * | periodic jobs | the harvester and cost reporter (`PeriodicJob`s), when provided |
 *
 * Identity is the OS user. Binding anything but loopback needs a token.
 */
export interface PeriodicJob {
  name: string;
  intervalMs: number;
  run: (ctx: PeriodicJobContext) => Promise<unknown>;
}

export interface PeriodicJobContext {
  store: ClusterStore;
  backend: ComputeBackend;
  queue: WorkQueue;
  /** Per-cluster SQS queues (the harvester removes orphans and dead sessions). */
  clusterQueues?: ClusterQueues;
  /** Alert de-duplication markers, kept in the local store so a restart of `recc up` does not repeat alerts. */
  alertLedger?: AlertLedger;
  /** Scheduled jobs and runs (the harvester fails stuck runs, the cost reporter alerts failed ones). */
  jobs?: JobStore;
  clock: Clock;
  logger: Logger;
}

export interface LocalStackOptions {
  /** 0 picks a free port. @default 4600 */
  port?: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** @default '.recc' */
  stateDir?: string;
  /** Bearer token every API request must carry (required for a non-loopback host). */
  token?: string;
  /** @default the OS user */
  user?: string;
  /** One API token per user (the console's multi-user mode); each token names its caller. */
  users?: ReadonlyArray<{ token: string; identity: { user: string; admin?: boolean } }>;
  logger?: Logger;
  clock?: Clock;
  ids?: IdGenerator;
  /** Env cluster processes start from (PATH, HOME, …). */
  processEnv?: Record<string, string | undefined>;
  /** Honour `RECC_TEST_WORKER_COMMAND` in worker env (tests only). */
  testHooks?: boolean;
  /** argv replacing the `recc` entrypoint in pod commands. */
  reccCommand?: string[];
  /** Provisioner settings; locally it polls every second and gives up after 3 minutes. */
  provisioner?: Partial<ProvisionerConfig>;
  /** Harvester, cost reporter, … run on timers. */
  periodicJobs?: PeriodicJob[];
  /** The harvester's settings, so the API's `reapAt` matches the harvester. @default DEFAULT_HARVEST_CONFIG */
  harvest?: HarvestConfig;
  /** Per-user and per-group quotas (`RECC_QUOTAS`). @default QuotaPolicy.defaults() */
  quotas?: QuotaPolicy;
  /** How often the local job scheduler ticks and unfinished runs are stepped (local/jobs.ts). @default 1000 */
  jobTickMs?: number;
}

export interface LocalStack {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  readonly stateDir: string;
  readonly user: string;
  readonly store: ClusterStore;
  readonly backend: LocalProcessBackend;
  /** Per-cluster SQS queues on the embedded fauxqs. */
  readonly clusterQueues: ClusterQueues;
  /** The embedded fauxqs (SQS and S3). */
  readonly sqsEndpoint: string;
  readonly reconcile: ReconcileReport;
  /** Scheduled jobs: the use cases, the run driver and the local scheduler. */
  readonly jobs: LocalJobs;
  /** Stop serving and polling. Cluster processes keep running unless `teardownClusters`. Safe to call twice. */
  close(options?: { teardownClusters?: boolean }): Promise<void>;
}

export const LOCAL_TABLE = 'recc-clusters';
export const DEFAULT_LOCAL_PORT = 4600;

export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const logger = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const stateDir = resolve(options.stateDir ?? '.recc');
  const user = options.user ?? userInfo().username;
  const host = options.host ?? '127.0.0.1';
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  // One recc up per state dir (atomic; see state-lock.ts). StateDirInUseError names the other pid.
  const lock = await lockStateDir(stateDir);

  const cleanups: Array<() => Promise<unknown>> = [async () => lock.release()];
  const cleanup = async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
  };

  try {
    const dynamo: EmbeddedDynalite = await startEmbeddedDynalite({ path: join(stateDir, 'dynamodb') });
    cleanups.push(() => dynamo.stop());
    const dynamoClient = new DynamoDBClient({ region: LOCAL_REGION, endpoint: dynamo.endpoint, credentials: LOCAL_CREDENTIALS });
    cleanups.push(async () => dynamoClient.destroy());
    const doc = DynamoDBDocumentClient.from(dynamoClient, { marshallOptions: { removeUndefinedValues: true } });
    await createTable(dynamoClient, LOCAL_TABLE, { ifMissing: true });
    const store = new DynamoDbClusterStore(doc, { tableName: LOCAL_TABLE, transactions: false });
    const alertLedger = new DynamoDbAlertLedger({ client: doc, tableName: LOCAL_TABLE, now: () => clock.now() });

    // fauxqs keeps its port across restarts when it can: the queue URLs in running schedulers' env stay valid.
    const sqsPortFile = join(stateDir, 'sqs-port');
    const savedSqsPort = Number((await readFile(sqsPortFile, 'utf8').catch(() => '')).trim()) || 0;
    const sqs: EmbeddedSqs = await startEmbeddedSqs({ port: savedSqsPort }).catch((err: unknown) => {
      if (savedSqsPort === 0) throw err;
      logger.warn('the previous local SQS port is taken; running clusters lose their SQS route', { port: savedSqsPort });
      return startEmbeddedSqs();
    });
    await writeFile(sqsPortFile, new URL(sqs.endpoint).port, { mode: 0o600 });
    cleanups.push(() => sqs.stop());
    const queue = new SqsWorkQueue({ queueUrl: sqs.queueUrl, client: sqs.client });
    const clusterQueues = new SqsClusterQueues({ client: sqs.client, payloadBucket: sqs.payloadBucket, clock, logger: logger.child({ component: 'cluster-queues' }) });

    const backend = new LocalProcessBackend({
      stateDir,
      baseEnv: options.processEnv ?? {},
      logger: logger.child({ component: 'local-backend' }),
      testHooks: options.testHooks ?? false,
      ...(options.reccCommand ? { reccCommand: options.reccCommand } : {}),
      ...(options.processEnv?.[SUPERVISOR_STALE_ENV] ? { supervisorStaleSeconds: getNumber(options.processEnv, SUPERVISOR_STALE_ENV, 600) } : {}),
      sourceStoreDir: defaultSourceStore(stateDir, options.processEnv ?? {}),
    });
    cleanups.push(async () => backend.releaseLease());

    const provisioner = new Provisioner({
      store,
      queue,
      backend,
      clock,
      logger: logger.child({ component: 'provisioner' }),
      generateSecrets: (definition) => generateClusterSecrets(secretsRequestFor(definition)),
      queues: clusterQueues,
      // An adaptive scheduler asks this stack's API for workers. Behind tokens it proves its
      // cluster with the cluster token it already holds (as on AWS): no user's token goes
      // into a cluster's environment, and the API lets it reach that one cluster only.
      controlPlaneEnv: (definition): Record<string, string> =>
        options.token || options.users?.length
          ? { RECC_API_URL: apiUrl, RECC_API_SIGNING: 'none', RECC_API_CLUSTER: definition.clusterId, RECC_API_CLUSTER_TOKEN_FILE: `${definition.secretMountPath.replace(/\/+$/, '')}/${SECRET_FILES.token}` }
          : { RECC_API_URL: apiUrl },
      // The local scheduler talks to the embedded fauxqs (its SQS and S3), with the local stack's dummy credentials.
      queueEnv: {
        [QUEUE_ENV.sqsEndpoint]: sqs.endpoint,
        [QUEUE_ENV.payloadEndpoint]: sqs.endpoint,
        AWS_REGION: LOCAL_REGION,
        AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
        AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
      },
      config: { pollDelaySeconds: 1, provisioningTimeoutMs: 3 * 60_000, deletionTimeoutMs: 3 * 60_000, ...options.provisioner },
    });

    const reconcile = await reconcileOnStart({ store, backend, queue, clusterQueues, clock, logger: logger.child({ component: 'reconcile' }) });

    const poller = new ProvisionerPoller({ queue, provisioner, logger: logger.child({ component: 'poller' }) });
    poller.start();
    cleanups.push(() => poller.stop());

    let apiUrl = '';
    const jobs: LocalJobs = startLocalJobs({
      doc,
      tableName: LOCAL_TABLE,
      store,
      queue,
      clock,
      ids: options.ids ?? randomIds,
      stateDir,
      apiUrl: () => apiUrl,
      ...(options.token ? { apiToken: options.token } : {}),
      processEnv: options.processEnv ?? {},
      logger: logger.child({ component: 'jobs' }),
      ...(options.jobTickMs === undefined ? {} : { tickMs: options.jobTickMs }),
      ...(options.quotas ? { quotas: options.quotas } : {}),
    });
    cleanups.push(() => jobs.close());

    const deps = {
      jobService: jobs.service,
      store,
      queue,
      clock,
      ids: options.ids ?? randomIds,
      logger: logger.child({ component: 'api' }),
      // The local stack has no IAM: the one local user is presented as a session of the local role (api-server.ts).
      identity: LOCAL_IDENTITY,
      ...(options.harvest ? { harvest: options.harvest } : {}),
      ...(options.quotas ? { quotas: options.quotas } : {}),
    };
    const port = options.port ?? DEFAULT_LOCAL_PORT;
    const api: ApiServer = await startApiServer({
      port,
      host,
      deps,
      identity: { user },
      ...(options.token ? { requireToken: options.token } : {}),
      ...(options.users ? { users: options.users } : {}),
      extraRoutes: [clusterLogsRoute(deps, stateDir)],
    }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') {
        throw new LocalStackStartError(`port ${port} on ${host} is already in use; stop what uses it or pass --port`, { cause: err });
      }
      throw err;
    });
    cleanups.push(() => api.close());
    apiUrl = api.url;
    jobs.start();

    const timers: NodeJS.Timeout[] = [];
    for (const job of options.periodicJobs ?? []) {
      let running = false;
      const timer = setInterval(() => {
        if (running) return;
        running = true;
        job
          .run({ store, backend, queue, clusterQueues, alertLedger, jobs: jobs.store, clock, logger: logger.child({ component: job.name }) })
          .catch((err: unknown) => logger.warn(`${job.name} run failed`, { error: err }))
          .finally(() => {
            running = false;
          });
      }, job.intervalMs);
      timer.unref();
      timers.push(timer);
    }
    cleanups.push(async () => timers.forEach((t) => clearInterval(t)));

    let closing: Promise<void> | undefined;
    return {
      url: api.url,
      host,
      port: api.port,
      stateDir,
      user,
      store,
      backend,
      clusterQueues,
      sqsEndpoint: sqs.endpoint,
      reconcile,
      jobs,
      close: (closeOptions = {}) => {
        closing ??= (async () => {
          if (closeOptions.teardownClusters) {
            for (const ref of await backend.list()) await backend.teardown(ref.clusterId).catch(() => undefined);
          }
          await cleanup();
        })();
        return closing;
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
