import { QueueNameError } from './errors.ts';

/**
 * Per-cluster SQS queues: the route for clients outside the cluster network
 * (issue 12). Adapters: SQS (`adapters/cluster-queues/sqs.ts`, AWS and fauxqs)
 * and in-memory (`adapters/cluster-queues/memory.ts`). The contract is
 * `test/conformance/cluster-queues.ts`.
 *
 * Who calls what:
 * - the provisioner: `ensureClusterQueues` before it applies a cluster (the
 *   request queue URL goes into the scheduler's env and the record's
 *   connection), `deleteClusterQueues` when it tears the cluster down;
 * - the client (SqsTransport): `ensureSessionQueue` on connect,
 *   `touchSession` every `SESSION_HEARTBEAT_SECONDS` while connected,
 *   `deleteSessionQueue` on close;
 * - the harvester: `list` → deletes reply queues of dead sessions and every
 *   queue of a cluster that has no live record (orphans).
 *
 * Queues:
 * - request `<prefix><clusterId>-req.fifo`: FIFO, content-based deduplication
 *   OFF. Senders set `MessageGroupId = sessionId` (order per client session,
 *   sessions in parallel) and `MessageDeduplicationId = envelope id`
 *   (a resent envelope within SQS's 5-minute window is dropped by SQS; the
 *   bridge also dedupes by id). Envelope ids must be unique per cluster, not
 *   only per session: fauxqs dedupes per queue whatever the scope. Deduplication scope is the message group and
 *   throughput is per group (high-throughput FIFO). After
 *   `REQUEST_MAX_RECEIVES` receives a message moves to the DLQ.
 * - dead-letter `<prefix><clusterId>-dlq.fifo` (a FIFO queue's DLQ must be FIFO).
 * - reply `<prefix><clusterId>-reply-<sessionId>`: a STANDARD queue, one per
 *   client session (replies carry correlation ids and sequence numbers, so
 *   the client orders and dedupes them itself; standard queues have no
 *   per-group throughput cap).
 *
 * Every queue is tagged for cost and cleanup with `user`, `namespace`,
 * `cluster` (and `job` when the cluster runs one), the same cost-allocation
 * tags as the node groups, plus `recc.io/managed-by=recc`. IAM is scoped by
 * the `cluster` tag (ABAC, see serverless.yml and
 * `adapters/eks/manifests/queue-policy.ts`).
 *
 * Session liveness (the choice, written down): a reply queue carries the tag
 * `recc.io/last-seen` = ISO time. It is set when the queue is created and
 * refreshed by `touchSession` (SQS TagQueue) which the client calls every
 * `SESSION_HEARTBEAT_SECONDS`. A session is dead when its last-seen is older
 * than the harvester's `sessionTimeoutMinutes`. Not `LastModifiedTimestamp`
 * (it moves only on attribute changes) nor message counts (an idle live
 * client has none). A tag write costs one request per minute per client and
 * is visible to `ListQueueTags` at once.
 *
 * Names are deterministic from (prefix, clusterId, sessionId) and checked
 * against SQS's limits: at most 80 characters of `[A-Za-z0-9_-]`, plus the
 * `.fifo` suffix for FIFO queues (counted in the 80). A name that does not fit
 * throws `QueueNameError` (400) naming the field. The prefix separates
 * deployments sharing an account (`recc-` locally, `recc-<stage>-` on AWS):
 * the harvester only ever looks at queues under its own prefix. Because one
 * prefix may begin another (`recc-` and `recc-prod-`), every queue also
 * carries its prefix in the tag `recc.io/queue-prefix`, and `list` leaves out
 * queues whose tag names another prefix: one deployment never takes another's
 * queues for orphans.
 *
 * Payloads over 200 KiB travel through S3 under the cluster's prefix
 * `payloadPrefixFor(namespace)` in the deployment's payload bucket. Use the
 * location `ensureClusterQueues` returns (the scheduler gets it in its env,
 * clients in the record's connection) rather than recomputing it.
 *
 * All methods are idempotent; deleting something missing is success.
 */

