import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SQSClient } from '@aws-sdk/client-sqs';
import { buildApp } from 'fauxqs';
import type { AddressInfo } from 'node:net';
import { MemoryClusterQueues } from '../../../adapters/cluster-queues/memory.ts';
import { SqsClusterQueues } from '../../../adapters/cluster-queues/sqs.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runHarvester, type HarvesterDeps } from '../../../control/harvester.ts';
import { ManualClock, type Clock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import type { ClusterQueues } from '../../../shared/ports/cluster-queues.ts';
import { ObservedBackend } from '../../fakes/observed-backend.ts';
import { t } from '../../support/cluster-records.ts';
import { recordAt } from '../../support/harvest-fixtures.ts';

/**
 * The harvester treats cluster queues like any other cluster resource, with
 * an injected clock (minutes after 2026-01-01): reply queues of sessions whose
 * heartbeat stopped longer than `sessionTimeoutMinutes` ago are deleted, the
 * queues of clusters without a live record are deleted, and a second run does
 * nothing. Run against SQS on fauxqs and against the memory adapter.
 */
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' };
let app: ReturnType<typeof buildApp>;
let client: SQSClient;
let prefixes = 0;

beforeAll(async () => {
  app = buildApp({ logger: false, host: '127.0.0.1' });
  await app.listen({ port: 0, host: '127.0.0.1' });
  client = new SQSClient({ endpoint: `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`, region: 'us-east-1', credentials });
});

afterAll(async () => {
  client?.destroy();
  await app?.close();
});

const adapters: Array<[string, (clock: Clock) => ClusterQueues]> = [
  ['SQS (fauxqs)', (clock) => new SqsClusterQueues({ client, clock, prefix: `hv${prefixes++}-` })],
  ['memory', (clock) => new MemoryClusterQueues({ clock })],
];

describe.each(adapters)('Function: runHarvester with cluster queues (%s)', (_name, makeQueues) => {
  let store: InMemoryClusterStore;
  let backend: ObservedBackend;
  let clock: ManualClock;
  let queues: ClusterQueues;
  let deps: HarvesterDeps;

  beforeEach(() => {
    store = new InMemoryClusterStore();
    backend = new ObservedBackend();
    clock = new ManualClock(Date.parse(t(0)));
    queues = makeQueues(clock);
    deps = { store, backend, clock, queues, config: { ...DEFAULT_HARVEST_CONFIG, sessionTimeoutMinutes: 10 }, logger: silentLogger };
  });

  async function storeRunning(id: string): Promise<ClusterRecord> {
    const { history } = recordAt('RUNNING', { id });
    let current = (await store.create(recordAt('REQUESTED', { id }).record, history[0]!)).record;
    for (const change of history.slice(1)) {
      const { next, change: c } = transition(current, change.to, { actor: change.actor, at: change.at });
      current = await store.put(next, current.version, c);
    }
    backend.add(current.id, { owner: current.owner, namespace: current.namespace });
    await queues.ensureClusterQueues({ clusterId: id, owner: current.owner, namespace: current.namespace });
    return current;
  }

  const names = async (): Promise<string[]> => (await queues.list()).map((q) => q.name.slice(queues.prefix.length)).sort();

  it("deletes the reply queue of a session whose heartbeat stopped, keeps a live session's and the cluster's own queues", async () => {
    // Prepare: two sessions connect at minute 0; only s-alive keeps heartbeating.
    await storeRunning('c-live');
    await queues.ensureSessionQueue('c-live', 's-alive');
    await queues.ensureSessionQueue('c-live', 's-dead');
    for (const minute of [3, 6, 9]) await queues.touchSession('c-live', 's-alive', t(minute));

    // Act: at minute 9 both are within the timeout; at minute 12 s-dead is past it.
    clock.set(Date.parse(t(9)));
    const early = await runHarvester(deps);
    clock.set(Date.parse(t(12)));
    const report = await runHarvester(deps);

    // Assess
    expect(early.sessionsRemoved).toEqual([]);
    expect(report.sessionsRemoved).toEqual([{ clusterId: 'c-live', sessionId: 's-dead' }]);
    expect(report.queueOrphansRemoved).toEqual([]);
    expect(await names()).toEqual(['c-live-dlq.fifo', 'c-live-reply-s-alive', 'c-live-req.fifo']);
    expect((await store.get('c-live'))?.status).toBe('RUNNING');
    // Level-triggered and idempotent: nothing more to do.
    const again = await runHarvester(deps);
    expect(again.sessionsRemoved).toEqual([]);
    expect(again.actions.filter((a) => a.kind === 'delete-session-queue' || a.kind === 'delete-orphan-queues')).toEqual([]);
  });

  it('removes every queue of clusters with no live record (missing or DELETED) and nothing of live ones', async () => {
    // Prepare: c-live is RUNNING; c-gone has queues but no record; c-done was deleted but its queues stayed.
    await storeRunning('c-live');
    await queues.ensureClusterQueues({ clusterId: 'c-gone', owner: 'bob', namespace: 'recc-bob-gone' });
    await queues.ensureSessionQueue('c-gone', 's-1');
    const done = await storeRunning('c-done');
    const deleting = transition(done, 'DELETING', { actor: 'alice', at: t(1) });
    const deletingRecord = await store.put(deleting.next, done.version, deleting.change);
    const deleted = transition(deletingRecord, 'DELETED', { actor: 'provisioner', at: t(2) });
    await store.put(deleted.next, deletingRecord.version, deleted.change);
    clock.set(Date.parse(t(3)));

    // Act
    const report = await runHarvester(deps);

    // Assess
    expect([...(report.queueOrphansRemoved ?? [])].sort()).toEqual(['c-done', 'c-gone']);
    expect(await names()).toEqual(['c-live-dlq.fifo', 'c-live-req.fifo']);
    const second = await runHarvester(deps);
    expect(second.queueOrphansRemoved).toEqual([]);
  });

  it('keeps a session whose heartbeat lands between the listing and the delete', async () => {
    await storeRunning('c-live');
    await queues.ensureSessionQueue('c-live', 's-late');
    clock.set(Date.parse(t(15)));
    // The client's heartbeat arrives after the harvester listed the queues.
    const racing: ClusterQueues = Object.assign(Object.create(queues) as ClusterQueues, {
      list: async () => {
        const listed = await queues.list();
        await queues.touchSession('c-live', 's-late', t(15));
        return listed;
      },
    });
    const report = await runHarvester({ ...deps, queues: racing });
    expect(report.sessionsRemoved).toEqual([]);
    expect(report.actions.find((a) => a.kind === 'delete-session-queue')).toMatchObject({ outcome: 'skipped', note: `the session was seen again at ${t(15)}` });
    expect(await names()).toContain('c-live-reply-s-late');
  });

  it('does not take a cluster that got a record after the listing for an orphan', async () => {
    await queues.ensureClusterQueues({ clusterId: 'c-new', owner: 'alice', namespace: 'recc-alice-new' });
    const racing: ClusterQueues = Object.assign(Object.create(queues) as ClusterQueues, {
      list: async () => {
        const listed = await queues.list();
        // The record is written (and then read by the harvester's store.get re-check) after the listing.
        await store.create(recordAt('REQUESTED', { id: 'c-new' }).record, recordAt('REQUESTED', { id: 'c-new' }).history[0]!);
        return listed;
      },
    });
    const report = await runHarvester({ ...deps, queues: racing });
    expect(report.queueOrphansRemoved).toEqual([]);
    expect(await names()).toEqual(['c-new-dlq.fifo', 'c-new-req.fifo']);
  });

  it('reports a failed listing and reconciles nothing else differently', async () => {
    await storeRunning('c-live');
    const broken: ClusterQueues = Object.assign(Object.create(queues) as ClusterQueues, {
      list: async () => {
        throw new Error('SQS is down');
      },
    });
    const report = await runHarvester({ ...deps, queues: broken });
    expect(report.queueListError).toBe('SQS is down');
    expect(report.actions.filter((a) => a.outcome === 'error')).toEqual([]);
    expect((await store.get('c-live'))?.status).toBe('RUNNING');
  });
});
