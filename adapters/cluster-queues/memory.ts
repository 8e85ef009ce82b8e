import { isoAt, systemClock, type Clock } from '../../shared/core/clock.ts';
import {
  DEFAULT_QUEUE_PREFIX,
  QUEUE_TAGS,
  checkQueuePrefix,
  clusterQueueTags,
  deadLetterQueueName,
  parseQueueName,
  payloadPrefixFor,
  queueTagValue,
  replyQueueName,
  requestQueueName,
  type ClusterQueueOwner,
  type ClusterQueueSet,
  type ClusterQueues,
  type ManagedQueue,
  type PayloadLocation,
  type SessionQueue,
} from '../../shared/ports/cluster-queues.ts';
import { ClusterQueuesNotFoundError } from '../../shared/ports/errors.ts';
import { DEAD_LETTER_QUEUE_ATTRIBUTES, DEFAULT_REQUEST_VISIBILITY_SECONDS, REPLY_QUEUE_ATTRIBUTES, requestQueueAttributes } from './attributes.ts';

/**
 * In-memory `ClusterQueues` for unit tests and fakes (the EKS path's tests):
 * the same names, attributes and tags as the SQS adapter, no messages.
 * Several instances may share one `MemoryQueueRegistry` (one "account").
 */
export interface MemoryQueue {
  name: string;
  url: string;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

export class MemoryQueueRegistry {
  readonly queues = new Map<string, MemoryQueue>();
  /** Names of queues created, in order (tests assert on it). */
  readonly created: string[] = [];
  readonly deleted: string[] = [];
}

export interface MemoryClusterQueuesOptions {
  /** @default 'recc-' */
  prefix?: string;
  payloadBucket?: string;
  clock?: Clock;
  registry?: MemoryQueueRegistry;
  /** @default 'memory://sqs/000000000000/' */
  urlBase?: string;
}

export class MemoryClusterQueues implements ClusterQueues {
  readonly prefix: string;
  readonly registry: MemoryQueueRegistry;
  private readonly clock: Clock;
  private readonly urlBase: string;

  constructor(private readonly options: MemoryClusterQueuesOptions = {}) {
    this.prefix = checkQueuePrefix(options.prefix ?? DEFAULT_QUEUE_PREFIX);
    this.registry = options.registry ?? new MemoryQueueRegistry();
    this.clock = options.clock ?? systemClock;
    this.urlBase = options.urlBase ?? 'memory://sqs/000000000000/';
  }

  private payload(namespace: string | undefined): PayloadLocation | undefined {
    return this.options.payloadBucket && namespace ? { bucket: this.options.payloadBucket, prefix: payloadPrefixFor(namespace) } : undefined;
  }

  private ensure(name: string, attributes: Record<string, string>, tags: Record<string, string>): MemoryQueue {
    const existing = this.registry.queues.get(name);
    if (existing) {
      Object.assign(existing.attributes, attributes);
      Object.assign(existing.tags, tags);
      return existing;
    }
    const queue: MemoryQueue = { name, url: `${this.urlBase}${name}`, attributes: { ...attributes }, tags: { ...tags } };
    this.registry.queues.set(name, queue);
    this.registry.created.push(name);
    return queue;
  }

  private remove(name: string): void {
    if (this.registry.queues.delete(name)) this.registry.deleted.push(name);
  }

  async ensureClusterQueues(owner: ClusterQueueOwner): Promise<ClusterQueueSet> {
    const requestName = requestQueueName(this.prefix, owner.clusterId);
    const dlqName = deadLetterQueueName(this.prefix, owner.clusterId);
    const tags = clusterQueueTags(this.prefix, owner);
    const dlq = this.ensure(dlqName, { ...DEAD_LETTER_QUEUE_ATTRIBUTES }, tags);
    const request = this.ensure(requestName, requestQueueAttributes(`arn:memory:sqs:${dlqName}`, DEFAULT_REQUEST_VISIBILITY_SECONDS), tags);
    const payload = this.payload(queueTagValue(owner.namespace));
    return { clusterId: owner.clusterId, requestQueueUrl: request.url, requestQueueName: requestName, deadLetterQueueUrl: dlq.url, ...(payload ? { payload } : {}) };
  }