export type ClusterQueueKind = 'request' | 'dead-letter' | 'reply';

/** Who a cluster's queues belong to (the cost-allocation tags). */
export interface ClusterQueueOwner {
  clusterId: string;
  /** The cluster's owner (tag `user`). */
  owner: string;
  /** The cluster's namespace (tag `namespace`). */
  namespace: string;
  /** The scheduled job the cluster runs, if any (tag `job`). */
  job?: string;
}

/** Where a cluster's large payloads go in S3. */
export interface PayloadLocation {
  bucket: string;
  /** Ends with `/`: `clusters/<namespace>/payloads/` (`payloadPrefixFor`). */
  prefix: string;
}

/** A cluster's queues after `ensureClusterQueues`. */
export interface ClusterQueueSet {
  clusterId: string;
  requestQueueUrl: string;
  requestQueueName: string;
  deadLetterQueueUrl: string;
  /** Set when the adapter is configured with a payload bucket. */
  payload?: PayloadLocation;
}

export interface SessionQueue {
  clusterId: string;
  sessionId: string;
  url: string;
  name: string;
}

/** A queue under the deployment's prefix, as `list` sees it. */
export interface ManagedQueue {
  name: string;
  url: string;
  kind: ClusterQueueKind;
  clusterId: string;
  /** Reply queues only. */
  sessionId?: string;
  /** Reply queues only: the `recc.io/last-seen` tag (undefined when missing). */
  lastSeenAt?: string;
  /** The tags could not be read this time (a reply queue is never judged dead then). */
  lastSeenUnknown?: boolean;
}

export interface ClusterQueues {
  /** The name prefix of this deployment's queues (e.g. `recc-` or `recc-prod-`). */
  readonly prefix: string;
  /**
   * Create the request queue and its DLQ, or bring existing ones to the
   * wanted attributes and tags. Safe to call on every provisioner step.
   */
  ensureClusterQueues(owner: ClusterQueueOwner): Promise<ClusterQueueSet>;
  /**
   * The cluster's queues when they exist (no creation), else undefined.
   * The S3 location is included when configured.
   */
  describeClusterQueues(clusterId: string): Promise<ClusterQueueSet | undefined>;
  /** Delete the request queue, the DLQ and every reply queue of the cluster. Not-found is success. */
  deleteClusterQueues(clusterId: string): Promise<void>;
  /**
   * Create (or find) the session's reply queue, tagged like the cluster's
   * request queue (its tags are copied) and with last-seen = now. Throws
   * `ClusterQueuesNotFoundError` (404) when the cluster has no request queue.
   */
  ensureSessionQueue(clusterId: string, sessionId: string): Promise<SessionQueue>;
  /** Heartbeat: set the session's last-seen to `at` (ISO). Throws `ClusterQueuesNotFoundError` when the queue is gone. */
  touchSession(clusterId: string, sessionId: string, at: string): Promise<void>;
  /** The session's reply queue with its last-seen, or undefined when it does not exist. */
  describeSession(clusterId: string, sessionId: string): Promise<ManagedQueue | undefined>;
  /** Delete the session's reply queue. Not-found is success. */
  deleteSessionQueue(clusterId: string, sessionId: string): Promise<void>;
  /**
   * Every queue under the prefix whose name parses and whose
   * `recc.io/queue-prefix` tag (when present) is this prefix, with last-seen
   * for reply queues.
   */
  list(): Promise<ManagedQueue[]>;
}

// ---------------------------------------------------------------- contract constants

/** Receives of a request message before SQS moves it to the DLQ. */
export const REQUEST_MAX_RECEIVES = 5;
/** How often a connected client refreshes its session's last-seen. */
export const SESSION_HEARTBEAT_SECONDS = 60;
/** Default age of last-seen after which the harvester deletes a reply queue. */
export const DEFAULT_SESSION_TIMEOUT_MINUTES = 10;
/** Largest payload that travels inline; larger ones go to S3 (issue 12 #2). */
export const INLINE_PAYLOAD_LIMIT_BYTES = 200 * 1024;

