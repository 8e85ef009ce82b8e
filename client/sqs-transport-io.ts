import {
  ChangeMessageVisibilityBatchCommand, DeleteMessageBatchCommand, ReceiveMessageCommand, SendMessageBatchCommand, SQSClient,
  type SendMessageBatchRequestEntry,
} from '@aws-sdk/client-sqs';
import { DeleteObjectCommand, GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  EnvelopeError, encodeInline, encodePointer, needsPointer, payloadKey, sqsBatches,
  type Envelope, type OutgoingHeader, type PayloadPointer, type SqsRoute,
} from '../comm/sqs-envelope/index.ts';
import { retry } from '../shared/core/retry.ts';

/**
 * The I/O under the envelope protocol, shared by the client's SqsTransport
 * and the scheduler's bridge: batched sends (10 per call, 256 KiB per call)
 * with bodies over the inline limit put in S3 first, long-polled batched
 * receives, batched deletes and visibility changes, and pointer reads.
 */
export interface EnvelopeIoOptions {
  sqs?: SQSClient;
  s3?: S3Client;
  /** Static credentials (local emulator); on AWS the default provider chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export interface OutgoingEnvelope {
  header: OutgoingHeader;
  body: Uint8Array;
}

export interface ReceivedMessage {
  text: string | undefined;
  receiptHandle: string;
  messageId: string;
  receiveCount: number;
}

/** Transient SQS/S3 failures (throttling, 5xx, network) are retried with this backoff for up to this long. */
const IO_RETRY = { initialMs: 50, maxMs: 2_000, factor: 2, jitter: 'equal' as const, deadlineMs: 30_000 };

export class EnvelopeIo {
  readonly sqs: SQSClient;
  readonly s3: S3Client;
  /** SQS and S3 calls made, by name (the bench turns them into dollars). */
  readonly calls: Record<string, number> = {};
  /** Envelopes sent, by kind. */
  readonly sent: Record<string, number> = {};

  constructor(
    readonly route: SqsRoute,
    options: EnvelopeIoOptions = {},
  ) {
    const credentials = options.credentials ? { credentials: options.credentials } : {};
    this.sqs = options.sqs ?? new SQSClient({ region: route.region, ...(route.endpoint ? { endpoint: route.endpoint } : {}), ...credentials, maxAttempts: 5 });
    this.s3 =
      options.s3 ??
      new S3Client({
        region: route.region,
        ...(route.s3Endpoint ? { endpoint: route.s3Endpoint, forcePathStyle: true } : {}),
        ...credentials,
        maxAttempts: 5,
      });
  }

  private count(name: string, n = 1): void {
    this.calls[name] = (this.calls[name] ?? 0) + n;
  }

