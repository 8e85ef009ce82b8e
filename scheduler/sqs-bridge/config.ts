import { z } from 'zod';
import { sqsRouteSchema, type SqsRoute } from '../../comm/sqs-envelope/index.ts';
import type { Env } from '../../shared/core/env.ts';
import { DEFAULT_QUEUE_PREFIX, QUEUE_ENV, parseQueueName, queueNameFromUrl } from '../../shared/ports/cluster-queues.ts';
import type { CompactionPolicy } from './compaction.ts';
import { DEFAULT_DEDUP, dedupPolicyProblems, type DedupPolicy } from './seen-ids.ts';
import { SqsBridgeConfigError } from './errors.ts';

/**
 * The scheduler's SQS bridge is configured by the environment the
 * provisioner renders into the scheduler (names in `QUEUE_ENV`,
 * shared/ports/cluster-queues.ts); without RECC_SQS_REQUEST_QUEUE_URL there
 * is no bridge. The cluster id comes from the request queue's name.
 *
 * | variable | meaning |
 * |---|---|
 * | RECC_SQS_REQUEST_QUEUE_URL | the cluster's request queue (FIFO) |
 * | RECC_SQS_DLQ_URL | its dead-letter queue (refused envelopes are moved there with a reason) |
 * | RECC_SQS_QUEUE_PREFIX | the deployment's queue name prefix (default `recc-`) |
 * | RECC_S3_PAYLOAD_BUCKET, RECC_S3_PAYLOAD_PREFIX | where bodies over the inline limit go |
 * | RECC_SQS_ENDPOINT, RECC_S3_PAYLOAD_ENDPOINT | emulator endpoints (local) |
 * | AWS_REGION (or RECC_SQS_REGION) | region (default us-east-1) |
 * | RECC_SQS_STATE_DIR | directory of the durable submission record (default: beside the token file) |
 * | RECC_SQS_STORE | where the submission record lives: `file` (default, the state directory) or `dynamodb` (survives a pod moving) |
 * | RECC_SQS_STORE_TABLE | the cluster table, for `dynamodb` |
 * | RECC_SQS_STORE_NAMESPACE | the cluster's namespace: the record's partition `SQSLOG#<namespace>` (default: the cluster id) |
 * | RECC_SQS_STORE_ENDPOINT | a DynamoDB emulator (local, tests) |
 * | RECC_SQS_COMPACT_RECORDS, RECC_SQS_COMPACT_BYTES | the record is rewritten during a session once it holds this many records or bytes and twice what the last compaction kept (defaults in compaction.ts) |
 * | RECC_SQS_DEDUP_WINDOW_SECONDS | how long a recorded envelope id is remembered to drop a redelivered copy (default 900; at least 330, SQS's FIFO window plus the visibility timeout: seen-ids.ts) |
 * | RECC_SQS_SESSION_GRACE_SECONDS | a session that sent nothing and whose reply queue has been gone this long is ended, releasing its results (default 3600; a client resuming its session within it gets them again) |
 * | RECC_SQS_DEDUP_MAX_IDS | ids kept per session before the oldest beyond the 330 s floor are forgotten early (default 100000) |
 *
 * Credentials come from the AWS default provider chain (AWS_ACCESS_KEY_ID…
 * locally, the pod's role on EKS).
 */
export type SubmissionStoreConfig = { kind: 'file' } | { kind: 'dynamodb'; tableName: string; partition: string; endpoint?: string };

export interface SqsBridgeConfig {
  route: SqsRoute;
  stateDir: string;
  /** @default { kind: 'file' } (in stateDir) */
  store?: SubmissionStoreConfig;
  credentials?: { accessKeyId: string; secretAccessKey: string };
  /** @default DEFAULT_COMPACTION (compaction.ts) */
  compaction?: Partial<CompactionPolicy>;
  /** @default DEFAULT_DEDUP (seen-ids.ts) */
  dedup?: Partial<DedupPolicy>;
  /** @default DEFAULT_SESSION_GRACE_MS (bridge.ts) */
  sessionGraceMs?: number;
}

const count = (what: string) => z.string().regex(/^[1-9][0-9]{0,12}$/, `a whole number of ${what} (1 or more)`).optional();