/** Tag keys on every recc queue. */
export const QUEUE_TAGS = {
  user: 'user',
  namespace: 'namespace',
  cluster: 'cluster',
  job: 'job',
  managedBy: 'recc.io/managed-by',
  lastSeen: 'recc.io/last-seen',
  queuePrefix: 'recc.io/queue-prefix',
} as const;
export const QUEUE_MANAGED_BY = 'recc';

/**
 * Environment the provisioner gives the scheduler (rendered into its pod),
 * so the scheduler-side bridge finds its queues and payload prefix.
 */
export const QUEUE_ENV = {
  requestQueueUrl: 'RECC_SQS_REQUEST_QUEUE_URL',
  deadLetterQueueUrl: 'RECC_SQS_DLQ_URL',
  queuePrefix: 'RECC_SQS_QUEUE_PREFIX',
  payloadBucket: 'RECC_S3_PAYLOAD_BUCKET',
  payloadPrefix: 'RECC_S3_PAYLOAD_PREFIX',
  /** Emulator endpoints (the local stack's fauxqs); absent on AWS. */
  sqsEndpoint: 'RECC_SQS_ENDPOINT',
  payloadEndpoint: 'RECC_S3_PAYLOAD_ENDPOINT',
} as const;

// ---------------------------------------------------------------- names

export const MAX_QUEUE_NAME = 80;
const NAME_CHARS = /^[A-Za-z0-9_-]+$/;
const FIFO = '.fifo';
const REQUEST_SUFFIX = `-req${FIFO}`;
const DLQ_SUFFIX = `-dlq${FIFO}`;
const REPLY_INFIX = '-reply-';
export const DEFAULT_QUEUE_PREFIX = 'recc-';

/** Check a deployment prefix: 1–30 of `[A-Za-z0-9_-]`. */
export function checkQueuePrefix(prefix: string): string {
  if (prefix.length === 0 || prefix.length > 30 || !NAME_CHARS.test(prefix)) {
    throw new QueueNameError([{ path: 'prefix', message: 'must be 1-30 characters of A-Z a-z 0-9 _ -' }]);
  }
  return prefix;
}

function checkId(field: 'clusterId' | 'sessionId', value: string): string | undefined {
  if (!value) return 'is required';
  if (!NAME_CHARS.test(value)) return 'may contain only A-Z a-z 0-9 _ - (SQS queue names)';
  if (field === 'sessionId' && value.includes(REPLY_INFIX.slice(0, -1))) return 'must not contain "-reply"';
  return undefined;
}

function fit(name: string, parts: { field: string; value: string }[]): string {
  const problems = parts.flatMap((p) => {
    const problem = checkId(p.field as 'clusterId' | 'sessionId', p.value);
    return problem ? [{ path: p.field, message: problem }] : [];
  });
  if (problems.length === 0 && name.length > MAX_QUEUE_NAME) {
    const last = parts[parts.length - 1] as { field: string };
    problems.push({ path: last.field, message: `is too long: the queue name ${name.length > 100 ? `${name.slice(0, 100)}…` : name} has ${name.length} characters, SQS allows ${MAX_QUEUE_NAME}` });
  }
  if (problems.length > 0) throw new QueueNameError(problems);
  return name;
}

export function requestQueueName(prefix: string, clusterId: string): string {
  return fit(`${prefix}${clusterId}${REQUEST_SUFFIX}`, [{ field: 'clusterId', value: clusterId }]);
}

export function deadLetterQueueName(prefix: string, clusterId: string): string {
  return fit(`${prefix}${clusterId}${DLQ_SUFFIX}`, [{ field: 'clusterId', value: clusterId }]);
}

export function replyQueueName(prefix: string, clusterId: string, sessionId: string): string {
  return fit(`${prefix}${clusterId}${REPLY_INFIX}${sessionId}`, [
    { field: 'clusterId', value: clusterId },
    { field: 'sessionId', value: sessionId },
  ]);
}

/** The longest session id that still fits a reply queue name for this cluster. */
export function maxSessionIdLength(prefix: string, clusterId: string): number {
  return MAX_QUEUE_NAME - prefix.length - clusterId.length - REPLY_INFIX.length;
}

