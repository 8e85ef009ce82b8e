import { buildApp } from 'fauxqs';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
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
  client: SQSClient;
  stop(): Promise<void>;
}

export const LOCAL_CREDENTIALS = { accessKeyId: 'recc-local', secretAccessKey: 'recc-local' };
export const LOCAL_REGION = 'us-east-1';

export async function startEmbeddedSqs(options: { queueName?: string; port?: number } = {}): Promise<EmbeddedSqs> {
  const app = buildApp({ logger: false, host: '127.0.0.1', defaultRegion: LOCAL_REGION });
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
  let stopping: Promise<void> | undefined;
  return {
    endpoint,
    queueUrl: out.QueueUrl,
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