  async describeClusterQueues(clusterId: string): Promise<ClusterQueueSet | undefined> {
    const requestName = requestQueueName(this.prefix, clusterId);
    const request = this.registry.queues.get(requestName);
    const dlq = this.registry.queues.get(deadLetterQueueName(this.prefix, clusterId));
    if (!request || !dlq) return undefined;
    const payload = this.payload(request.tags[QUEUE_TAGS.namespace]);
    return { clusterId, requestQueueUrl: request.url, requestQueueName: requestName, deadLetterQueueUrl: dlq.url, ...(payload ? { payload } : {}) };
  }

  async deleteClusterQueues(clusterId: string): Promise<void> {
    const requestName = requestQueueName(this.prefix, clusterId);
    const dlqName = deadLetterQueueName(this.prefix, clusterId);
    for (const name of [...this.registry.queues.keys()]) {
      const parsed = parseQueueName(this.prefix, name);
      if (parsed?.clusterId === clusterId && parsed.kind === 'reply') this.remove(name);
    }
    this.remove(requestName);
    this.remove(dlqName);
  }

  async ensureSessionQueue(clusterId: string, sessionId: string): Promise<SessionQueue> {
    const name = replyQueueName(this.prefix, clusterId, sessionId);
    const request = this.registry.queues.get(requestQueueName(this.prefix, clusterId));
    if (!request) throw new ClusterQueuesNotFoundError(`the request queue of cluster ${clusterId}`);
    const tags: Record<string, string> = {};
    for (const key of [QUEUE_TAGS.user, QUEUE_TAGS.namespace, QUEUE_TAGS.cluster, QUEUE_TAGS.job, QUEUE_TAGS.managedBy, QUEUE_TAGS.queuePrefix]) {
      const value = request.tags[key];
      if (value !== undefined) tags[key] = value;
    }
    tags[QUEUE_TAGS.cluster] ??= clusterId;
    tags[QUEUE_TAGS.queuePrefix] = this.prefix;
    tags[QUEUE_TAGS.lastSeen] = isoAt(this.clock);
    const queue = this.ensure(name, { ...REPLY_QUEUE_ATTRIBUTES }, tags);
    return { clusterId, sessionId, url: queue.url, name };
  }

  async touchSession(clusterId: string, sessionId: string, at: string): Promise<void> {
    const queue = this.registry.queues.get(replyQueueName(this.prefix, clusterId, sessionId));
    if (!queue) throw new ClusterQueuesNotFoundError(`the reply queue of session ${sessionId} on cluster ${clusterId}`);
    queue.tags[QUEUE_TAGS.lastSeen] = at;
  }

  async describeSession(clusterId: string, sessionId: string): Promise<ManagedQueue | undefined> {
    const queue = this.registry.queues.get(replyQueueName(this.prefix, clusterId, sessionId));
    if (!queue) return undefined;
    const seen = queue.tags[QUEUE_TAGS.lastSeen];
    return { name: queue.name, url: queue.url, kind: 'reply', clusterId, sessionId, ...(seen !== undefined ? { lastSeenAt: seen } : {}) };
  }

  async deleteSessionQueue(clusterId: string, sessionId: string): Promise<void> {
    this.remove(replyQueueName(this.prefix, clusterId, sessionId));
  }

  async list(): Promise<ManagedQueue[]> {
    const out: ManagedQueue[] = [];
    for (const queue of this.registry.queues.values()) {
      const parsed = parseQueueName(this.prefix, queue.name);
      if (!parsed) continue;
      const owner = queue.tags[QUEUE_TAGS.queuePrefix];
      if (owner !== undefined && owner !== this.prefix) continue;
      const seen = parsed.kind === 'reply' ? queue.tags[QUEUE_TAGS.lastSeen] : undefined;
      out.push({ name: queue.name, url: queue.url, ...parsed, ...(seen !== undefined ? { lastSeenAt: seen } : {}) });
    }
    return out;
  }
}
