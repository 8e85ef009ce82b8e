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

/** What a cluster's connection details say about its SQS route (shared/lifecycle/types.ts ClusterConnection). */
export interface SqsConnectionFields {
  requestQueueUrl?: string | undefined;
  payloadBucket?: string | undefined;
  payloadPrefix?: string | undefined;
}

/**
 * The SQS route of a cluster from its connection details, or undefined when
 * it has none. The queue URL tells the rest: its name gives the deployment's
 * prefix (`<prefix><clusterId>-req.fifo`, so reply queues are
 * `<prefix><clusterId>-reply-<session>`), its host the region
 * (`sqs.<region>.…`) and, off AWS, the emulator's endpoint (the local
 * stack's fauxqs names its queues `http://sqs.<region>.localhost:PORT/…` and
 * listens on 127.0.0.1). An emulator gets dummy credentials unless the
 * environment has some.
 */
export function sqsRouteFromConnection(clusterId: string, conn: SqsConnectionFields, env: Record<string, string | undefined> = {}): SqsRoute | undefined {
  if (!conn.requestQueueUrl || !conn.payloadBucket || !conn.payloadPrefix) return undefined;
  let url: URL;
  try {
    url = new URL(conn.requestQueueUrl);
  } catch {
    return undefined;
  }
  const name = queueNameOf(conn.requestQueueUrl);
  const at = name.lastIndexOf(`${clusterId}-req.fifo`);
  if (at < 0) return undefined;
  const prefix = name.slice(0, at);
  const region = /^sqs\.([a-z0-9-]+)\./.exec(url.hostname)?.[1] ?? env.AWS_REGION ?? 'us-east-1';
  const onAws = url.hostname.endsWith('.amazonaws.com') || url.hostname.endsWith('.amazonaws.com.cn');
  const host = url.hostname === 'localhost' || url.hostname.endsWith('.localhost') ? '127.0.0.1' : url.hostname;
  const endpoint = onAws ? undefined : `${url.protocol}//${host}${url.port ? `:${url.port}` : ''}`;
  const credentials =
    !onAws && !env.AWS_ACCESS_KEY_ID ? { accessKeyId: 'recc-local', secretAccessKey: 'recc-local' } : undefined;
  return sqsRouteSchema.parse({
    clusterId,
    requestQueueUrl: conn.requestQueueUrl,
    region,
    ...(endpoint ? { endpoint, s3Endpoint: endpoint } : {}),
    bucket: conn.payloadBucket,
    prefix: conn.payloadPrefix,
    replyQueuePrefix: `${prefix}${clusterId}-reply-`,
    ...(credentials ? { credentials } : {}),
  });
}