const schema = z.object({
  [QUEUE_ENV.requestQueueUrl]: z.url(),
  [QUEUE_ENV.deadLetterQueueUrl]: z.url().optional(),
  [QUEUE_ENV.queuePrefix]: z.string().min(1).optional(),
  [QUEUE_ENV.payloadBucket]: z.string().min(1),
  [QUEUE_ENV.payloadPrefix]: z.string().regex(/\/$/, 'must end with /').optional(),
  [QUEUE_ENV.sqsEndpoint]: z.url().optional(),
  [QUEUE_ENV.payloadEndpoint]: z.url().optional(),
  RECC_SQS_REGION: z.string().min(1).optional(),
  AWS_REGION: z.string().min(1).optional(),
  RECC_SQS_STATE_DIR: z.string().min(1).optional(),
  RECC_SQS_STORE: z.enum(['file', 'dynamodb']).optional(),
  RECC_SQS_STORE_TABLE: z.string().regex(/^[A-Za-z0-9_.-]{3,255}$/, 'a DynamoDB table name (3-255 of A-Z a-z 0-9 _ . -)').optional(),
  RECC_SQS_STORE_NAMESPACE: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'a Kubernetes namespace name').max(63).optional(),
  RECC_SQS_STORE_ENDPOINT: z.url().optional(),
  RECC_SQS_COMPACT_RECORDS: count('records'),
  RECC_SQS_COMPACT_BYTES: count('bytes'),
  RECC_SQS_DEDUP_WINDOW_SECONDS: count('seconds'),
  RECC_SQS_DEDUP_MAX_IDS: count('ids'),
  RECC_SQS_SESSION_GRACE_SECONDS: count('seconds'),
});

/**
 * The bridge's configuration, or undefined when the cluster has no SQS route.
 * Fails fast with SqsBridgeConfigError naming every problem.
 */
export function sqsBridgeConfigFromEnv(env: Env, defaults: { stateDir: string }): SqsBridgeConfig | undefined {
  const names = new Set<string>([...Object.values(QUEUE_ENV), 'RECC_SQS_REGION', 'AWS_REGION', 'RECC_SQS_STATE_DIR', 'RECC_SQS_STORE', 'RECC_SQS_STORE_TABLE', 'RECC_SQS_STORE_NAMESPACE', 'RECC_SQS_STORE_ENDPOINT', 'RECC_SQS_COMPACT_RECORDS', 'RECC_SQS_COMPACT_BYTES', 'RECC_SQS_DEDUP_WINDOW_SECONDS', 'RECC_SQS_DEDUP_MAX_IDS', 'RECC_SQS_SESSION_GRACE_SECONDS']);
  const trimmed = Object.fromEntries([...names].map((k) => [k, env[k]?.trim() || undefined]));
  if (!trimmed[QUEUE_ENV.requestQueueUrl]) return undefined;
  const parsed = schema.safeParse(trimmed);
  const details = parsed.success ? [] : parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message }));
  const prefix = trimmed[QUEUE_ENV.queuePrefix] ?? DEFAULT_QUEUE_PREFIX;
  const url = trimmed[QUEUE_ENV.requestQueueUrl] as string;
  const name = parseQueueName(prefix, queueNameFromUrl(url));
  if (trimmed.RECC_SQS_STORE === 'dynamodb' && !trimmed.RECC_SQS_STORE_TABLE) details.push({ path: 'RECC_SQS_STORE_TABLE', message: 'required when RECC_SQS_STORE is dynamodb' });
  const dedup: Partial<DedupPolicy> = {
    ...(trimmed.RECC_SQS_DEDUP_WINDOW_SECONDS && /^\d+$/.test(trimmed.RECC_SQS_DEDUP_WINDOW_SECONDS) ? { windowMs: Number(trimmed.RECC_SQS_DEDUP_WINDOW_SECONDS) * 1000 } : {}),
    ...(trimmed.RECC_SQS_DEDUP_MAX_IDS && /^\d+$/.test(trimmed.RECC_SQS_DEDUP_MAX_IDS) ? { maxIds: Number(trimmed.RECC_SQS_DEDUP_MAX_IDS) } : {}),
  };
  // The floor named by the variable a user sets (seconds), not by the policy field.
  for (const problem of dedupPolicyProblems({ ...DEFAULT_DEDUP, ...dedup })) {
    const variable = problem.path === 'dedup.windowMs' ? 'RECC_SQS_DEDUP_WINDOW_SECONDS' : 'RECC_SQS_DEDUP_MAX_IDS';
    if (!details.some((d) => d.path === variable)) details.push({ path: variable, message: problem.message.replace(/^must be at least (\d+) ms/, (_, ms: string) => `must be at least ${Number(ms) / 1000} s`) });
  }
  if (!name || name.kind !== 'request') details.push({ path: QUEUE_ENV.requestQueueUrl, message: `expected a request queue named ${prefix}<clusterId>-req.fifo, got ${queueNameFromUrl(url)}` });
  if (details.length > 0) throw new SqsBridgeConfigError(`invalid SQS bridge configuration: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details);
  const clusterId = (name as { clusterId: string }).clusterId;
  const e = trimmed as Record<string, string | undefined>;
  const route = sqsRouteSchema.parse({
    clusterId,
    requestQueueUrl: url,
    ...(e[QUEUE_ENV.deadLetterQueueUrl] ? { deadLetterQueueUrl: e[QUEUE_ENV.deadLetterQueueUrl] } : {}),
    region: e.RECC_SQS_REGION ?? e.AWS_REGION ?? 'us-east-1',
    ...(e[QUEUE_ENV.sqsEndpoint] ? { endpoint: e[QUEUE_ENV.sqsEndpoint] } : {}),
    bucket: e[QUEUE_ENV.payloadBucket],
    prefix: e[QUEUE_ENV.payloadPrefix] ?? `clusters/${clusterId}/payloads/`,
    ...(e[QUEUE_ENV.payloadEndpoint] ? { s3Endpoint: e[QUEUE_ENV.payloadEndpoint] } : {}),
    replyQueuePrefix: `${prefix}${clusterId}-reply-`,
  });
  const store: SubmissionStoreConfig =
    e.RECC_SQS_STORE === 'dynamodb'
      ? {
          kind: 'dynamodb',
          tableName: e.RECC_SQS_STORE_TABLE as string,
          partition: `SQSLOG#${e.RECC_SQS_STORE_NAMESPACE ?? clusterId}`,
          ...(e.RECC_SQS_STORE_ENDPOINT ? { endpoint: e.RECC_SQS_STORE_ENDPOINT } : {}),
        }
      : { kind: 'file' };
  const compaction: Partial<CompactionPolicy> = {
    ...(e.RECC_SQS_COMPACT_RECORDS ? { minRecords: Number(e.RECC_SQS_COMPACT_RECORDS) } : {}),
    ...(e.RECC_SQS_COMPACT_BYTES ? { minBytes: Number(e.RECC_SQS_COMPACT_BYTES) } : {}),
  };
  return {
    route,
    stateDir: e.RECC_SQS_STATE_DIR ?? defaults.stateDir,
    store,
    ...(Object.keys(compaction).length > 0 ? { compaction } : {}),
    ...(Object.keys(dedup).length > 0 ? { dedup } : {}),
    ...(e.RECC_SQS_SESSION_GRACE_SECONDS ? { sessionGraceMs: Number(e.RECC_SQS_SESSION_GRACE_SECONDS) * 1000 } : {}),
  };
}

