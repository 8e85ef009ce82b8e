import { ListQueueTagsCommand } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CancelledError, Client, TaskError, asCompleted, delayed, progress } from '../../../client/index.ts';
import { SqsTransport } from '../../../client/sqs-transport.ts';
import { repoPath } from '../../support/engine.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from '../../integration/sqs/support/world.ts';

/**
 * The same client behaviours over both routes to one cluster: direct TCP and
 * SQS (fauxqs) through the scheduler's bridge. Each case runs on both and
 * must give the same results, errors and semantics.
 */
let world: SqsWorld;
let cluster: BridgedCluster;
const clients: Record<'tcp' | 'sqs', Client> = {} as never;
const notices: string[] = [];

beforeAll(async () => {
  world = await startSqsWorld();
  cluster = await BridgedCluster.start(world, { nWorkers: 2 });
  clients.tcp = await Client.connect(cluster, { transport: 'tcp', onNotice: (l) => notices.push(l) });
  clients.sqs = await Client.connect(cluster, { transport: 'sqs', onNotice: (l) => notices.push(l) });
});

afterAll(async () => {
  await clients.tcp?.close();
  await clients.sqs?.close();
  await cluster?.close();
  await world?.stop();
});

describe.each(['tcp', 'sqs'] as const)('Client over %s', (route) => {
  const c = () => clients[route];

  it.skipIf(route === 'tcp')('tags its reply queue for cost like the request queue (user, namespace, cluster, job)', async () => {
    const replyQueueUrl = (c() as unknown as { transport: SqsTransport }).transport.replyQueueUrl;
    const tags = (await world.sqs.send(new ListQueueTagsCommand({ QueueUrl: replyQueueUrl }))).Tags ?? {};
    const clusterId = cluster.sqsRoute.clusterId;
    expect(tags).toMatchObject({ user: 'alice@example.com', namespace: `recc-${clusterId}`, cluster: clusterId, job: 'nightly', 'recc.io/managed-by': 'recc', 'recc.io/queue-prefix': 'recc-' });
    expect(Date.parse(tags['recc.io/last-seen'] ?? '')).toBeGreaterThan(Date.now() - 10 * 60_000);
  });

  it('says which route it took', () => {
    if (route === 'sqs') expect(notices.some((l) => l.startsWith(`connected to cluster ${cluster.sqsRoute.clusterId} over SQS`))).toBe(true);
  });

  it('maps 1,000 tasks and returns every result in order', async () => {
    const results = await c().gather(c().map((x: number) => ({ x, square: x * x }), Array.from({ length: 1000 }, (_, i) => i)));
    expect(results).toHaveLength(1000);
    expect(results.every((r, i) => r.x === i && r.square === i * i)).toBe(true);
  });

  it('computes a 3-stage delayed graph', async () => {
    const load = delayed((d: number) => Array.from({ length: 10 }, (_, i) => d * 100 + i));
    const total = delayed((rows: number[]) => rows.reduce((a, b) => a + b, 0));
    const sum = delayed((xs: number[]) => xs.reduce((a, b) => a + b, 0));
    const graph = sum([1, 2, 3, 4, 5].map((d) => total(load(d))));
    const expected = [1, 2, 3, 4, 5].reduce((acc, d) => acc + Array.from({ length: 10 }, (_, i) => d * 100 + i).reduce((a, b) => a + b, 0), 0);
    expect(await c().get(graph)).toBe(expected);
  });

  it('passes futures into later submissions', async () => {
    const parts = c().map((n: number) => Array.from({ length: n }, (_, i) => i), [3, 4, 5]);
    const total = c().submit((...arrays: number[][]) => arrays.flat().reduce((a, b) => a + b, 0), ...parts);
    expect(await total.result()).toBe(3 + 6 + 10);
  });

  it('re-throws a task error with its name and message, and errs its dependents', async () => {
    const bad = c().submit((x: number) => {
      if (x > 0) throw new RangeError(`too big: ${x}`);
      return x;
    }, 7);
    const dependent = c().submit((v: number) => v + 1, bad);
    const err = await bad.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TaskError);
    expect(err).toMatchObject({ name: 'RangeError', message: 'too big: 7' });
    await expect(dependent.result()).rejects.toMatchObject({ name: 'RangeError' });
  });

  it('yields futures as they complete and reports progress', async () => {
    const futures = c().map(async (ms: number) => {
      await new Promise((r) => setTimeout(r, ms));
      return ms;
    }, [60, 1, 30]);
    const order: number[] = [];
    for await (const f of asCompleted(futures)) order.push(await f.result());
    expect(order.sort((a, b) => a - b)).toEqual([1, 30, 60]);
    const summary = await progress(futures, { stream: { write: () => true, isTTY: false } as never });
    expect(summary).toEqual({ done: 3, failed: 0 });
  });

  it('cancels a pending task', async () => {
    const slow = c().submitWith({ pure: false }, async () => {
      await new Promise((r) => setTimeout(r, 5000));
      return 1;
    });
    await slow.cancel();
    await expect(slow.result()).rejects.toBeInstanceOf(CancelledError);
  });

  it('moves arguments and results over 200 KiB (through S3 on the SQS route)', async () => {
    const big = 'x'.repeat(300 * 1024);
    const len = await c().submit((s: string) => s.length, big).result();
    expect(len).toBe(big.length);
    const out = await c().submit((n: number) => 'y'.repeat(n), 400 * 1024).result();
    expect(out).toBe('y'.repeat(400 * 1024));
  });

  it('runs a module function and answers scheduler questions', async () => {
    const mod = await c().module(repoPath('test/e2e/engine/fixtures/tasks.ts'));
    expect(await c().gather(c().map(mod.fn('slowSquare'), [2, 3]))).toEqual([4, 9]);
    const info = await c().schedulerInfo();
    expect(info.workers).toHaveLength(2);
    const f = c().submit((x: number) => x + 1, 41);
    expect(await f.result()).toBe(42);
    expect((await c().story(f)).length).toBeGreaterThan(0);
  });
});

