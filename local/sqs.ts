import { buildApp } from 'fauxqs';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { LocalStackStartError } from './errors.ts';

/**
 * fauxqs 1.9.2 (an SQS emulator) in this process, bound to 127.0.0.1 through
 * its app builder (its start helper would bind every interface), with the
 * provisioning queue created. Messages live in memory: after a restart,
 * `recc up` re-enqueues what live clusters need (see `reconcile.ts`).
 */
export interface EmbeddedSqs {
  endpoint: string;
  queueUrl: string;
  /** fauxqs's S3 (same endpoint, path style): the bucket for large SQS payloads (issue 12). */
  payloadBucket: string;
  client: SQSClient;
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: 'recc-local', secretAccessKey: 'recc-local' };
export const LOCAL_REGION = 'us-east-1';
export const LOCAL_PAYLOAD_BUCKET = 'recc-local-payloads';

export async function startEmbeddedSqs(options: { queueName?: string; port?: number } = {}): Promise<EmbeddedSqs> {
  // No `host` here: fauxqs builds queue URLs as http://sqs.<region>.<host>:PORT/…, and with 127.0.0.1
  // that is no URL at all (a host ending in a number must be an IPv4 address), which the scheduler's
  // SQS bridge refuses; the default gives http://sqs.<region>.localhost:PORT/…. The SDK sends to the
  // endpoint, never to the queue URL's host. Binding is listen()'s host below.
  const app = buildApp({ logger: false, defaultRegion: LOCAL_REGION });
  let endpoint: string;
  try {
    endpoint = await app.listen({ port: options.port ?? 0, host: '127.0.0.1' });
  } catch (err) {
    throw new LocalStackStartError('fauxqs (the local SQS) could not start', { cause: err });
  }
  const client = new SQSClient({ region: LOCAL_REGION, endpoint, credentials: LOCAL_CREDENTIALS, maxAttempts: 3 });
  const out = await client.send(
    new CreateQueueCommand({ QueueName: options.queueName ?? 'recc-provisioning', Attributes: { VisibilityTimeout: '30' } }),
  );
  if (!out.QueueUrl) throw new LocalStackStartError('fauxqs created the provisioning queue without a URL');
  const s3 = new S3Client({ region: LOCAL_REGION, endpoint, credentials: LOCAL_CREDENTIALS, forcePathStyle: true });
  try {
    await s3.send(new CreateBucketCommand({ Bucket: LOCAL_PAYLOAD_BUCKET }));
  } catch (err) {
    client.destroy();
    await app.close();
    throw new LocalStackStartError('fauxqs (the local S3) could not create the payload bucket', { cause: err });
  } finally {
    s3.destroy();
  }
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    queueUrl: out.QueueUrl,
    payloadBucket: LOCAL_PAYLOAD_BUCKET,
    client,
    stop: () => {
      stopping ??= (async () => {
        client.destroy();
        await app.close();
      })();
      return stopping;
    },
  };
}
