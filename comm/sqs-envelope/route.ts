import { z } from 'zod';

/**
 * How a client reaches a cluster over SQS (the route for clients outside the
 * cluster network), and what the scheduler's bridge serves. One home for the
 * contract: the control plane puts it in a cluster's connection details, the
 * client reads it, the bridge is configured with the same fields.
 *
 * Queues: one request queue per cluster (FIFO: a message group per session,
 * deduplication by envelope id, a DLQ after 5 receives) and one reply queue
 * per session, whose name starts with `replyQueuePrefix`. Bodies over the
 * inline limit go to `s3://bucket/prefix…`.
 */
export const sqsRouteSchema = z.object({
  clusterId: z.string().min(1),
  requestQueueUrl: z.url(),
  /** The request queue's dead-letter queue, when the bridge may move refused envelopes there itself. */
  deadLetterQueueUrl: z.url().optional(),
  region: z.string().min(1),
  /** SQS endpoint override (fauxqs locally); absent on AWS. */
  endpoint: z.url().optional(),
  bucket: z.string().min(1),
  /** Per-cluster key prefix for payloads, ending in `/`. */
  prefix: z.string().min(1).regex(/\/$/, 'ends with /'),
  /** S3 endpoint override (fauxqs locally); absent on AWS. */
  s3Endpoint: z.url().optional(),
  /** Reply queue names of this cluster's sessions start with this (the bridge refuses others). */
  replyQueuePrefix: z.string().min(1),
  /** Static credentials for an emulator (the local stack); never set on AWS, where the default provider chain applies. */
  credentials: z.object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) }).optional(),
});
export type SqsRoute = z.infer<typeof sqsRouteSchema>;

/** The reply queue name of a session (SQS names: 80 characters of [A-Za-z0-9_-]). */
export function replyQueueName(route: Pick<SqsRoute, 'replyQueuePrefix'>, session: string): string {
  return `${route.replyQueuePrefix}${session}`.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 80);
}

/** The queue name at the end of a queue URL. */
export function queueNameOf(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

/** Whether a reply queue URL belongs to this route's cluster (same account path, the cluster's prefix). */
export function isClusterReplyQueue(route: Pick<SqsRoute, 'replyQueuePrefix' | 'requestQueueUrl'>, url: string): boolean {
  const base = route.requestQueueUrl.slice(0, route.requestQueueUrl.lastIndexOf('/') + 1);
  return url.startsWith(base) && queueNameOf(url).startsWith(route.replyQueuePrefix) && !url.slice(base.length).includes('/');
}

/** The S3 key of an envelope's body. */
export function payloadKey(route: Pick<SqsRoute, 'prefix'>, session: string, envelopeId: string): string {
  return `${route.prefix}${session}/${envelopeId}`;
}
