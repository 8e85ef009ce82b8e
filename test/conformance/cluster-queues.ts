import { describe, expect, it } from 'vitest';
import type { ManualClock } from '../../shared/core/clock.ts';
import {
  MAX_QUEUE_NAME,
  QUEUE_TAGS,
  REQUEST_MAX_RECEIVES,
  maxSessionIdLength,
  sessionIsDead,
  type ClusterQueueOwner,
  type ClusterQueues,
} from '../../shared/ports/cluster-queues.ts';
import { ClusterQueuesNotFoundError, QueueNameError } from '../../shared/ports/errors.ts';

/**
 * The ClusterQueues contract (`shared/ports/cluster-queues.ts`), run against
 * every adapter (SQS on fauxqs, memory). Each test gets its own prefix, so
 * adapters may share one emulator. `tagsOf`/`attributesOf` read the backing
 * store directly (ListQueueTags / GetQueueAttributes on SQS), not through the
 * port, so what the port claims is checked against what exists.
 */
export interface QueuesUnderTest {
  queues: ClusterQueues;
  clock: ManualClock;
  /** undefined when the queue does not exist. */
  tagsOf(name: string): Promise<Record<string, string> | undefined>;
  attributesOf(name: string): Promise<Record<string, string> | undefined>;
  /** Make a queue by hand (someone else's, or one of ours created outside the adapter). */
  createRaw(name: string, tags?: Record<string, string>): Promise<void>;
}

export type MakeQueues = (options: { prefix: string; payloadBucket?: string }) => Promise<QueuesUnderTest>;

let counter = 0;
const uniquePrefix = (): string => `rq${Date.now().toString(36)}${(counter++).toString(36)}-`;

const owner = (clusterId: string, over: Partial<ClusterQueueOwner> = {}): ClusterQueueOwner => ({
  clusterId,
  owner: 'alice',
  namespace: `recc-alice-${clusterId}`,
  ...over,
});

