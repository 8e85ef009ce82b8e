import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import type { EnvelopeIo, OutgoingEnvelope } from '../../client/sqs-transport-io.ts';
import { packBody, type ReplyBody, type ReplyKind } from '../../comm/sqs-envelope/index.ts';
import type { Logger } from '../../shared/core/logger.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';

/**
 * How long an `accepted` reply waits to share a send with other replies. It
 * only lets the client forget what it would fail if the envelope were
 * refused, so it can ride with the next results (a submission is forwarded
 * before its record is synced, so its results often leave before it is accepted).
 */
const LAZY_MS = 200;
const REPLY_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 200, maxMs: 5_000, factor: 2, jitter: 'equal' });

interface Pending {
  envelope: OutgoingEnvelope;
  done: () => void;
}

/**
 * Replies to sessions, batched: everything enqueued in one event-loop turn
 * leaves in SendMessageBatch calls of up to 10 (the I/O splits by size and
 * puts big bodies in S3). Sequence numbers grow per session and across
 * restarts (they start from the boot time), so a client can order what it
 * receives. A reply queue that no longer exists (the client closed) drops
 * its replies; other failures are retried until they succeed or the bridge stops.
 */
export class ReplySender {
  private readonly queues = new Map<string, Pending[]>();
  private readonly seqs = new Map<string, number>();
  private readonly seqBase = Date.now() * 1000;
  private scheduled = false;
  private lazyTimer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private readonly idPrefix = `r${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  private stopped = false;
  private inFlight = 0;

  constructor(
    private readonly io: EnvelopeIo,
    private readonly clusterId: string,
    private readonly logger: Logger,
  ) {}

  /**
   * Queue a reply; resolves once SQS accepted it (or it was dropped because
   * its queue is gone). `accepted` replies wait up to LAZY_MS for other
   * replies to the same queue (usually the first results), so they share a
   * SendMessageBatch instead of costing a call of their own.
   */
  send<K extends ReplyKind>(session: string, replyQueueUrl: string, kind: K, body: ReplyBody<K> | Record<string, unknown>, correlation?: string, packed?: Buffer): Promise<void> {
    const seq = (this.seqs.get(session) ?? this.seqBase) + 1;
    this.seqs.set(session, seq);
    const envelope: OutgoingEnvelope = {
      header: { id: `${this.idPrefix}-${++this.nextId}`, cluster: this.clusterId, session, seq, kind, ...(correlation ? { correlation } : {}) },
      body: packed ?? packBody(body),
    };
    return new Promise((resolve) => {
      let list = this.queues.get(replyQueueUrl);
      if (!list) this.queues.set(replyQueueUrl, (list = []));
      list.push({ envelope, done: resolve });
      if (kind === 'accepted') {
        this.lazyTimer ??= setTimeout(() => {
          this.lazyTimer = undefined;
          void this.flush();
        }, LAZY_MS);
        return;
      }
      if (!this.scheduled) {
        this.scheduled = true;
        setImmediate(() => void this.flush());
      }
    });
  }

  get pending(): number {
    let n = this.inFlight;
    for (const l of this.queues.values()) n += l.length;
    return n;
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    clearTimeout(this.lazyTimer);
    this.lazyTimer = undefined;
    const all = [...this.queues];
    this.queues.clear();
    await Promise.all(all.map(([url, list]) => this.sendAll(url, list)));
  }

  private async sendAll(url: string, list: Pending[]): Promise<void> {
    this.inFlight += list.length;
    try {
      for (let attempt = 0; !this.stopped; attempt++) {
        try {
          await this.io.send(url, list.map((p) => p.envelope));
          break;
        } catch (err) {
          if (isQueueGone(err)) {
            this.logger.warn('a reply queue is gone; its replies are dropped', { event: 'sqs-bridge.reply-queue-gone', replyQueueUrl: url, replies: list.length });
            break;
          }
          this.logger.warn('sending replies failed; retrying', { event: 'sqs-bridge.reply-retry', replyQueueUrl: url, error: (err as Error).message, attempt });
          await sleep(backoffDelay(attempt, REPLY_BACKOFF));
        }
      }
    } finally {
      this.inFlight -= list.length;
      for (const p of list) p.done();
    }
  }

  /** True or false from SQS; undefined when it could not tell (throttled, unreachable): nothing is ended on a guess. */
  async queueExists(url: string): Promise<boolean | undefined> {
    try {
      await this.io.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn'] }));
      return true;
    } catch (err) {
      if (isQueueGone(err)) return false;
      this.logger.warn("could not check a silent session's reply queue", { event: 'sqs-bridge.probe-failed', replyQueueUrl: url, error: (err as Error).message });
      return undefined;
    }
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.lazyTimer);
  }
}

/** SQS's answer for a queue that does not exist (deleted by its client). */
function isQueueGone(err: unknown): boolean {
  const name = (err as { name?: string }).name ?? '';
  return name.includes('NonExistentQueue') || name === 'QueueDoesNotExist';
}
