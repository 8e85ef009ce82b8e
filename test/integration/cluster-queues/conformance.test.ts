import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CreateQueueCommand,
  DeleteMessageCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListQueueTagsCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import type { AddressInfo } from 'node:net';
import { createServer, request, type Server } from 'node:http';
import { MemoryClusterQueues, MemoryQueueRegistry } from '../../../adapters/cluster-queues/memory.ts';
import { SqsClusterQueues } from '../../../adapters/cluster-queues/sqs.ts';
import { ClusterQueuesUnavailableError } from '../../../adapters/cluster-queues/errors.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { clusterQueuesConformance, type QueuesUnderTest } from '../../conformance/cluster-queues.ts';

/**
 * The ClusterQueues contract against fauxqs (real SQS wire protocol on
 * 127.0.0.1) and the in-memory adapter, then what only real SQS can show:
 * FIFO deduplication by envelope id per session group, the DLQ after 5
 * receives, and retries through shared/core/retry.ts on throttling.
 */
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let app: ReturnType<typeof buildApp>;
let endpoint: string;
let client: SQSClient;

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

async function sqsUrl(name: string): Promise<string | undefined> {
  try {
    return (await client.send(new GetQueueUrlCommand({ QueueName: name }))).QueueUrl;
  } catch {
    return undefined;
  }
}

clusterQueuesConformance('SQS (fauxqs)', async ({ prefix, payloadBucket }) => {
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 8));
  const queues = new SqsClusterQueues({ client, prefix, clock, ...(payloadBucket ? { payloadBucket } : {}) });
  const harness: QueuesUnderTest = {
    queues,
    clock,
    tagsOf: async (name) => {
      const url = await sqsUrl(name);
      return url ? ((await client.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags ?? {}) : undefined;
    },
    attributesOf: async (name) => {
      const url = await sqsUrl(name);
      return url ? ((await client.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }))).Attributes ?? {}) : undefined;
    },
    createRaw: async (name, tags) => {
      await client.send(new CreateQueueCommand({ QueueName: name, ...(tags ? { tags } : {}) }));
    },
  };
  return harness;
});

const registry = new MemoryQueueRegistry();
clusterQueuesConformance('memory', async ({ prefix, payloadBucket }) => {
  const clock = new ManualClock(Date.UTC(2026, 11, 5, 8));
  const queues = new MemoryClusterQueues({ prefix, clock, registry, ...(payloadBucket ? { payloadBucket } : {}) });
  return {
    queues,
    clock,
    tagsOf: async (name) => (registry.queues.has(name) ? { ...registry.queues.get(name)!.tags } : undefined),
    attributesOf: async (name) => (registry.queues.has(name) ? { ...registry.queues.get(name)!.attributes } : undefined),
    createRaw: async (name, tags) => {
      registry.queues.set(name, { name, url: `memory://sqs/000000000000/${name}`, attributes: {}, tags: { ...tags } });
    },
  };
});