describe('Route: sqs specifics', () => {
  it('batches: a 1,000-task map costs a handful of SQS calls, not one per task', async () => {
    const t = (clients.sqs as unknown as { transport: SqsTransport }).transport;
    const before = { ...t.io.calls };
    await clients.sqs.gather(clients.sqs.map((x: number) => x + 0.5, Array.from({ length: 1000 }, (_, i) => i)));
    const sends = (t.io.calls.SendMessageBatch ?? 0) - (before.SendMessageBatch ?? 0);
    expect(sends).toBeGreaterThan(0);
    expect(sends).toBeLessThan(10);
  });

  it('sends a release with the next submission, not as an envelope of its own ahead of it', async () => {
    // Prepare: the request queue is FIFO per session, so an envelope ahead of a submission delays it by a whole bridge cycle
    const t = (clients.sqs as unknown as { transport: SqsTransport }).transport;
    const c = clients.sqs;
    await c.submit((x: number) => x, 0).result();
    const before = { ...t.io.sent };

    // Act: the sequential loop of a latency-bound script
    for (let i = 0; i < 10; i++) {
      const f = c.submit((x: number) => x * 3, 1000 + i);
      expect(await f.result()).toBe(3000 + i * 3);
      f.release();
    }
    const sent = (kind: string) => (t.io.sent[kind] ?? 0) - (before[kind] ?? 0);

    // Assess: one envelope per round; the released keys travelled inside the submissions
    expect(sent('submit')).toBe(10);
    expect(sent('release')).toBeLessThanOrEqual(1);
  });

  it('computes a key released and wanted again right after (the release applies first, the want wins)', async () => {
    const c = clients.sqs;
    const first = c.submit((x: number) => x + 7, 4242);
    expect(await first.result()).toBe(4249);
    first.release();
    await new Promise((r) => setImmediate(r)); // the release now lingers in the transport
    const again = c.submit((x: number) => x + 7, 4242);
    expect(again.key).toBe(first.key);
    expect(await again.result()).toBe(4249);
    again.release();
  });
});
