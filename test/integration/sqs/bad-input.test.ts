import { CreateQueueCommand, DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { Packr } from 'msgpackr';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { SqsRouteUnavailableError } from '../../../client/errors.ts';
import type { SchedulerEvent } from '../../../client/transport.ts';
import { SqsTransport } from '../../../client/sqs-transport.ts';
import { PROTOCOL_VERSION } from '../../../comm/protocol.ts';
import { decodeReplyBody, encodeInline, encodePointer, packBody, readEnvelope } from '../../../comm/sqs-envelope/index.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * Hostile or broken envelopes on the request queue: each gets a typed error
 * reply on its session's reply queue, or (when nobody can be told) goes to
 * the dead-letter queue with the reason logged. The scheduler keeps serving.
 */
describe('SQS route: bad input', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;
  let replyQueueUrl: string;
  const session = 'sbadinput';
  const packr = new Packr({ useRecords: false, moreTypes: false });
  let n = 0;

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 1 });
    const out = await world.sqs.send(new CreateQueueCommand({ QueueName: `${world.route.replyQueuePrefix}${session}` }));
    replyQueueUrl = out.QueueUrl as string;
  });

  afterAll(async () => {
    await cluster?.close();
    await world?.stop();
  });

  const send = async (body: string, group = session) => {
    const id = `bad-${++n}`;
    await world.sqs.send(new SendMessageCommand({ QueueUrl: world.route.requestQueueUrl, MessageBody: body, MessageGroupId: group, MessageDeduplicationId: id }));
    return id;
  };
  const header = (id: string, over: Record<string, unknown> = {}) => ({ id, cluster: world.route.clusterId, session, seq: n, kind: 'submit' as const, replyQueueUrl, ...over });
  const replies: Array<{ r?: string; k: string; body: Record<string, unknown> }> = [];
  const errorReplyFor = (id: string) =>
    waitFor(
      async () => {
        const out = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: replyQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }));
        for (const m of out.Messages ?? []) {
          const env = readEnvelope(m.Body);
          replies.push({ ...(env.r ? { r: env.r } : {}), k: env.k, body: decodeReplyBody(env.k as 'error', env.b as Uint8Array) as unknown as Record<string, unknown> });
        }
        return replies.find((r) => r.r === id);
      },
      { timeoutMs: 30_000, what: `the error reply to ${id}` },
    );
  const deadLettered = (what: string) =>
    waitFor(
      async () => {
        const out = await world.sqs.send(new ReceiveMessageCommand({ QueueUrl: world.route.deadLetterQueueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }));
        // A FIFO queue hands out the next message of a group only once the previous one is deleted.
        for (const m of out.Messages ?? []) await world.sqs.send(new DeleteMessageCommand({ QueueUrl: world.route.deadLetterQueueUrl, ReceiptHandle: m.ReceiptHandle }));
        return (out.Messages ?? []).map((m) => ({ problem: m.MessageAttributes?.problem?.StringValue, reason: m.MessageAttributes?.reason?.StringValue }));
      },
      { timeoutMs: 30_000, what },
    );

  it('answers an unknown envelope version with a typed error naming both versions', async () => {
    const id = `v-${n}`;
    await send(packr.pack({ v: 7, p: PROTOCOL_VERSION, id, c: world.route.clusterId, s: session, q: 1, k: 'submit', t: 1, rq: replyQueueUrl, b: new Uint8Array() }).toString('base64'));
    const reply = await errorReplyFor(id);
    expect(reply.k).toBe('error');
    expect(reply.body).toMatchObject({ problem: 'unsupported-version', error: { type: 'EnvelopeError', path: 'v' } });
    expect(String((reply.body.error as { message: string }).message)).toMatch(/version the number 7 is not supported; this side speaks version 1/);
  });

  it('answers a body that is not msgpack, and one with a wrong field, naming the path', async () => {
    const id1 = await send(encodeInline(header('mp-1'), Buffer.from([0xc1, 0xff, 0x00])));
    void id1;
    expect((await errorReplyFor('mp-1')).body).toMatchObject({ problem: 'undecodable', error: { path: 'b' } });
    await send(encodeInline(header('field-1'), packBody({ m: [[{ op: 'update-graph', tasks: [{ key: 'k', fn: 'f', args: 'not bytes', deps: [], resources: null, retries: 0 }], wants: [], fns: [] }, null]] })));
    expect((await errorReplyFor('field-1')).body).toMatchObject({ problem: 'invalid-field', error: { path: 'b.m[0][0].tasks[0].args' } });
  });

  it('answers a pointer to a missing S3 object with missing-payload', async () => {
    await send(encodePointer(header('ptr-1'), { bucket: world.route.bucket, key: `${world.route.prefix}${session}/never-written`, size: 10 }));
    expect((await errorReplyFor('ptr-1')).body).toMatchObject({ problem: 'missing-payload', error: { path: 'ptr.key' } });
    // A pointer outside the cluster's prefix is refused without being read.
    await send(encodePointer(header('ptr-2'), { bucket: world.route.bucket, key: 'clusters/c-other/envelopes/x', size: 10 }));
    expect((await errorReplyFor('ptr-2')).body).toMatchObject({ problem: 'foreign-session', error: { path: 'ptr' } });
  });

  it('dead-letters bad msgpack, a foreign cluster and a foreign reply queue, with the reason logged', async () => {
    await send(Buffer.from([0xc1, 0xc1, 0xc1]).toString('base64'));
    await send('%%% not base64 %%%');
    await send(encodeInline(header('foreign-1', { cluster: 'c-someone-else' }), packBody({})));
    await send(encodeInline(header('foreign-2', { replyQueueUrl: replyQueueUrl.replace(world.route.replyQueuePrefix, 'recc-c-other-reply-') }), packBody({})));
    const dead: Array<{ problem?: string; reason?: string }> = [];
    await waitFor(async () => {
      dead.push(...(await deadLettered('dead letters').catch(() => [])));
      return dead.length >= 4;
    }, { timeoutMs: 30_000, what: 'four dead letters' });
    expect(dead.map((d) => d.problem).sort()).toEqual(['foreign-session', 'foreign-session', 'undecodable', 'undecodable']);
    expect(dead.every((d) => (d.reason ?? '').length > 0)).toBe(true);
    const logged = cluster.schedulerLines.filter((l) => l.includes('"sqs-bridge.dead-lettered"'));
    expect(logged.length).toBeGreaterThanOrEqual(4);
    expect(logged.some((l) => l.includes('"reason"'))).toBe(true);
  });

  it('keeps serving: a real client runs work afterwards', async () => {
    await using client = await Client.connect(cluster, { transport: 'sqs', onNotice: () => undefined });
    expect(await client.gather(client.map((x: number) => x * 2, [1, 2, 3]))).toEqual([2, 4, 6]);
    expect(cluster.schedulerLines.filter((l) => l.includes('"scheduler.ready"'))).toHaveLength(1);
  });

  it('fails the wanted keys of a refused submission instead of leaving them pending', async () => {
    const transport = await SqsTransport.connect({ route: world.route, credentials: world.route.credentials!, onNotice: () => undefined });
    try {
      const events: SchedulerEvent[] = [];
      transport.onMessage((m) => events.push(m));
      // args must be bytes: the envelope decoder refuses it, naming the path
      transport.send({ op: 'update-graph', tasks: [{ key: 'k-bad', fn: 'f', args: 'x' as never, deps: [], resources: null, retries: 0 }], wants: ['k-bad'], fns: [] });
      const erred = await waitFor(() => events.find((e) => e.op === 'task-erred' && e.key === 'k-bad'), { timeoutMs: 30_000, what: 'the refused key to fail' });
      expect(erred).toMatchObject({ error: { name: 'EnvelopeError', message: expect.stringContaining('b.m[0][0].tasks[0].args') } });
    } finally {
      await transport.close();
    }
  });

  it('fails a client fast when no scheduler answers on the request queue', async () => {
    const orphan = await world.sqs.send(new CreateQueueCommand({ QueueName: 'recc-c-orphan-req.fifo', Attributes: { FifoQueue: 'true' } }));
    const route = { ...world.route, clusterId: 'c-orphan', requestQueueUrl: orphan.QueueUrl as string, replyQueuePrefix: 'recc-c-orphan-reply-' };
    const started = Date.now();
    await expect(SqsTransport.connect({ route, credentials: world.route.credentials!, connectTimeoutMs: 2_000 })).rejects.toBeInstanceOf(SqsRouteUnavailableError);
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});
