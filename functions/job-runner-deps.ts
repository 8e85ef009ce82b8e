import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { createEksJobDriverFromEnv } from '../adapters/eks/index.ts';
import { runLogStoreFromEnv } from '../adapters/jobs/run-logs-s3.ts';
import { SqsWorkQueue } from '../adapters/queue/sqs.ts';
import { dynamoDbStoreConfigFromEnv } from '../adapters/store/config.ts';
import { createDynamoDbClusterStore } from '../adapters/store/dynamodb.ts';
import { DynamoDbJobStore } from '../adapters/store/jobs-dynamodb.ts';
import { ClusterService } from '../control/clusters.ts';
import { RunDriver } from '../control/job-runs.ts';
import { JobService } from '../control/jobs.ts';
import { systemClock } from '../shared/core/clock.ts';
import { ConfigError } from '../shared/core/errors.ts';
import { getOptionalString, type Env } from '../shared/core/env.ts';
import { randomIds } from '../shared/core/ids.ts';
import type { JobScheduler } from '../shared/ports/job-scheduler.ts';
import { quotaPolicyFromEnv } from '../shared/quota/config.ts';
import { findTemplatesDir } from './commons/deps.ts';
import { powertoolsLogger } from './commons/logger.ts';

/**
 * The job runner's dependencies, built once per cold start: the job and
 * cluster stores on the table (`TABLE_NAME`), the cluster use cases with the
 * provisioning queue (`QUEUE_URL` / `QUEUE_NAME`) and the stage's quotas and
 * templates, the EKS job driver (`RECC_EKS_*`) and the run logs in the
 * payload bucket (`RECC_PAYLOAD_BUCKET`, `job-runs/<run>/driver.log`).
 * `RECC_API_URL` is the API the drivers reach their clusters through.
 */
export async function runDriverFromEnv(env: Env): Promise<RunDriver> {
  const storeConfig = dynamoDbStoreConfigFromEnv(env);
  const queueUrl = getOptionalString(env, 'QUEUE_URL');
  const queueName = getOptionalString(env, 'QUEUE_NAME');
  if (!queueUrl && !queueName) throw new ConfigError('the job runner needs the provisioning queue', [{ path: 'QUEUE_URL', message: 'set QUEUE_URL or QUEUE_NAME' }]);
  const logger = powertoolsLogger({ serviceName: 'recc-job-runner' });
  const dynamo = new DynamoDBClient({ region: storeConfig.region, ...(storeConfig.endpoint ? { endpoint: storeConfig.endpoint } : {}) });
  const jobs = new DynamoDbJobStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), { tableName: storeConfig.tableName });
  const clusterStore = createDynamoDbClusterStore(storeConfig);
  const sqsEndpoint = getOptionalString(env, 'SQS_ENDPOINT');
  const queue = new SqsWorkQueue({ ...(queueUrl ? { queueUrl } : {}), ...(queueName ? { queueName } : {}), region: storeConfig.region, ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}) });
  const templatesDir = findTemplatesDir(env);
  const clusters = new ClusterService({ store: clusterStore, queue, clock: systemClock, ids: randomIds, logger, quotas: quotaPolicyFromEnv(env), ...(templatesDir ? { templatesDir } : {}) });
  const logs = runLogStoreFromEnv(env, storeConfig.region);
  const apiUrl = getOptionalString(env, 'RECC_API_URL');
  const driver = await createEksJobDriverFromEnv(env, { logs, logger, ...(apiUrl ? { apiUrl } : {}) });
  // The runner starts retries (JobService.trigger) but never touches a schedule.
  const jobService = new JobService({ jobs, scheduler: NO_SCHEDULE_CHANGES, driver, clock: systemClock, logger, ...(templatesDir ? { templatesDir } : {}) });
  return new RunDriver({ jobs, jobService, clusters, clusterStore, driver, clock: systemClock, logger, actor: 'job-runner' });
}

const NO_SCHEDULE_CHANGES: JobScheduler = {
  create: () => Promise.reject(new Error('the job runner does not change schedules')),
  update: () => Promise.reject(new Error('the job runner does not change schedules')),
  delete: () => Promise.reject(new Error('the job runner does not change schedules')),
};