describe('Class: SqsClusterQueues (what the request queue does on the wire)', () => {
  it('drops a resent envelope (same dedupe id), delivers a session group in order, sessions in parallel', async () => {
    const queues = new SqsClusterQueues({ client, prefix: 'wire1-' });
    const set = await queues.ensureClusterQueues({ clusterId: 'c-w1', owner: 'alice', namespace: 'ns' });
    const send = (group: string, id: string, body: string) =>
      client.send(new SendMessageCommand({ QueueUrl: set.requestQueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: id }));
    // Envelope ids are unique per cluster (fauxqs dedupes per queue; SQS with scope messageGroup per session).
    await send('s-1', 'env-1', 'first');
    await send('s-1', 'env-1', 'first again'); // a client retry after a lost response
    await send('s-1', 'env-2', 'second');
    await send('s-2', 'env-3', 'other session');
    const received: { body: string; group: string }[] = [];
    for (let i = 0; i < 20 && received.length < 3; i++) {
      const out = await client.send(
        new ReceiveMessageCommand({ QueueUrl: set.requestQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 60, MessageSystemAttributeNames: ['MessageGroupId'] }),
      );
      for (const m of out.Messages ?? []) {
        received.push({ body: m.Body ?? '', group: m.Attributes?.MessageGroupId ?? '' });
        // Acknowledge, which lets the group's next message through.
        await client.send(new DeleteMessageCommand({ QueueUrl: set.requestQueueUrl, ReceiptHandle: m.ReceiptHandle }));
      }
    }
    expect(received.filter((m) => m.group === 's-1').map((m) => m.body)).toEqual(['first', 'second']);
    expect(received.filter((m) => m.group === 's-2').map((m) => m.body)).toEqual(['other session']);
  });

  it('needs a dedupe id: content-based deduplication is off', async () => {
    const queues = new SqsClusterQueues({ client, prefix: 'wire2-' });
    const set = await queues.ensureClusterQueues({ clusterId: 'c-w2', owner: 'alice', namespace: 'ns' });
    await expect(client.send(new SendMessageCommand({ QueueUrl: set.requestQueueUrl, MessageBody: 'x', MessageGroupId: 's-1' }))).rejects.toThrow();
  });

  it('moves a message received 5 times without a delete to the DLQ', async () => {
    const queues = new SqsClusterQueues({ client, prefix: 'wire3-' });
    const set = await queues.ensureClusterQueues({ clusterId: 'c-w3', owner: 'alice', namespace: 'ns' });
    await client.send(new SendMessageCommand({ QueueUrl: set.requestQueueUrl, MessageBody: 'poison', MessageGroupId: 's-1', MessageDeduplicationId: 'p-1' }));
    let receives = 0;
    for (let i = 0; i < 20 && receives < 5; i++) {
      const out = await client.send(new ReceiveMessageCommand({ QueueUrl: set.requestQueueUrl, WaitTimeSeconds: 1, VisibilityTimeout: 0 }));
      receives += out.Messages?.length ?? 0;
    }
    expect(receives).toBe(5);
    const again = await client.send(new ReceiveMessageCommand({ QueueUrl: set.requestQueueUrl, WaitTimeSeconds: 1 }));
    expect(again.Messages ?? []).toHaveLength(0);
    const dead = await client.send(new ReceiveMessageCommand({ QueueUrl: set.deadLetterQueueUrl, WaitTimeSeconds: 1 }));
    expect(dead.Messages?.map((m) => m.Body)).toEqual(['poison']);
  });

  describe('through a proxy that throttles', () => {
    let proxy: Server;
    let proxyClient: SQSClient;
    let throttleNext = 0;
    let seen = 0;

    beforeAll(async () => {
      const target = new URL(endpoint);
      proxy = createServer((req, res) => {
        seen++;
        if (throttleNext > 0) {
          throttleNext--;
          req.resume();
          res.writeHead(400, { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-query-error': 'RequestThrottled;Sender' });
          res.end(JSON.stringify({ __type: 'com.amazonaws.sqs#RequestThrottled', message: 'Rate exceeded' }));
          return;
        }
        const up = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
          res.writeHead(upRes.statusCode ?? 502, upRes.headers);
          upRes.pipe(res);
        });
        up.on('error', () => res.destroy());
        req.pipe(up);
      });
      await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
      // No SDK-level retries: what recovers is shared/core/retry.ts in the adapter.
      proxyClient = new SQSClient({ endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, region: 'us-east-1', credentials, maxAttempts: 1 });
    });

    afterAll(async () => {
      proxyClient?.destroy();
      await new Promise<void>((resolve) => proxy?.close(() => resolve()));
    });

    it('retries throttled calls and succeeds', async () => {
      const queues = new SqsClusterQueues({ client: proxyClient, prefix: 'wire4-', retry: { attempts: 4, initialMs: 1, maxMs: 5, jitter: 'none' } });
      throttleNext = 3;
      seen = 0;
      const set = await queues.ensureClusterQueues({ clusterId: 'c-w4', owner: 'alice', namespace: 'ns' });
      expect(set.requestQueueName).toBe('wire4-c-w4-req.fifo');
      expect(seen).toBeGreaterThan(3);
      expect(await queues.describeClusterQueues('c-w4')).toEqual(set);
    });

    it('gives up with a 503 ClusterQueuesUnavailableError when throttling outlasts the retries', async () => {
      const queues = new SqsClusterQueues({ client: proxyClient, prefix: 'wire5-', retry: { attempts: 2, initialMs: 1, maxMs: 5, jitter: 'none' } });
      throttleNext = 100;
      const err = await queues.list().catch((e: unknown) => e);
      throttleNext = 0;
      expect(err).toBeInstanceOf(ClusterQueuesUnavailableError);
      expect((err as ClusterQueuesUnavailableError).statusCode).toBe(503);
    });
  });
});