export function clusterQueuesConformance(name: string, make: MakeQueues): void {
  describe(`ClusterQueues conformance: ${name}`, () => {
    it('creates a FIFO request queue with a FIFO DLQ after 5 receives, deterministic names, tagged for cost', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      const set = await t.queues.ensureClusterQueues(owner('c-abc123', { job: 'nightly', owner: 'bob,the@x' }));
      expect(set.requestQueueName).toBe(`${prefix}c-abc123-req.fifo`);
      expect(set.requestQueueUrl.endsWith(`/${prefix}c-abc123-req.fifo`)).toBe(true);
      expect(set.deadLetterQueueUrl.endsWith(`/${prefix}c-abc123-dlq.fifo`)).toBe(true);
      expect(set.payload).toBeUndefined();

      const attrs = await t.attributesOf(`${prefix}c-abc123-req.fifo`);
      expect(attrs?.FifoQueue).toBe('true');
      expect(attrs?.ContentBasedDeduplication).toBe('false');
      const redrive = JSON.parse(attrs?.RedrivePolicy ?? '{}') as { deadLetterTargetArn?: string; maxReceiveCount?: unknown };
      expect(Number(redrive.maxReceiveCount)).toBe(REQUEST_MAX_RECEIVES);
      expect(redrive.deadLetterTargetArn?.endsWith(`${prefix}c-abc123-dlq.fifo`)).toBe(true);
      expect((await t.attributesOf(`${prefix}c-abc123-dlq.fifo`))?.FifoQueue).toBe('true');

      for (const queueName of [`${prefix}c-abc123-req.fifo`, `${prefix}c-abc123-dlq.fifo`]) {
        expect(await t.tagsOf(queueName)).toMatchObject({
          [QUEUE_TAGS.user]: 'bob_the@x', // ',' is not allowed in SQS tag values
          [QUEUE_TAGS.namespace]: 'recc-alice-c-abc123',
          [QUEUE_TAGS.cluster]: 'c-abc123',
          [QUEUE_TAGS.job]: 'nightly',
          [QUEUE_TAGS.managedBy]: 'recc',
          [QUEUE_TAGS.queuePrefix]: prefix,
        });
      }
    });

    it('is idempotent: ensuring twice returns the same URLs and converges tags', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      const first = await t.queues.ensureClusterQueues(owner('c-1'));
      const second = await t.queues.ensureClusterQueues(owner('c-1', { namespace: 'renamed-ns' }));
      expect(second).toEqual({ ...first });
      expect((await t.tagsOf(`${prefix}c-1-req.fifo`))?.[QUEUE_TAGS.namespace]).toBe('renamed-ns');
      expect(await t.queues.describeClusterQueues('c-1')).toEqual(first);
      expect((await t.queues.list()).filter((q) => q.clusterId === 'c-1').map((q) => q.kind).sort()).toEqual(['dead-letter', 'request']);
    });

    it('reports the S3 payload location under the cluster prefix when a bucket is configured', async () => {
      const t = await make({ prefix: uniquePrefix(), payloadBucket: 'recc-payloads' });
      const set = await t.queues.ensureClusterQueues(owner('c-7'));
      expect(set.payload).toEqual({ bucket: 'recc-payloads', prefix: 'clusters/recc-alice-c-7/payloads/' });
      expect((await t.queues.describeClusterQueues('c-7'))?.payload).toEqual(set.payload);
    });

    it('describes a cluster without queues as undefined', async () => {
      const t = await make({ prefix: uniquePrefix() });
      expect(await t.queues.describeClusterQueues('c-none')).toBeUndefined();
    });

    it('refuses ids that do not make SQS queue names, naming the field (400)', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      const long = `c-${'x'.repeat(MAX_QUEUE_NAME)}`;
      const err = await t.queues.ensureClusterQueues(owner(long)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueueNameError);
      expect((err as QueueNameError).statusCode).toBe(400);
      expect((err as QueueNameError).details[0]?.path).toBe('clusterId');
      for (const bad of ['c/1', 'c.1', '__proto__ x', '']) {
        await expect(t.queues.ensureClusterQueues(owner(bad))).rejects.toBeInstanceOf(QueueNameError);
      }
      await t.queues.ensureClusterQueues(owner('c-2'));
      await expect(t.queues.ensureSessionQueue('c-2', 's:1')).rejects.toMatchObject({ details: [{ path: 'sessionId' }] });
      await expect(t.queues.ensureSessionQueue('c-2', 'a-reply-b')).rejects.toBeInstanceOf(QueueNameError);
      const fits = 'y'.repeat(maxSessionIdLength(prefix, 'c-2'));
      const session = await t.queues.ensureSessionQueue('c-2', fits);
      expect(session.name).toHaveLength(MAX_QUEUE_NAME);
      await expect(t.queues.ensureSessionQueue('c-2', `${fits}y`)).rejects.toMatchObject({ details: [{ path: 'sessionId' }] });
      // Nothing was created for the refused names.
      expect((await t.queues.list()).map((q) => q.name).sort()).toEqual([`${prefix}c-2-dlq.fifo`, `${prefix}c-2-reply-${fits}`, `${prefix}c-2-req.fifo`]);
    });

    it('creates a reply queue per session with the cluster tags and last-seen = now; the heartbeat moves it', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      const t0 = t.clock.now();
      await t.queues.ensureClusterQueues(owner('c-3', { job: 'j1' }));
      const session = await t.queues.ensureSessionQueue('c-3', 's-aaa');
      expect(session).toMatchObject({ clusterId: 'c-3', sessionId: 's-aaa', name: `${prefix}c-3-reply-s-aaa` });
      expect(session.url.endsWith(`/${prefix}c-3-reply-s-aaa`)).toBe(true);
      expect(await t.tagsOf(session.name)).toMatchObject({
        [QUEUE_TAGS.user]: 'alice',
        [QUEUE_TAGS.cluster]: 'c-3',
        [QUEUE_TAGS.job]: 'j1',
        [QUEUE_TAGS.lastSeen]: new Date(t0).toISOString(),
      });
      expect((await t.attributesOf(session.name))?.FifoQueue).toBeUndefined();

      const later = new Date(t0 + 5 * 60_000).toISOString();
      await t.queues.touchSession('c-3', 's-aaa', later);
      const listed = (await t.queues.list()).find((q) => q.kind === 'reply');
      expect(listed).toMatchObject({ kind: 'reply', clusterId: 'c-3', sessionId: 's-aaa', lastSeenAt: later, url: session.url });
      expect(sessionIsDead(listed!, t0 + 14 * 60_000, 10 * 60_000)).toBe(false);
      expect(sessionIsDead(listed!, t0 + 15 * 60_000, 10 * 60_000)).toBe(true);
      expect(await t.queues.describeSession('c-3', 's-aaa')).toEqual(listed);
      expect(await t.queues.describeSession('c-3', 's-none')).toBeUndefined();

      // Reconnecting with the same session keeps the queue and refreshes last-seen.
      t.clock.advance(60_000);
      const again = await t.queues.ensureSessionQueue('c-3', 's-aaa');
      expect(again.url).toBe(session.url);
      expect((await t.tagsOf(session.name))?.[QUEUE_TAGS.lastSeen]).toBe(new Date(t0 + 60_000).toISOString());
    });

    it('refuses a session for a cluster without queues and a heartbeat for a missing session (404)', async () => {
      const t = await make({ prefix: uniquePrefix() });
      const err = await t.queues.ensureSessionQueue('c-gone', 's-1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterQueuesNotFoundError);
      expect((err as ClusterQueuesNotFoundError).statusCode).toBe(404);
      await t.queues.ensureClusterQueues(owner('c-4'));
      await expect(t.queues.touchSession('c-4', 's-never', new Date().toISOString())).rejects.toBeInstanceOf(ClusterQueuesNotFoundError);
    });

    it('deletes a session queue, and deleting it again succeeds', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      await t.queues.ensureClusterQueues(owner('c-5'));
      const session = await t.queues.ensureSessionQueue('c-5', 's-1');
      await t.queues.deleteSessionQueue('c-5', 's-1');
      expect(await t.tagsOf(session.name)).toBeUndefined();
      await expect(t.queues.deleteSessionQueue('c-5', 's-1')).resolves.toBeUndefined();
      await expect(t.queues.deleteSessionQueue('c-never', 's-1')).resolves.toBeUndefined();
      expect((await t.queues.list()).map((q) => q.kind).sort()).toEqual(['dead-letter', 'request']);
    });

    it("deletes a cluster's request, DLQ and reply queues and nothing of a cluster whose id it prefixes; twice is fine", async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      await t.queues.ensureClusterQueues(owner('c-1'));
      await t.queues.ensureClusterQueues(owner('c-1-2'));
      await t.queues.ensureSessionQueue('c-1', 's-a');
      await t.queues.ensureSessionQueue('c-1', 's-b');
      await t.queues.ensureSessionQueue('c-1-2', 's-a');
      await t.queues.deleteClusterQueues('c-1');
      const left = (await t.queues.list()).map((q) => q.name).sort();
      expect(left).toEqual([`${prefix}c-1-2-dlq.fifo`, `${prefix}c-1-2-reply-s-a`, `${prefix}c-1-2-req.fifo`]);
      expect(await t.queues.describeClusterQueues('c-1')).toBeUndefined();
      await expect(t.queues.deleteClusterQueues('c-1')).resolves.toBeUndefined();
      await expect(t.queues.deleteClusterQueues('c-never-existed')).resolves.toBeUndefined();
      expect(await t.queues.describeClusterQueues('c-1-2')).toBeDefined();
    });

    it('lists only queues under its prefix that parse, with kind, cluster and session', async () => {
      const prefix = uniquePrefix();
      const t = await make({ prefix });
      const other = await make({ prefix: `${prefix}x` });
      await t.queues.ensureClusterQueues(owner('c-9'));
      await t.queues.ensureSessionQueue('c-9', 's-1');
      await t.createRaw(`${prefix}not-ours`);
      await t.createRaw(`${prefix.slice(0, -1)}`);
      await t.createRaw(`${prefix}c-8-reply-s-2`, { [QUEUE_TAGS.cluster]: 'c-8' });
      const listed = await t.queues.list();
      expect(listed.map((q) => ({ kind: q.kind, clusterId: q.clusterId, sessionId: q.sessionId })).sort((a, b) => `${a.clusterId}${a.kind}`.localeCompare(`${b.clusterId}${b.kind}`))).toEqual([
        // A reply queue made without last-seen is listed without it (the harvester treats it as dead).
        { kind: 'reply', clusterId: 'c-8', sessionId: 's-2' },
        { kind: 'dead-letter', clusterId: 'c-9', sessionId: undefined },
        { kind: 'reply', clusterId: 'c-9', sessionId: 's-1' },
        { kind: 'request', clusterId: 'c-9', sessionId: undefined },
      ]);
      expect(listed.find((q) => q.clusterId === 'c-8')?.lastSeenAt).toBeUndefined();
      // A prefix is a namespace of its own: `<prefix>x` lists only what lives under it, and the
      // deployment whose prefix begins `<prefix>x` does not take those queues for its own (cluster "xc-9").
      await other.queues.ensureClusterQueues(owner('c-9'));
      expect((await other.queues.list()).map((q) => q.name).sort()).toEqual([`${prefix}xc-9-dlq.fifo`, `${prefix}xc-9-req.fifo`]);
      expect((await t.queues.list()).some((q) => q.clusterId === 'xc-9')).toBe(false);
    });
  });
}
