import { SQSClient } from '@aws-sdk/client-sqs';
import { ConfigError, ReccError } from '../../shared/core/errors.ts';
import { getOptionalString, type Env } from '../../shared/core/env.ts';
import type { Logger } from '../../shared/core/logger.ts';
import type { Clock } from '../../shared/core/clock.ts';
import { DEFAULT_QUEUE_PREFIX, checkQueuePrefix } from '../../shared/ports/cluster-queues.ts';
import { SqsClusterQueues } from './sqs.ts';

/**
 * Per-cluster queues from the environment, read once per cold start:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | RECC_CLUSTER_QUEUE_PREFIX | `recc-` | name prefix of this deployment's cluster queues (`recc-<stage>-` in serverless.yml); the IAM statements are scoped to it |
 * | RECC_PAYLOAD_BUCKET | — | S3 bucket for payloads over 200 KiB (per-cluster prefix); unset = no S3 location in the connection |
 * | SQS_ENDPOINT | — | emulator endpoint (local use) |
 */
export interface ClusterQueuesConfig {
  prefix: string;
  payloadBucket?: string;
  endpoint?: string;
  region: string;
}

export function clusterQueuesConfigFromEnv(env: Env, region: string): ClusterQueuesConfig {
  const prefix = getOptionalString(env, 'RECC_CLUSTER_QUEUE_PREFIX') ?? DEFAULT_QUEUE_PREFIX;
  try {
    checkQueuePrefix(prefix);
  } catch (err) {
    throw new ConfigError('the cluster queue prefix is invalid', [{ path: 'RECC_CLUSTER_QUEUE_PREFIX', message: err instanceof ReccError ? (err.details[0]?.message ?? err.message) : String(err) }]);
  }
  const payloadBucket = getOptionalString(env, 'RECC_PAYLOAD_BUCKET');
  if (payloadBucket !== undefined && !/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(payloadBucket)) {
    throw new ConfigError('the payload bucket name is invalid', [{ path: 'RECC_PAYLOAD_BUCKET', message: 'must be an S3 bucket name: 3-63 of a-z 0-9 . -' }]);
  }
  const endpoint = getOptionalString(env, 'SQS_ENDPOINT');
  return { prefix, region, ...(payloadBucket ? { payloadBucket } : {}), ...(endpoint ? { endpoint } : {}) };
}

export function createSqsClusterQueues(config: ClusterQueuesConfig, options: { clock?: Clock; logger?: Logger } = {}): SqsClusterQueues {
  const client = new SQSClient({ region: config.region, ...(config.endpoint ? { endpoint: config.endpoint } : {}) });
  return new SqsClusterQueues({
    client,
    prefix: config.prefix,
    ...(config.payloadBucket ? { payloadBucket: config.payloadBucket } : {}),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
  });
}
