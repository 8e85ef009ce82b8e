import { createEksBackendFromEnv } from '../adapters/eks/index.ts';
import { SqsWorkQueue } from '../adapters/queue/sqs.ts';
import { clusterQueuesConfigFromEnv, createSqsClusterQueues } from '../adapters/cluster-queues/config.ts';
import { dynamoDbStoreConfigFromEnv } from '../adapters/store/config.ts';
import { createDynamoDbClusterStore } from '../adapters/store/dynamodb.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbJobStore } from '../adapters/store/jobs-dynamodb.ts';
import type { HarvesterDeps } from '../control/harvester.ts';
import { reconcileStuckRuns } from '../control/job-reconcile.ts';
import { systemClock } from '../shared/core/clock.ts';
import { ConfigError } from '../shared/core/errors.ts';
import { getOptionalString, type Env } from '../shared/core/env.ts';
import { harvestConfigFromEnv } from '../shared/harvest/config.ts';
import { powertoolsLogger } from './commons/logger.ts';

/**
 * Build the harvester's dependencies from the environment, once per cold
 * start: the DynamoDB store (`TABLE_NAME`, …), the provisioning queue
 * (`QUEUE_URL` or `QUEUE_NAME`; reaped clusters are handed to the
 * provisioner), the EKS backend (`RECC_EKS_*`, `adapters/eks`) and the
 * harvester settings (`RECC_HARVEST_*`), and the per-cluster SQS queues
 * (`RECC_CLUSTER_QUEUE_PREFIX`: orphans and dead sessions' reply queues are
 * removed), and the scheduled-job runs on the same table (stuck past their
 * deadline or without their cluster → FAILED with a reason,
 * `control/job-reconcile.ts`). Every part validates its own
 * variables and fails fast.
 */
export async function harvesterDepsFromEnv(env: Env): Promise<HarvesterDeps> {
  const storeConfig = dynamoDbStoreConfigFromEnv(env);
  const config = harvestConfigFromEnv(env);
  const queueUrl = getOptionalString(env, 'QUEUE_URL');
  const queueName = getOptionalString(env, 'QUEUE_NAME');
  if (!queueUrl && !queueName) {
    throw new ConfigError('the harvester needs the provisioning queue', [{ path: 'QUEUE_URL', message: 'set QUEUE_URL or QUEUE_NAME' }]);
  }
  const sqsEndpoint = getOptionalString(env, 'SQS_ENDPOINT');
  const logger = powertoolsLogger({ serviceName: 'recc-harvester' });
  const store = createDynamoDbClusterStore(storeConfig);
  const dynamo = new DynamoDBClient({ region: storeConfig.region, ...(storeConfig.endpoint ? { endpoint: storeConfig.endpoint } : {}) });
  const jobs = new DynamoDbJobStore(DynamoDBDocumentClient.from(dynamo, { marshallOptions: { removeUndefinedValues: true } }), { tableName: storeConfig.tableName });
  return {
    store,
    runs: { reconcile: () => reconcileStuckRuns({ jobs, clusterStore: store, clock: systemClock }) },
    backend: await createEksBackendFromEnv(env, { clock: systemClock, logger }),
    queues: createSqsClusterQueues(clusterQueuesConfigFromEnv(env, storeConfig.region), { clock: systemClock, logger }),
    queue: new SqsWorkQueue({
      ...(queueUrl ? { queueUrl } : {}),
      ...(queueName ? { queueName } : {}),
      region: storeConfig.region,
      ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}),
    }),
    clock: systemClock,
    config,
    logger,
    actor: 'harvester',
  };
}
