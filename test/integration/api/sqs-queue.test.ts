import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateQueueCommand, GetQueueAttributesCommand, SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import type { AddressInfo } from 'node:net';
import { SqsWorkQueue } from '../../../adapters/queue/sqs.ts';
import { QueueUnavailableError } from '../../../adapters/queue/errors.ts';
import { freePort } from '../../support/ports.ts';
import { waitFor } from '../../support/wait.ts';

/** The SQS WorkQueue against fauxqs (SQS JSON protocol) on 127.0.0.1. */
describe('Class: SqsWorkQueue (fauxqs)', () => {
  let app: ReturnType<typeof buildApp>;
  let endpoint: string;
  let client: SQSClient;
  const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };

  beforeAll(async () => {
    app = buildApp({ logger: false, host: '127.0.0.1' });
    await app.listen({ port: 0, host: '127.0.0.1' });
    endpoint = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
    client = new SQSClient({ endpoint, region: 'us-east-1', credentials });
  });

  afterAll(async () => {
    client?.destroy();
    await app?.close();
  });

  async function newQueue(name: string): Promise<string> {
    const out = await client.send(new CreateQueueCommand({ QueueName: name }));
    return out.QueueUrl!;
  }

  it('sends messages that a receiver gets as {clusterId, cause} and acks', async () => {
    const queueUrl = await newQueue('recc-test-send');
    const queue = new SqsWorkQueue({ queueUrl, client });
    await queue.send({ clusterId: 'c-1', cause: 'created' });
    await queue.send({ clusterId: 'c-2', cause: 'scale' });

    const got = await waitFor(async () => {
      const batch = await queue.receive({ waitSeconds: 1, maxMessages: 10 });
      return batch.length ? batch : undefined;
    });
    const more = got.length < 2 ? await queue.receive({ waitSeconds: 1 }) : [];
    const all = [...got, ...more];
    expect(all.map((m) => m.message).sort((a, b) => a.clusterId.localeCompare(b.clusterId))).toEqual([
      { clusterId: 'c-1', cause: 'created' },
      { clusterId: 'c-2', cause: 'scale' },
    ]);
    expect(all.every((m) => m.receiveCount === 1)).toBe(true);
    for (const m of all) await queue.ack(m.receiptHandle);
    const attrs = await client.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'] }));
    expect(attrs.Attributes?.ApproximateNumberOfMessages).toBe('0');
    expect(attrs.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
  });

  it('looks the queue URL up by name when only the name is configured', async () => {
    const queueUrl = await newQueue('recc-test-by-name');
    const queue = new SqsWorkQueue({ queueName: 'recc-test-by-name', endpoint, region: 'us-east-1', credentials });
    expect(await queue.queueUrl()).toBe(queueUrl);
    await queue.send({ clusterId: 'c-9', cause: 'delete-requested' });
    const [m] = await queue.receive({ waitSeconds: 1 });
    expect(m?.message).toEqual({ clusterId: 'c-9', cause: 'delete-requested' });
  });

  it('delays a message when asked (it is not visible at once)', async () => {
    const queueUrl = await newQueue('recc-test-delay');
    const queue = new SqsWorkQueue({ queueUrl, client });
    await queue.send({ clusterId: 'c-3', cause: 'requeue' }, { delaySeconds: 2 });
    expect(await queue.receive({ waitSeconds: 0 })).toEqual([]);
    const later = await waitFor(async () => {
      const batch = await queue.receive({ waitSeconds: 1 });
      return batch.length ? batch : undefined;
    }, { timeoutMs: 30_000 });
    expect(later[0]?.message.clusterId).toBe('c-3');
  });

  it('skips a poison message instead of failing the whole batch', async () => {
    const queueUrl = await newQueue('recc-test-poison');
    await client.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: 'not json' }));
    const queue = new SqsWorkQueue({ queueUrl, client });
    await queue.send({ clusterId: 'c-4', cause: 'created' });
    const seen = await waitFor(async () => {
      const batch = await queue.receive({ waitSeconds: 1, maxMessages: 10 });
      return batch.length ? batch : undefined;
    });
    expect(seen.map((m) => m.message.clusterId)).toEqual(['c-4']);
  });

  it('throws QueueUnavailableError when SQS cannot be reached', async () => {
    const port = await freePort();
    const queue = new SqsWorkQueue({
      queueUrl: `http://127.0.0.1:${port}/000000000000/nope`,
      endpoint: `http://127.0.0.1:${port}`,
      region: 'us-east-1',
      credentials,
    });
    const err = await queue.send({ clusterId: 'c-5', cause: 'created' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueUnavailableError);
    expect((err as QueueUnavailableError).statusCode).toBe(503);
  });
});
