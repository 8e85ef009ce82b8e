import {
  CreateLogStreamCommand,
  PutLogEventsCommand,
  type CloudWatchLogsClient,
  type InputLogEvent,
} from '@aws-sdk/client-cloudwatch-logs';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';

/**
 * Ships a process's log lines to one CloudWatch Logs stream, from inside
 * the process (docs/logs.md says why not a Fluent Bit DaemonSet).
 *
 * - `write` is synchronous and O(1): it appends to a buffer and returns. Task
 *   execution never waits for CloudWatch. When CloudWatch is slow or down the
 *   buffer is capped (`maxBufferedBytes`): the oldest lines are dropped and a
 *   line saying how many is shipped in their place.
 * - A pump sends one PutLogEvents at a time, as large as the API allows
 *   (PutLogEvents, CloudWatch Logs API reference): at most 10,000 events and
 *   1,048,576 bytes, counted as the UTF-8 bytes of each message plus 26;
 *   events in chronological order, spanning at most 24 hours; one event at
 *   most 256 KiB with its 26 bytes (longer lines are cut and say so).
 * - No sequence token is sent: PutLogEvents ignores it since 2023 and never
 *   answers InvalidSequenceTokenException, so several pods may share a stream.
 * - A missing stream (ResourceNotFoundException) is created
 *   (ResourceAlreadyExistsException is success) and the batch resent;
 *   throttling and 5xx are retried with shared/core/retry.ts backoff; other
 *   refusals drop that batch and are reported once per batch to `onError`.
 *   Events CloudWatch rejects as too old/new/expired are counted.
 * - `flush()` resolves when everything written before it was sent;
 *   `close(deadlineMs)` flushes with a deadline (SIGTERM: the last lines go
 *   out before the process exits).
 */
export const PUT_LOG_EVENTS_MAX_EVENTS = 10_000;
export const PUT_LOG_EVENTS_MAX_BYTES = 1_048_576;
export const LOG_EVENT_OVERHEAD_BYTES = 26;
export const LOG_EVENT_MAX_BYTES = 262_144;
export const BATCH_MAX_SPAN_MS = 24 * 60 * 60_000;

export const SHIP_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 200, maxMs: 10_000, factor: 2, jitter: 'full' });

export interface ShipperOptions {
  client: CloudWatchLogsClient;
  logGroupName: string;
  logStreamName: string;
  now?: () => number;
  /** How long a line may wait for companions before it is sent. @default 1000 */
  flushIntervalMs?: number;
  /** Buffer cap; beyond it the oldest lines are dropped (and counted). @default 8 MiB */
  maxBufferedBytes?: number;
  backoff?: BackoffPolicy;
  /** Where the shipper reports its own trouble (never back into the shipped stream). */
  onError?: (message: string, error?: unknown) => void;
}

interface Pending {
  timestamp: number;
  message: string;
  bytes: number;
}

export interface ShipperStats {
  shipped: number;
  dropped: number;
  rejected: number;
  batches: number;
}

const TRUNCATED = ' …[truncated by recc: line over the CloudWatch Logs event limit]';

/** Cut a message so its UTF-8 bytes plus the event overhead fit one event. */
export function fitEvent(message: string): string {
  const limit = LOG_EVENT_MAX_BYTES - LOG_EVENT_OVERHEAD_BYTES;
  if (Buffer.byteLength(message, 'utf8') <= limit) return message;
  const room = limit - Buffer.byteLength(TRUNCATED, 'utf8');
  // Cut on a character boundary: decode the first `room` bytes and drop a partial last character.
  const cut = Buffer.from(message, 'utf8').subarray(0, room).toString('utf8').replace(/\uFFFD$/, '');
  return cut + TRUNCATED;
}

/** Split pending events into the next batch PutLogEvents accepts (pure; exported for the contract tests). */
export function takeBatch(queue: readonly Pending[]): number {
  let bytes = 0;
  let n = 0;
  const first = queue[0]?.timestamp ?? 0;
  for (const e of queue) {
    if (n >= PUT_LOG_EVENTS_MAX_EVENTS) break;
    if (bytes + e.bytes + LOG_EVENT_OVERHEAD_BYTES > PUT_LOG_EVENTS_MAX_BYTES) break;
    if (e.timestamp - first > BATCH_MAX_SPAN_MS) break;
    bytes += e.bytes + LOG_EVENT_OVERHEAD_BYTES;
    n += 1;
  }
  return n;
}

const RETRYABLE = new Set(['ThrottlingException', 'ServiceUnavailableException', 'LimitExceededException', 'TimeoutError', 'RequestTimeout']);

function retryable(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number }; $retryable?: unknown; code?: string };
  if (RETRYABLE.has(e?.name ?? '')) return true;
  if (e?.$retryable) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  // Network errors (the endpoint is unreachable for a moment).
  return ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN'].includes(e?.code ?? '');
}

export class CloudWatchLogShipper {
  private queue: Pending[] = [];
  private bufferedBytes = 0;
  private droppedSinceNotice = 0;
  private lastTimestamp = 0;
  private pumping: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private streamReady = false;
  private readonly now: () => number;
  readonly stats: ShipperStats = { shipped: 0, dropped: 0, rejected: 0, batches: 0 };

