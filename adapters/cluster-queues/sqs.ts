import {
  CreateQueueCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  SetQueueAttributesCommand,
  TagQueueCommand,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { isoAt, systemClock, type Clock } from '../../shared/core/clock.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { retry, type BackoffPolicy } from '../../shared/core/retry.ts';
import {
  DEFAULT_QUEUE_PREFIX,
  QUEUE_TAGS,
  checkQueuePrefix,
  clusterQueueTags,
  deadLetterQueueName,
  parseQueueName,
  payloadPrefixFor,
  queueTagValue,
  queueNameFromUrl,
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
import {
  DEAD_LETTER_QUEUE_ATTRIBUTES,
  DEFAULT_REQUEST_VISIBILITY_SECONDS,
  REPLY_QUEUE_ATTRIBUTES,
  requestQueueAttributes,
  settableAttributes,
} from './attributes.ts';
import { ClusterQueuesUnavailableError } from './errors.ts';

/**
 * `ClusterQueues` on SQS (AWS, or fauxqs locally): see the port for names,
 * tags and the last-seen heartbeat. Every call goes through `retry`
 * (`shared/core/retry.ts`) for throttling, 5xx and network errors; client
 * errors are not retried. A queue that already exists is brought to the
 * wanted attributes and tags (SetQueueAttributes + TagQueue), so `ensure*`
 * is level-triggered.
 */
export interface SqsClusterQueuesOptions {
  client: SQSClient;
  /** @default 'recc-' */
  prefix?: string;
  /** Bucket for payloads over the inline limit (issue 12 #2); without it, no S3 location is reported. */
  payloadBucket?: string;
  /** @default DEFAULT_REQUEST_VISIBILITY_SECONDS */
  requestVisibilityTimeoutSeconds?: number;
  clock?: Clock;
  logger?: Logger;
  /** Retry policy of one SQS call. @default 4 attempts, 100 ms .. 2 s, full jitter */
  retry?: BackoffPolicy & { attempts: number };
}

const DEFAULT_RETRY: BackoffPolicy & { attempts: number } = { attempts: 4, initialMs: 100, maxMs: 2_000, jitter: 'full' };
/** Concurrent ListQueueTags calls while listing. */
const TAG_READ_CONCURRENCY = 8;

const THROTTLING = new Set(['Throttling', 'ThrottlingException', 'RequestThrottled', 'RequestThrottledException', 'TooManyRequestsException', 'SlowDown']);
const NETWORK = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN', 'TimeoutError', 'NetworkingError']);

export function isTransientSqsError(err: unknown): boolean {
  const e = err as { name?: string; code?: string; $retryable?: unknown; $metadata?: { httpStatusCode?: number } };
  if (e?.$retryable) return true;
  if (THROTTLING.has(e?.name ?? '')) return true;
  if (NETWORK.has(e?.name ?? '') || NETWORK.has(e?.code ?? '')) return true;
  const status = e?.$metadata?.httpStatusCode;
  return status !== undefined && status >= 500;
}

export function isQueueMissing(err: unknown): boolean {
  const name = (err as { name?: string; Code?: string })?.name ?? '';
  return name === 'QueueDoesNotExist' || name === 'AWS.SimpleQueueService.NonExistentQueue' || name === 'NonExistentQueue';
}

function isQueueNameTaken(err: unknown): boolean {
  const name = (err as { name?: string })?.name ?? '';
  return name === 'QueueNameExists' || name === 'QueueAlreadyExists';
}

export class SqsClusterQueues implements ClusterQueues {
  readonly prefix: string;
  private readonly client: SQSClient;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly retryPolicy: BackoffPolicy & { attempts: number };
  private readonly visibility: number;

  constructor(private readonly options: SqsClusterQueuesOptions) {
    this.prefix = checkQueuePrefix(options.prefix ?? DEFAULT_QUEUE_PREFIX);
    this.client = options.client;
    this.clock = options.clock ?? systemClock;
    this.logger = options.logger ?? silentLogger;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY;
    this.visibility = options.requestVisibilityTimeoutSeconds ?? DEFAULT_REQUEST_VISIBILITY_SECONDS;
  }

  private payload(namespace: string | undefined): PayloadLocation | undefined {
    return this.options.payloadBucket && namespace ? { bucket: this.options.payloadBucket, prefix: payloadPrefixFor(namespace) } : undefined;
  }

  /** One SQS call with the retry policy; a final failure that is not a known client error becomes ClusterQueuesUnavailableError. */
  private async call<T>(what: string, fn: () => Promise<T>, passThrough: (err: unknown) => boolean = isQueueMissing): Promise<T> {
    try {
      return await retry(fn, {
        ...this.retryPolicy,
        retryIf: (err) => isTransientSqsError(err),
        onRetry: (err, attempt, delayMs) => this.logger.debug('sqs call retried', { what, attempt, delayMs, error: err }),
      });
    } catch (err) {
      if (passThrough(err)) throw err;
      throw new ClusterQueuesUnavailableError(`SQS: could not ${what}`, { cause: err });
    }
  }

  private async urlOf(name: string): Promise<string | undefined> {
    try {
      const out = await this.call(`look up queue ${name}`, () => this.client.send(new GetQueueUrlCommand({ QueueName: name })));
      return out.QueueUrl;
    } catch (err) {
      if (isQueueMissing(err)) return undefined;
      throw err;
    }
  }

  /** Create the queue, or converge an existing one to `attributes` and `tags`. */
  private async ensureQueue(name: string, attributes: Record<string, string>, tags: Record<string, string>): Promise<string> {
    try {
      const out = await this.call(
        `create queue ${name}`,
        () => this.client.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes, tags })),
        isQueueNameTaken,
      );
      if (out.QueueUrl) {
        // CreateQueue of an existing queue with the same attributes returns it without touching its tags.
        await this.call(`tag queue ${name}`, () => this.client.send(new TagQueueCommand({ QueueUrl: out.QueueUrl, Tags: tags })));
        return out.QueueUrl;
      }
    } catch (err) {
      if (!isQueueNameTaken(err)) throw err;
    }
    const url = await this.urlOf(name);
    if (!url) throw new ClusterQueuesUnavailableError(`SQS: queue ${name} exists with other attributes but cannot be found`);
    await this.call(`update queue ${name}`, () => this.client.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: settableAttributes(attributes) })));
    await this.call(`tag queue ${name}`, () => this.client.send(new TagQueueCommand({ QueueUrl: url, Tags: tags })));
    return url;
  }

  private async deleteByUrl(url: string): Promise<void> {
    try {
      await this.call(`delete queue ${queueNameFromUrl(url)}`, () => this.client.send(new DeleteQueueCommand({ QueueUrl: url })));
    } catch (err) {
      if (!isQueueMissing(err)) throw err;
    }
  }

  async ensureClusterQueues(owner: ClusterQueueOwner): Promise<ClusterQueueSet> {
    const requestName = requestQueueName(this.prefix, owner.clusterId);
    const dlqName = deadLetterQueueName(this.prefix, owner.clusterId);
    const tags = clusterQueueTags(this.prefix, owner);
    const deadLetterQueueUrl = await this.ensureQueue(dlqName, { ...DEAD_LETTER_QUEUE_ATTRIBUTES }, tags);
    const attrs = await this.call(`read the ARN of ${dlqName}`, () =>
      this.client.send(new GetQueueAttributesCommand({ QueueUrl: deadLetterQueueUrl, AttributeNames: ['QueueArn'] })),
    );
    const dlqArn = attrs.Attributes?.QueueArn;
    if (!dlqArn) throw new ClusterQueuesUnavailableError(`SQS: queue ${dlqName} has no ARN`);
    const requestQueueUrl = await this.ensureQueue(requestName, requestQueueAttributes(dlqArn, this.visibility), tags);
    const payload = this.payload(queueTagValue(owner.namespace));
    return { clusterId: owner.clusterId, requestQueueUrl, requestQueueName: requestName, deadLetterQueueUrl, ...(payload ? { payload } : {}) };
  }

  async describeClusterQueues(clusterId: string): Promise<ClusterQueueSet | undefined> {
    const requestName = requestQueueName(this.prefix, clusterId);
    const [requestQueueUrl, deadLetterQueueUrl] = await Promise.all([this.urlOf(requestName), this.urlOf(deadLetterQueueName(this.prefix, clusterId))]);
    if (!requestQueueUrl || !deadLetterQueueUrl) return undefined;
    let payload: PayloadLocation | undefined;
    if (this.options.payloadBucket) {
      // The prefix is keyed by the namespace, which the request queue carries as a tag.
      const tags = await this.call(`read the tags of ${requestName}`, () => this.client.send(new ListQueueTagsCommand({ QueueUrl: requestQueueUrl }))).catch((err: unknown) => {
        if (isQueueMissing(err)) return undefined;
        throw err;
      });
      if (!tags) return undefined;
      payload = this.payload(tags.Tags?.[QUEUE_TAGS.namespace]);
    }
    return { clusterId, requestQueueUrl, requestQueueName: requestName, deadLetterQueueUrl, ...(payload ? { payload } : {}) };
  }

  async deleteClusterQueues(clusterId: string): Promise<void> {
    const requestName = requestQueueName(this.prefix, clusterId);
    const dlqName = deadLetterQueueName(this.prefix, clusterId);
    // Listing is eventually consistent on AWS: the two fixed names are looked up directly as well.
    const listed = (await this.listUrls(`${this.prefix}${clusterId}-`)).filter((url) => parseQueueName(this.prefix, queueNameFromUrl(url))?.clusterId === clusterId);
    const replies = listed.filter((url) => parseQueueName(this.prefix, queueNameFromUrl(url))?.kind === 'reply');
    await Promise.all(replies.map((url) => this.deleteByUrl(url)));
    const request = listed.find((url) => queueNameFromUrl(url) === requestName) ?? (await this.urlOf(requestName));
    if (request) await this.deleteByUrl(request);
    // The DLQ last: messages the request queue redrives meanwhile still have a home.
    const dlq = listed.find((url) => queueNameFromUrl(url) === dlqName) ?? (await this.urlOf(dlqName));
    if (dlq) await this.deleteByUrl(dlq);
  }

  async ensureSessionQueue(clusterId: string, sessionId: string): Promise<SessionQueue> {
    const name = replyQueueName(this.prefix, clusterId, sessionId);
    const requestName = requestQueueName(this.prefix, clusterId);
    const requestUrl = await this.urlOf(requestName);
    if (!requestUrl) throw new ClusterQueuesNotFoundError(`the request queue of cluster ${clusterId}`);
    let clusterTags: Record<string, string>;
    try {
      const out = await this.call(`read the tags of ${requestName}`, () => this.client.send(new ListQueueTagsCommand({ QueueUrl: requestUrl })));
      clusterTags = out.Tags ?? {};
    } catch (err) {
      if (isQueueMissing(err)) throw new ClusterQueuesNotFoundError(`the request queue of cluster ${clusterId}`, { cause: err });
      throw err;
    }
    const tags: Record<string, string> = {};
    for (const key of [QUEUE_TAGS.user, QUEUE_TAGS.namespace, QUEUE_TAGS.cluster, QUEUE_TAGS.job, QUEUE_TAGS.managedBy, QUEUE_TAGS.queuePrefix]) {
      const value = clusterTags[key];
      if (value !== undefined) tags[key] = value;
    }
    tags[QUEUE_TAGS.cluster] ??= clusterId;
    tags[QUEUE_TAGS.queuePrefix] = this.prefix;
    tags[QUEUE_TAGS.lastSeen] = isoAt(this.clock);
    const url = await this.ensureQueue(name, { ...REPLY_QUEUE_ATTRIBUTES }, tags);
    return { clusterId, sessionId, url, name };
  }

  async touchSession(clusterId: string, sessionId: string, at: string): Promise<void> {
    const name = replyQueueName(this.prefix, clusterId, sessionId);
    const url = await this.urlOf(name);
    if (!url) throw new ClusterQueuesNotFoundError(`the reply queue of session ${sessionId} on cluster ${clusterId}`);
    try {
      await this.call(`tag queue ${name}`, () => this.client.send(new TagQueueCommand({ QueueUrl: url, Tags: { [QUEUE_TAGS.lastSeen]: at } })));
    } catch (err) {
      if (isQueueMissing(err)) throw new ClusterQueuesNotFoundError(`the reply queue of session ${sessionId} on cluster ${clusterId}`, { cause: err });
      throw err;
    }
  }

  async describeSession(clusterId: string, sessionId: string): Promise<ManagedQueue | undefined> {
    const name = replyQueueName(this.prefix, clusterId, sessionId);
    const url = await this.urlOf(name);
    if (!url) return undefined;
    try {
      const out = await this.call(`read the tags of ${name}`, () => this.client.send(new ListQueueTagsCommand({ QueueUrl: url })));
      const seen = out.Tags?.[QUEUE_TAGS.lastSeen];
      return { name, url, kind: 'reply', clusterId, sessionId, ...(seen !== undefined ? { lastSeenAt: seen } : {}) };
    } catch (err) {
      if (isQueueMissing(err)) return undefined;
      throw err;
    }
  }

  async deleteSessionQueue(clusterId: string, sessionId: string): Promise<void> {
    const url = await this.urlOf(replyQueueName(this.prefix, clusterId, sessionId));
    if (url) await this.deleteByUrl(url);
  }

  async list(): Promise<ManagedQueue[]> {
    const queues: ManagedQueue[] = [];
    for (const url of await this.listUrls(this.prefix)) {
      const name = queueNameFromUrl(url);
      const parsed = parseQueueName(this.prefix, name);
      if (parsed) queues.push({ name, url, ...parsed });
    }
    // Tags tell whose a queue is (another deployment's prefix may begin with ours) and when a session was last seen.
    const excluded = new Set<string>();
    let next = 0;
    await Promise.all(
      Array.from({ length: Math.min(TAG_READ_CONCURRENCY, queues.length) }, async () => {
        while (next < queues.length) {
          const queue = queues[next] as ManagedQueue;
          next += 1;
          try {
            const out = await this.call(`read the tags of ${queue.name}`, () => this.client.send(new ListQueueTagsCommand({ QueueUrl: queue.url })));
            const tags = out.Tags ?? {};
            const owner = tags[QUEUE_TAGS.queuePrefix];
            if (owner !== undefined && owner !== this.prefix) excluded.add(queue.url);
            const seen = tags[QUEUE_TAGS.lastSeen];
            if (queue.kind === 'reply' && seen !== undefined) queue.lastSeenAt = seen;
          } catch (err) {
            if (isQueueMissing(err)) excluded.add(queue.url);
            else {
              queue.lastSeenUnknown = true;
              this.logger.warn('could not read the tags of a queue; it is not judged this time', { queue: queue.name, error: err });
            }
          }
        }
      }),
    );
    return queues.filter((q) => !excluded.has(q.url));
  }

  private async listUrls(prefix: string): Promise<string[]> {
    const urls: string[] = [];
    let token: string | undefined;
    do {
      const out = await this.call(`list queues under ${prefix}`, () =>
        this.client.send(new ListQueuesCommand({ QueueNamePrefix: prefix, MaxResults: 1000, ...(token ? { NextToken: token } : {}) })),
      );
      urls.push(...(out.QueueUrls ?? []));
      token = out.NextToken;
    } while (token);
    return urls;
  }
}