/** The environment that configures a bridge for `route` (for launchers: tests, the bench). */
export function sqsBridgeEnv(config: SqsBridgeConfig & { queuePrefix?: string }): Record<string, string> {
  const r = config.route;
  return {
    [QUEUE_ENV.requestQueueUrl]: r.requestQueueUrl,
    ...(r.deadLetterQueueUrl ? { [QUEUE_ENV.deadLetterQueueUrl]: r.deadLetterQueueUrl } : {}),
    [QUEUE_ENV.queuePrefix]: config.queuePrefix ?? DEFAULT_QUEUE_PREFIX,
    RECC_SQS_REGION: r.region,
    ...(r.endpoint ? { [QUEUE_ENV.sqsEndpoint]: r.endpoint } : {}),
    ...(r.s3Endpoint ? { [QUEUE_ENV.payloadEndpoint]: r.s3Endpoint } : {}),
    [QUEUE_ENV.payloadBucket]: r.bucket,
    [QUEUE_ENV.payloadPrefix]: r.prefix,
    RECC_SQS_STATE_DIR: config.stateDir,
    ...(config.store?.kind === 'dynamodb'
      ? {
          RECC_SQS_STORE: 'dynamodb',
          RECC_SQS_STORE_TABLE: config.store.tableName,
          RECC_SQS_STORE_NAMESPACE: config.store.partition.replace(/^SQSLOG#/, ''),
          ...(config.store.endpoint ? { RECC_SQS_STORE_ENDPOINT: config.store.endpoint } : {}),
        }
      : {}),
    ...(config.compaction?.minRecords ? { RECC_SQS_COMPACT_RECORDS: String(config.compaction.minRecords) } : {}),
    ...(config.compaction?.minBytes ? { RECC_SQS_COMPACT_BYTES: String(config.compaction.minBytes) } : {}),
    ...(config.dedup?.windowMs ? { RECC_SQS_DEDUP_WINDOW_SECONDS: String(Math.ceil(config.dedup.windowMs / 1000)) } : {}),
    ...(config.dedup?.maxIds ? { RECC_SQS_DEDUP_MAX_IDS: String(config.dedup.maxIds) } : {}),
    ...(config.sessionGraceMs ? { RECC_SQS_SESSION_GRACE_SECONDS: String(Math.ceil(config.sessionGraceMs / 1000)) } : {}),
    ...(config.credentials ? { AWS_ACCESS_KEY_ID: config.credentials.accessKeyId, AWS_SECRET_ACCESS_KEY: config.credentials.secretAccessKey } : {}),
  };
}