/** Parse a queue name under `prefix`; undefined when it is not one of ours. */
export function parseQueueName(prefix: string, name: string): { kind: ClusterQueueKind; clusterId: string; sessionId?: string } | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  const valid = (id: string) => id.length > 0 && NAME_CHARS.test(id);
  if (rest.endsWith(REQUEST_SUFFIX)) {
    const clusterId = rest.slice(0, -REQUEST_SUFFIX.length);
    return valid(clusterId) ? { kind: 'request', clusterId } : undefined;
  }
  if (rest.endsWith(DLQ_SUFFIX)) {
    const clusterId = rest.slice(0, -DLQ_SUFFIX.length);
    return valid(clusterId) ? { kind: 'dead-letter', clusterId } : undefined;
  }
  // Session ids never contain "-reply", so the last infix separates them.
  const at = rest.lastIndexOf(REPLY_INFIX);
  if (at > 0) {
    const clusterId = rest.slice(0, at);
    const sessionId = rest.slice(at + REPLY_INFIX.length);
    return valid(clusterId) && valid(sessionId) ? { kind: 'reply', clusterId, sessionId } : undefined;
  }
  return undefined;
}

/** The queue name at the end of a queue URL (AWS and fauxqs: `…/<account>/<name>`). */
export function queueNameFromUrl(url: string): string {
  const path = url.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return path.slice(path.lastIndexOf('/') + 1);
}

/**
 * The URL of another queue of the same account and endpoint, from a known
 * URL (the scheduler derives a session's reply queue URL from its request
 * queue URL without a GetQueueUrl call).
 */
export function siblingQueueUrl(knownUrl: string, name: string): string {
  const path = knownUrl.replace(/[?#].*$/, '').replace(/\/+$/, '');
  return `${path.slice(0, path.lastIndexOf('/') + 1)}${name}`;
}

/**
 * The S3 key prefix for a cluster's large payloads: keyed by the cluster's
 * namespace (unique per cluster), because on EKS the scheduler's role is
 * scoped with the Pod Identity session tag `kubernetes-namespace`
 * (`arn:aws:s3:::<bucket>/clusters/${aws:PrincipalTag/kubernetes-namespace}/*`).
 */
export function payloadPrefixFor(namespace: string): string {
  return `clusters/${namespace}/payloads/`;
}

/**
 * A tag value SQS accepts (letters, digits, spaces and `_ . : / = + - @`,
 * at most 256 characters); other characters become `_`.
 */
export function queueTagValue(value: string): string {
  return value.replace(/[^\p{L}\p{N} _.:/=+\-@]/gu, '_').slice(0, 256);
}

/** The tags of a cluster's queues under `prefix`. */
export function clusterQueueTags(prefix: string, owner: ClusterQueueOwner): Record<string, string> {
  const tags: Record<string, string> = {
    [QUEUE_TAGS.user]: queueTagValue(owner.owner),
    [QUEUE_TAGS.namespace]: queueTagValue(owner.namespace),
    [QUEUE_TAGS.cluster]: queueTagValue(owner.clusterId),
    [QUEUE_TAGS.managedBy]: QUEUE_MANAGED_BY,
    [QUEUE_TAGS.queuePrefix]: prefix,
  };
  if (owner.job) tags[QUEUE_TAGS.job] = queueTagValue(owner.job);
  return tags;
}

/**
 * True when a reply queue's session has not been seen for `timeoutMs` at
 * `now`. A missing or garbled last-seen counts as dead (recc always sets it);
 * tags that could not be read do not.
 */
export function sessionIsDead(queue: Pick<ManagedQueue, 'lastSeenAt' | 'lastSeenUnknown'>, now: number, timeoutMs: number): boolean {
  if (queue.lastSeenUnknown) return false;
  const seen = queue.lastSeenAt === undefined ? Number.NaN : Date.parse(queue.lastSeenAt);
  return Number.isNaN(seen) || now - seen >= timeoutMs;
}
