import { createEksBackendFromEnv, eksConfigFromEnv, eksSchedulerCertificateNames } from '../adapters/eks/index.ts';
import { SqsWorkQueue } from '../adapters/queue/sqs.ts';
import { clusterQueuesConfigFromEnv, createSqsClusterQueues } from '../adapters/cluster-queues/config.ts';
import { generateClusterSecrets } from '../adapters/secrets/index.ts';
import { dynamoDbStoreConfigFromEnv } from '../adapters/store/config.ts';
import { createDynamoDbClusterStore } from '../adapters/store/dynamodb.ts';
import { Provisioner, scaleClusterEnv, secretsRequestFor } from '../control/provisioner.ts';
import type { ClusterDefinition } from '../shared/definition/types.ts';
import { systemClock } from '../shared/core/clock.ts';
import { ConfigError } from '../shared/core/errors.ts';
import { getNumber, getOptionalString, type Env } from '../shared/core/env.ts';
import { powertoolsLogger } from './commons/logger.ts';
import type { ProvisionerHandlerDeps } from './provisioner.ts';

/**
 * The provisioner function's dependencies, built once per cold start from
 * the environment: the DynamoDB store (`TABLE_NAME`, …), the provisioning
 * queue (`QUEUE_URL` or `QUEUE_NAME`) for its delayed re-queues, the EKS
 * backend (`RECC_EKS_*`), and:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | RECC_PROVISIONER_POLL_SECONDS | 10 | delay between observations while provisioning or deleting |
 * | RECC_PROVISIONING_TIMEOUT_MINUTES | 20 | not RUNNING by then → FAILED (resources removed) |
 * | RECC_DELETION_TIMEOUT_MINUTES | 20 | teardown not finished by then → FAILED |
 *
 * and the per-cluster SQS queues (`RECC_CLUSTER_QUEUE_PREFIX`,
 * `RECC_PAYLOAD_BUCKET`; `adapters/cluster-queues/config.ts`), created with
 * each cluster and deleted with it; the scheduler's SQS bridge keeps its
 * submission record in the cluster table (`RECC_SQS_STORE=dynamodb`).
 *
 * Secrets: generated per cluster (CA + scheduler certificate covering the
 * in-cluster service names and the region's NLB names), kept in the
 * cluster's Kubernetes Secret (the backend's `readSecrets`), and the token and
 * CA copied to the record's `connection` when it is RUNNING.
 */
export async function provisionerDepsFromEnv(env: Env): Promise<ProvisionerHandlerDeps> {
  const storeConfig = dynamoDbStoreConfigFromEnv(env);
  const queueUrl = getOptionalString(env, 'QUEUE_URL');
  const queueName = getOptionalString(env, 'QUEUE_NAME');
  if (!queueUrl && !queueName) {
    throw new ConfigError('the provisioner needs the provisioning queue', [{ path: 'QUEUE_URL', message: 'set QUEUE_URL or QUEUE_NAME' }]);
  }
  const eks = eksConfigFromEnv(env);
  // The stage's API (stage parameter apiUrl); empty: adaptive schedulers only retire workers.
  const apiUrl = getOptionalString(env, 'RECC_API_URL');
  const extraNames = eksSchedulerCertificateNames(eks.region, eks.serviceMode);
  const sqsEndpoint = getOptionalString(env, 'SQS_ENDPOINT');
  const logger = powertoolsLogger({ serviceName: 'recc-provisioner' });
  const queues = createSqsClusterQueues(clusterQueuesConfigFromEnv(env, storeConfig.region), { clock: systemClock, logger });
  const provisioner = new Provisioner({
    store: createDynamoDbClusterStore(storeConfig),
    queue: new SqsWorkQueue({
      ...(queueUrl ? { queueUrl } : {}),
      ...(queueName ? { queueName } : {}),
      region: storeConfig.region,
      ...(sqsEndpoint ? { endpoint: sqsEndpoint } : {}),
    }),
    // Endpoint and CA resolved now (stage parameters or eks:DescribeCluster): a bad setting fails the cold start.
    backend: await createEksBackendFromEnv(env, { clock: systemClock, logger }),
    queues,
    // An adaptive scheduler scales its own cluster through the API: SigV4 as the cluster role + a proof of its cluster.
    ...(apiUrl ? { controlPlaneEnv: (definition: ClusterDefinition) => scaleClusterEnv(apiUrl, definition) } : {}),
    // Schedulers keep the SQS bridge's submission record in the cluster table: a pod that restarts on another node loses nothing accepted.
    queueEnv: { RECC_SQS_STORE: 'dynamodb', RECC_SQS_STORE_TABLE: storeConfig.tableName, AWS_REGION: storeConfig.region },
    generateSecrets: (definition) => {
      const request = secretsRequestFor(definition);
      return generateClusterSecrets({ ...request, dnsNames: [...request.dnsNames, ...extraNames] });
    },
    clock: systemClock,
    logger,
    config: {
      pollDelaySeconds: getNumber(env, 'RECC_PROVISIONER_POLL_SECONDS', 10),
      provisioningTimeoutMs: getNumber(env, 'RECC_PROVISIONING_TIMEOUT_MINUTES', 20) * 60_000,
      deletionTimeoutMs: getNumber(env, 'RECC_DELETION_TIMEOUT_MINUTES', 20) * 60_000,
    },
  });
  return { provisioner, logger };
}