  /**
   * Send envelopes to one queue, in order within each call. Bodies too big to
   * travel inline are written to S3 first (the envelope carries the pointer).
   * FIFO queues get the session as message group and the envelope id as
   * deduplication id. Resolves with the pointers written.
   */
  async send(queueUrl: string, envelopes: readonly OutgoingEnvelope[], signal?: AbortSignal): Promise<PayloadPointer[]> {
    const fifo = queueUrl.endsWith('.fifo');
    const pointers: PayloadPointer[] = [];
    for (const e of envelopes) this.sent[e.header.kind] = (this.sent[e.header.kind] ?? 0) + 1;
    const entries = await Promise.all(
      envelopes.map(async (e, i): Promise<SendMessageBatchRequestEntry> => {
        let text: string;
        if (needsPointer(e.body.length, e.header)) {
          const ptr = await this.putPayload(e.header, e.body, signal);
          pointers.push(ptr);
          text = encodePointer(e.header, ptr);
        } else text = encodeInline(e.header, e.body);
        return { Id: String(i), MessageBody: text, ...(fifo ? { MessageGroupId: e.header.session, MessageDeduplicationId: e.header.id } : {}) };
      }),
    );
    for (const batch of sqsBatches(entries, (e) => (e.MessageBody as string).length + 64)) {
      let pending = batch;
      await retry(
        async () => {
          this.count('SendMessageBatch');
          const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: queueUrl, Entries: pending }), signal ? { abortSignal: signal } : {});
          const failed = new Set((out.Failed ?? []).map((f) => f.Id));
          if (failed.size === 0) return;
          const senderFault = (out.Failed ?? []).find((f) => f.SenderFault);
          if (senderFault) throw new EnvelopeError('invalid-field', '', `SQS refused an envelope: ${senderFault.Code ?? ''} ${senderFault.Message ?? ''}`.trim());
          pending = pending.filter((e) => failed.has(e.Id));
          throw new Error(`${failed.size} envelope(s) not sent yet`);
        },
        { ...IO_RETRY, retryIf: (err) => !(err instanceof EnvelopeError) && !signal?.aborted, ...(signal ? { signal } : {}) },
      );
    }
    return pointers;
  }

  private async putPayload(h: OutgoingHeader, body: Uint8Array, signal?: AbortSignal): Promise<PayloadPointer> {
    const ptr = { bucket: this.route.bucket, key: payloadKey(this.route, h.session, h.id), size: body.length };
    await retry(
      async () => {
        this.count('PutObject');
        await this.s3.send(new PutObjectCommand({ Bucket: ptr.bucket, Key: ptr.key, Body: body }), signal ? { abortSignal: signal } : {});
      },
      { ...IO_RETRY, retryIf: () => !signal?.aborted, ...(signal ? { signal } : {}) },
    );
    return ptr;
  }

  /** Long-poll up to 10 messages. */
  async receive(queueUrl: string, options: { waitSeconds: number; visibilitySeconds?: number; signal?: AbortSignal; max?: number }): Promise<ReceivedMessage[]> {
    this.count('ReceiveMessage');
    const out = await this.sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: Math.min(10, options.max ?? 10),
        WaitTimeSeconds: options.waitSeconds,
        ...(options.visibilitySeconds === undefined ? {} : { VisibilityTimeout: options.visibilitySeconds }),
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
      options.signal ? { abortSignal: options.signal } : {},
    );
    return (out.Messages ?? []).flatMap((m) =>
      m.ReceiptHandle && m.MessageId
        ? [{ text: m.Body, receiptHandle: m.ReceiptHandle, messageId: m.MessageId, receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1') || 1 }]
        : [],
    );
  }

  /** Delete handled messages (10 per call). A handle that expired meanwhile is left to redelivery (and deduplication). */
  async delete(queueUrl: string, receiptHandles: readonly string[]): Promise<void> {
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const chunk = receiptHandles.slice(i, i + 10);
      await retry(
        async () => {
          this.count('DeleteMessageBatch');
          await this.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queueUrl, Entries: chunk.map((h, j) => ({ Id: String(j), ReceiptHandle: h })) }));
        },
        IO_RETRY,
      );
    }
  }

  /** Keep messages invisible while they are being processed. */
  async extendVisibility(queueUrl: string, receiptHandles: readonly string[], seconds: number): Promise<void> {
    for (let i = 0; i < receiptHandles.length; i += 10) {
      const chunk = receiptHandles.slice(i, i + 10);
      this.count('ChangeMessageVisibilityBatch');
      await this.sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: queueUrl, Entries: chunk.map((h, j) => ({ Id: String(j), ReceiptHandle: h, VisibilityTimeout: seconds })) }),
      );
    }
  }

  /**
   * The body of an envelope: inline, or read from S3. A pointer outside this
   * cluster's bucket and prefix is refused (it would read another cluster's
   * data with this side's rights); a missing object is `missing-payload`.
   */
  async body(env: Envelope): Promise<Uint8Array> {
    if (env.b) return env.b;
    const ptr = env.ptr;
    if (ptr.bucket !== this.route.bucket || !ptr.key.startsWith(this.route.prefix)) {
      throw new EnvelopeError('foreign-session', 'ptr', `the payload pointer is outside this cluster's prefix s3://${this.route.bucket}/${this.route.prefix}`);
    }
    try {
      const bytes = await retry(
        async () => {
          this.count('GetObject');
          const out = await this.s3.send(new GetObjectCommand({ Bucket: ptr.bucket, Key: ptr.key }));
          return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
        },
        { ...IO_RETRY, retryIf: (err) => !isMissing(err) },
      );
      if (bytes.length !== ptr.size) throw new EnvelopeError('missing-payload', 'ptr.size', `the payload object has ${bytes.length} bytes, the pointer says ${ptr.size}`);
      return bytes;
    } catch (err) {
      if (isMissing(err)) throw new EnvelopeError('missing-payload', 'ptr.key', `the payload object s3://${ptr.bucket}/${ptr.key} does not exist (expired or never written)`, { cause: err });
      throw err;
    }
  }

  /** Delete a payload once the message pointing to it was deleted (not-found is success). */
  async deletePayload(ptr: PayloadPointer): Promise<void> {
    try {
      this.count('DeleteObject');
      await this.s3.send(new DeleteObjectCommand({ Bucket: ptr.bucket, Key: ptr.key }));
    } catch (err) {
      if (!isMissing(err)) throw err;
    }
  }

  destroy(): void {
    this.sqs.destroy();
    this.s3.destroy();
  }
}

function isMissing(err: unknown): boolean {
  if (err instanceof NoSuchKey) return true;
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}
