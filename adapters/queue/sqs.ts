import {
  DeleteMessageCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
  type SQSClientConfig,
} from '@aws-sdk/client-sqs';
import type { ProvisionMessage, WorkQueue } from '../../shared/ports/work-queue.ts';
import { QueueUnavailableError } from './errors.ts';
import { decodeProvisionMessage, encodeProvisionMessage } from './message.ts';

/**
 * The provisioning queue on SQS (AWS, or fauxqs locally). Messages are JSON
 * `{clusterId, cause}`; delivery is at-least-once and the provisioner's step
 * is idempotent. `receive`/`ack` serve pollers outside Lambda (the local
 * stack); in AWS the provisioner function is triggered by SQS instead.
 *
 * Queue URLs are used exactly as given (fauxqs matches them as strings).
 */
export interface SqsWorkQueueOptions {
  /** The queue URL; or give `queueName` and the URL is looked up (GetQueueUrl) on first use. */
  queueUrl?: string;
  queueName?: string;
  /** An existing client; otherwise one is made from `region`/`endpoint`. */
  client?: SQSClient;
  region?: string;
  /** e.g. the fauxqs address `http://127.0.0.1:PORT`. */
  endpoint?: string;
  credentials?: SQSClientConfig['credentials'];
}

export interface ReceivedProvisionMessage {
  message: ProvisionMessage;
  receiptHandle: string;
  messageId: string;
  /** How many times SQS has delivered this message (1 on first delivery). */
  receiveCount: number;
}

/** SQS caps DelaySeconds at 15 minutes. */
export const MAX_DELAY_SECONDS = 900;

export class SqsWorkQueue implements WorkQueue {
  private readonly client: SQSClient;
  private readonly queueName: string | undefined;
  private url: Promise<string> | undefined;

  constructor(options: SqsWorkQueueOptions) {
    if (!options.queueUrl && !options.queueName) throw new TypeError('SqsWorkQueue needs queueUrl or queueName');
    this.queueName = options.queueName;
    if (options.queueUrl) this.url = Promise.resolve(options.queueUrl);
    this.client =
      options.client ??
      new SQSClient({
        ...(options.region ? { region: options.region } : {}),
        ...(options.endpoint ? { endpoint: options.endpoint } : {}),
        ...(options.credentials ? { credentials: options.credentials } : {}),
      });
  }

  /** The queue URL (looked up once by name when not configured). */
  queueUrl(): Promise<string> {
    this.url ??= this.client.send(new GetQueueUrlCommand({ QueueName: this.queueName })).then(
      (out) => {
        if (!out.QueueUrl) throw new QueueUnavailableError(`queue ${this.queueName} has no URL`);
        return out.QueueUrl;
      },
      (err: unknown) => {
        this.url = undefined;
        throw new QueueUnavailableError(`could not look up the URL of queue ${this.queueName}`, { cause: err });
      },
    );
    return this.url;
  }

  async send(message: ProvisionMessage, options: { delaySeconds?: number } = {}): Promise<void> {
    const delay = Math.min(MAX_DELAY_SECONDS, Math.max(0, Math.round(options.delaySeconds ?? 0)));
    const queueUrl = await this.queueUrl();
    try {
      await this.client.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: encodeProvisionMessage(message),
          ...(delay > 0 ? { DelaySeconds: delay } : {}),
        }),
      );
    } catch (err) {
      throw new QueueUnavailableError(`could not send ${message.cause} message for cluster ${message.clusterId} to the provisioning queue`, { cause: err });
    }
  }

  /** Long-poll for up to `maxMessages` messages (at most 10). */
  async receive(options: { maxMessages?: number; waitSeconds?: number; visibilityTimeoutSeconds?: number; abortSignal?: AbortSignal } = {}): Promise<ReceivedProvisionMessage[]> {
    const queueUrl = await this.queueUrl();
    let out;
    try {
      out = await this.client.send(
        new ReceiveMessageCommand({
          QueueUrl: queueUrl,
          MaxNumberOfMessages: Math.min(10, Math.max(1, options.maxMessages ?? 10)),
          WaitTimeSeconds: Math.min(20, Math.max(0, options.waitSeconds ?? 10)),
          ...(options.visibilityTimeoutSeconds === undefined ? {} : { VisibilityTimeout: options.visibilityTimeoutSeconds }),
          MessageSystemAttributeNames: ['ApproximateReceiveCount'],
        }),
        options.abortSignal ? { abortSignal: options.abortSignal } : {},
      );
    } catch (err) {
      throw new QueueUnavailableError('could not receive from the provisioning queue', { cause: err });
    }
    return (out.Messages ?? []).flatMap((m) => {
      if (!m.ReceiptHandle || !m.MessageId) return [];
      let message: ProvisionMessage;
      try {
        message = decodeProvisionMessage(m.Body, m.MessageId);
      } catch {
        // A poison message is left alone: it becomes visible again and the
        // queue's redrive policy moves it to the dead-letter queue.
        return [];
      }
      return [
        {
          message,
          receiptHandle: m.ReceiptHandle,
          messageId: m.MessageId,
          receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? '1') || 1,
        },
      ];
    });
  }

  /** Delete a handled message. */
  async ack(receiptHandle: string): Promise<void> {
    const queueUrl = await this.queueUrl();
    try {
      await this.client.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: receiptHandle }));
    } catch (err) {
      throw new QueueUnavailableError('could not delete a handled message from the provisioning queue', { cause: err });
    }
  }
}