  constructor(private readonly options: ShipperOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Buffer one line (no trailing newline); never blocks, never throws. */
  write(message: string, timestamp: number = this.now()): void {
    if (this.closed || message === '') return;
    // CloudWatch wants chronological events; a clock stepping back must not reorder them.
    const ts = Math.max(timestamp, this.lastTimestamp);
    this.lastTimestamp = ts;
    const fitted = fitEvent(message);
    const bytes = Buffer.byteLength(fitted, 'utf8');
    this.queue.push({ timestamp: ts, message: fitted, bytes });
    this.bufferedBytes += bytes + LOG_EVENT_OVERHEAD_BYTES;
    const cap = this.options.maxBufferedBytes ?? 8 * 1024 * 1024;
    while (this.bufferedBytes > cap && this.queue.length > 1) {
      const old = this.queue.shift() as Pending;
      this.bufferedBytes -= old.bytes + LOG_EVENT_OVERHEAD_BYTES;
      this.droppedSinceNotice += 1;
      this.stats.dropped += 1;
    }
    if (this.queue.length >= PUT_LOG_EVENTS_MAX_EVENTS || this.bufferedBytes >= PUT_LOG_EVENTS_MAX_BYTES) this.kick();
    else this.schedule();
  }

  /** Resolves when every line written so far was sent (or given up on). */
  async flush(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    while (this.queue.length > 0 || this.pumping) {
      this.kick();
      await this.pumping;
    }
  }

  /** Flush with a deadline, then stop accepting lines. */
  async close(deadlineMs = 5_000): Promise<void> {
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      this.flush(),
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, deadlineMs);
        timeout.unref();
      }),
    ]);
    if (timeout) clearTimeout(timeout);
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.queue.length > 0) this.options.onError?.(`recc log shipping: ${this.queue.length} lines not sent before the ${deadlineMs} ms deadline`);
  }

  private schedule(): void {
    if (this.timer || this.pumping) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.kick();
    }, this.options.flushIntervalMs ?? 1000);
    this.timer.unref();
  }

  private kick(): void {
    if (this.pumping || this.queue.length === 0) return;
    this.pumping = this.pump().finally(() => {
      this.pumping = undefined;
      if (this.queue.length > 0 && !this.closed) this.schedule();
    });
  }

  private async pump(): Promise<void> {
    while (this.queue.length > 0) {
      if (this.droppedSinceNotice > 0) {
        const notice = JSON.stringify({ level: 'warn', time: new Date(this.queue[0]?.timestamp ?? this.now()).toISOString(), message: `recc log shipping dropped ${this.droppedSinceNotice} older lines (CloudWatch Logs was not keeping up)` });
        this.queue.unshift({ timestamp: this.queue[0]?.timestamp ?? this.now(), message: notice, bytes: Buffer.byteLength(notice) });
        this.bufferedBytes += Buffer.byteLength(notice) + LOG_EVENT_OVERHEAD_BYTES;
        this.droppedSinceNotice = 0;
      }
      const n = takeBatch(this.queue);
      const batch = this.queue.slice(0, n);
      await this.send(batch.map((e): InputLogEvent => ({ timestamp: e.timestamp, message: e.message })));
      this.queue.splice(0, n);
      for (const e of batch) this.bufferedBytes -= e.bytes + LOG_EVENT_OVERHEAD_BYTES;
    }
  }

  private async send(logEvents: InputLogEvent[]): Promise<void> {
    const { client, logGroupName, logStreamName } = this.options;
    for (let attempt = 0; ; attempt += 1) {
      try {
        if (!this.streamReady) await this.ensureStream();
        const out = await client.send(new PutLogEventsCommand({ logGroupName, logStreamName, logEvents }));
        const info = out.rejectedLogEventsInfo;
        // rejectedLogEventsInfo: events up to the too-old/expired end index and from the too-new start index were not stored.
        const oldEnd = Math.max(info?.tooOldLogEventEndIndex ?? -1, info?.expiredLogEventEndIndex ?? -1);
        const newStart = info?.tooNewLogEventStartIndex ?? logEvents.length;
        const rejected = oldEnd + 1 + (logEvents.length - Math.max(newStart, oldEnd + 1));
        this.stats.rejected += rejected;
        this.stats.shipped += logEvents.length - rejected;
        this.stats.batches += 1;
        return;
      } catch (err) {
        if ((err as Error).name === 'ResourceNotFoundException' && this.streamReady) {
          this.streamReady = false; // the stream was deleted under us: create it again
          continue;
        }
        if (!retryable(err) || (this.closed && attempt > 0)) {
          this.stats.dropped += logEvents.length;
          this.options.onError?.(`recc log shipping: PutLogEvents refused ${logEvents.length} lines: ${(err as Error).name}: ${(err as Error).message}`, err);
          return;
        }
        await sleep(backoffDelay(attempt, this.options.backoff ?? SHIP_BACKOFF), { unref: true });
      }
    }
  }

  private async ensureStream(): Promise<void> {
    const { client, logGroupName, logStreamName } = this.options;
    try {
      await client.send(new CreateLogStreamCommand({ logGroupName, logStreamName }));
    } catch (err) {
      if ((err as Error).name !== 'ResourceAlreadyExistsException') throw err;
    }
    this.streamReady = true;
  }
}
