import { REQUEST_MAX_RECEIVES } from '../../shared/ports/cluster-queues.ts';

/**
 * The queue attributes every ClusterQueues adapter creates (one home, so the
 * memory adapter mirrors what SQS gets).
 */

/** Request queue: FIFO, dedupe by the sender's id (envelope id), per-session groups. */
export function requestQueueAttributes(deadLetterTargetArn: string, visibilityTimeoutSeconds: number): Record<string, string> {
  return {
    FifoQueue: 'true',
    ContentBasedDeduplication: 'false',
    DeduplicationScope: 'messageGroup',
    FifoThroughputLimit: 'perMessageGroupId',
    VisibilityTimeout: String(visibilityTimeoutSeconds),
    // 4 days: a scheduler down over a weekend still finds its submissions.
    MessageRetentionPeriod: '345600',
    ReceiveMessageWaitTimeSeconds: '20',
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn, maxReceiveCount: REQUEST_MAX_RECEIVES }),
  };
}

/** Dead-letter queue of the request queue: FIFO, kept 14 days for inspection. */
export const DEAD_LETTER_QUEUE_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({
  FifoQueue: 'true',
  ContentBasedDeduplication: 'false',
  MessageRetentionPeriod: '1209600',
});

/** A session's reply queue: standard, long polling, results kept a day at most. */
export const REPLY_QUEUE_ATTRIBUTES: Readonly<Record<string, string>> = Object.freeze({
  VisibilityTimeout: '30',
  MessageRetentionPeriod: '86400',
  ReceiveMessageWaitTimeSeconds: '20',
});

/** Attributes SetQueueAttributes may change on an existing queue (FifoQueue is fixed at creation). */
export function settableAttributes(attributes: Record<string, string>): Record<string, string> {
  const { FifoQueue: _fifo, ...rest } = attributes;
  return rest;
}

/** @default 60 s: the bridge extends visibility while it records a submission. */
export const DEFAULT_REQUEST_VISIBILITY_SECONDS = 60;
