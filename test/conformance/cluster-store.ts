import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterStore } from '../../shared/ports/cluster-store.ts';
import { ClusterNotFoundError, VersionConflictError } from '../../shared/ports/errors.ts';
import { assertHistoryInvariants, assertRecordInvariants, revise, transition } from '../../shared/lifecycle/machine.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { sampleCluster, t } from '../support/cluster-records.ts';
import { StoreUsageError } from '../../adapters/store/errors.ts';

/**
 * The ClusterStore contract (`shared/ports/cluster-store.ts`). Every adapter
 * runs it: in-memory, dynalite (no transactions) and DynamoDB Local
 * (transactions). The factory gives each test a fresh, empty store (e.g. a new
 * table) and a cleanup that removes it.
 */
export interface ClusterStoreHarness {
  store: ClusterStore;
  cleanup?: () => Promise<void>;
}

export function clusterStoreConformance(name: string, factory: () => Promise<ClusterStoreHarness>): void {
  describe(`Port: ClusterStore (${name})`, () => {
    let harness: ClusterStoreHarness;
    let store: ClusterStore;

    beforeEach(async () => {
      harness = await factory();
      store = harness.store;
    });

    afterEach(async () => {
      await harness.cleanup?.();
    });

    /** Create a cluster and walk it to `path`'s last status, one put per step. */
    async function created(id: string, owner: string, minute: number, extra: { clientToken?: string } = {}): Promise<ClusterRecord> {
      const { record, change } = sampleCluster({ id, owner, at: t(minute), ...extra });
      const result = await store.create(record, change);
      return result.record;
    }

    async function step(
      record: ClusterRecord,
      to: ClusterRecord['status'],
      minute: number,
      patch?: Partial<ClusterRecord>,
    ): Promise<ClusterRecord> {
      const { next, change } = transition(record, to, {
        actor: 'provisioner',
        at: t(minute),
        ...(to === 'FAILED' ? { reason: 'ProcessExited: scheduler exited with code 1' } : {}),
        ...(patch ? { patch } : {}),
      });
      return store.put(next, record.version, change);
    }

    describe('Method: create', () => {
      it('stores a new record with its first history entry when the id is new', async () => {
        // Prepare
        const { record, change } = sampleCluster({ id: 'c-create1', owner: 'alice', at: t(0), clientToken: 'tok-1' });

        // Act
        const result = await store.create(record, change);

        // Assess
        expect(result).toEqual({ record, created: true });
        expect(await store.get('c-create1')).toStrictEqual(record);
        expect(await store.history('c-create1')).toStrictEqual([change]);
      });

      it('returns the existing cluster and writes nothing when the owner repeats a clientToken', async () => {
        // Prepare
        const first = sampleCluster({ id: 'c-idem01', owner: 'alice', at: t(0), clientToken: 'tok-same' });
        await store.create(first.record, first.change);
        const retry = sampleCluster({ id: 'c-idem02', owner: 'alice', at: t(1), clientToken: 'tok-same' });

        // Act
        const result = await store.create(retry.record, retry.change);

        // Assess
        expect(result).toEqual({ record: first.record, created: false });
        expect(await store.get('c-idem02')).toBeUndefined();
        expect(await store.history('c-idem02')).toEqual([]);
        expect(await store.history('c-idem01')).toStrictEqual([first.change]);
        expect((await store.listByOwner('alice')).map((r) => r.id)).toEqual(['c-idem01']);
      });

      it('scopes clientTokens per owner so two owners may reuse one token', async () => {
        // Prepare
        const a = sampleCluster({ id: 'c-tokA01', owner: 'alice', at: t(0), clientToken: 'shared' });
        const b = sampleCluster({ id: 'c-tokB01', owner: 'bob', at: t(1), clientToken: 'shared' });

        // Act
        const ra = await store.create(a.record, a.change);
        const rb = await store.create(b.record, b.change);

        // Assess
        expect([ra.created, rb.created]).toEqual([true, true]);
        expect((await store.listAll()).map((r) => r.id)).toEqual(['c-tokB01', 'c-tokA01']);
      });

      it('keeps (owner, clientToken) pairs apart even when they share characters across the boundary', async () => {
        // Prepare
        const a = sampleCluster({ id: 'c-sep001', owner: 'a#b', at: t(0), clientToken: 'c' });
        const b = sampleCluster({ id: 'c-sep002', owner: 'a', at: t(1), clientToken: 'b#c' });

        // Act
        const ra = await store.create(a.record, a.change);
        const rb = await store.create(b.record, b.change);

        // Assess
        expect([ra.created, rb.created]).toEqual([true, true]);
        expect(rb.record.id).toBe('c-sep002');
      });

      it('creates exactly one cluster when 50 creates race with one clientToken', async () => {
        // Prepare
        const attempts = Array.from({ length: 50 }, (_, i) =>
          sampleCluster({ id: `c-race${String(i).padStart(2, '0')}`, owner: 'carol', at: t(0, i), clientToken: 'tok-race' }),
        );

        // Act
        const results = await Promise.all(attempts.map((a) => store.create(a.record, a.change)));

        // Assess
        const winners = results.filter((r) => r.created);
        expect(winners).toHaveLength(1);
        const winnerId = winners[0]!.record.id;
        expect(new Set(results.map((r) => r.record.id))).toEqual(new Set([winnerId]));
        const listed = await store.listByOwner('carol');
        expect(listed.map((r) => r.id)).toEqual([winnerId]);
        expect(await store.history(winnerId)).toHaveLength(1);
        expect(await store.listAll()).toHaveLength(1);
      });

      it('throws VersionConflictError carrying the stored record when the id already exists', async () => {
        // Prepare
        const original = await created('c-dup001', 'alice', 0);
        const clash = sampleCluster({ id: 'c-dup001', owner: 'bob', at: t(5) });

        // Act
        const err = await store.create(clash.record, clash.change).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(VersionConflictError);
        expect((err as VersionConflictError).current).toStrictEqual(original);
        expect(await store.get('c-dup001')).toStrictEqual(original);
      });
    });

    describe('Method: get', () => {
      it('returns undefined when the cluster does not exist', async () => {
        expect(await store.get('c-missing')).toBeUndefined();
      });

      it('hands out copies, so mutating a returned or passed-in record changes nothing stored', async () => {
        // Prepare
        const { record, change } = sampleCluster({ id: 'c-copy01', owner: 'alice', at: t(0) });
        const snapshot = structuredClone(record);
        const { record: returned } = await store.create(record, change);

        // Act
        record.spec.env.INJECTED = '1';
        returned.plan.nodes.length = 0;
        const read = await store.get('c-copy01');
        read!.status = 'DELETED';

        // Assess
        expect(await store.get('c-copy01')).toStrictEqual(snapshot);
      });

      it('round-trips every optional field and forgets fields a later put removes', async () => {
        // Prepare
        const base = await created('c-round1', 'alice', 0);
        const provisioning = await step(base, 'PROVISIONING', 1);
        const running = await step(provisioning, 'RUNNING', 2, {
          connection: { schedulerAddress: 'tls://10.0.3.4:8786', dashboardUrl: 'http://10.0.3.4:8787', token: 'tok', caPem: 'PEM' },
          cost: { toDate: 0.25, perHour: 0.18, asOf: t(2) },
          job: 'nightly',
        });

        // Act
        const readBack = await store.get('c-round1');
        const withoutCost = revise(running, { at: t(3), patch: { cost: undefined, connection: undefined } });
        await store.put(withoutCost, running.version);
        const afterRemoval = await store.get('c-round1');

        // Assess
        expect(readBack).toStrictEqual(running);
        expect(afterRemoval).toStrictEqual(withoutCost);
        expect(afterRemoval && 'cost' in afterRemoval).toBe(false);
        expect(afterRemoval && 'connection' in afterRemoval).toBe(false);
      });
    });

    describe('Method: listByOwner', () => {
      it('lists only the owner’s clusters, newest first', async () => {
        // Prepare
        await created('c-own001', 'alice', 1);
        await created('c-own002', 'bob', 2);
        await created('c-own003', 'alice', 3);
        await created('c-own004', 'alice', 2);

        // Act
        const listed = await store.listByOwner('alice');

        // Assess
        expect(listed.map((r) => r.id)).toEqual(['c-own003', 'c-own004', 'c-own001']);
        expect(await store.listByOwner('nobody')).toEqual([]);
      });

      it('filters by status when asked', async () => {
        // Prepare
        const a = await created('c-stat01', 'alice', 1);
        await created('c-stat02', 'alice', 2);
        await step(a, 'DELETING', 3);

        // Act
        const deleting = await store.listByOwner('alice', { status: 'DELETING' });
        const requested = await store.listByOwner('alice', { status: 'REQUESTED' });

        // Assess
        expect(deleting.map((r) => [r.id, r.status])).toEqual([['c-stat01', 'DELETING']]);
        expect(requested.map((r) => r.id)).toEqual(['c-stat02']);
      });
    });

    describe('Method: listAll', () => {
      it('lists every owner’s clusters newest first, optionally by status', async () => {
        // Prepare
        await created('c-all001', 'alice', 1);
        const b = await created('c-all002', 'bob', 3);
        await created('c-all003', 'carol', 2);
        await step(b, 'FAILED', 4);

        // Act
        const all = await store.listAll();
        const failed = await store.listAll({ status: 'FAILED' });

        // Assess
        expect(all.map((r) => r.id)).toEqual(['c-all002', 'c-all003', 'c-all001']);
        expect(failed.map((r) => r.id)).toEqual(['c-all002']);
        expect(await store.listAll({ status: 'RUNNING' })).toEqual([]);
      });
    });

    describe('Method: listLive', () => {
      it('lists live clusters least recently active first and leaves terminal ones out', async () => {
        // Prepare
        const a = await created('c-live01', 'alice', 1);
        await created('c-live02', 'bob', 2);
        const c = await created('c-live03', 'carol', 3);
        const d = await created('c-live04', 'dave', 4);
        await store.touch('c-live01', { activityAt: t(10) });
        const deleting = await step(c, 'DELETING', 5);
        await step(deleting, 'DELETED', 6);
        await step(d, 'FAILED', 7);

        // Act
        const live = await store.listLive();

        // Assess
        expect(live.map((r) => r.id)).toEqual(['c-live02', 'c-live01']);
        expect(live[1]!.lastActivityAt).toBe(t(10));
        expect(a.lastActivityAt).toBe(t(1));
      });

      it('keeps a cluster listed through every live status', async () => {
        // Prepare
        const a = await created('c-livest', 'alice', 1);

        // Act
        const p = await step(a, 'PROVISIONING', 2);
        const inProvisioning = await store.listLive();
        const r = await step(p, 'RUNNING', 3);
        const inRunning = await store.listLive();
        await step(r, 'DELETING', 4);
        const inDeleting = await store.listLive();

        // Assess
        for (const listed of [inProvisioning, inRunning, inDeleting]) expect(listed.map((x) => x.id)).toEqual(['c-livest']);
        expect(inDeleting[0]!.status).toBe('DELETING');
      });
    });

    describe('Method: put', () => {
      it('replaces the record and appends the change when the version matches', async () => {
        // Prepare
        const a = await created('c-put001', 'alice', 0);
        const { next, change } = transition(a, 'PROVISIONING', { actor: 'provisioner', at: t(1) });

        // Act
        const stored = await store.put(next, 1, change);

        // Assess
        expect(stored).toStrictEqual(next);
        expect(await store.get('c-put001')).toStrictEqual(next);
        expect((await store.history('c-put001')).map((h) => h.version)).toEqual([1, 2]);
      });

      it('throws VersionConflictError carrying the current record when the version is stale', async () => {
        // Prepare
        const a = await created('c-stale1', 'alice', 0);
        const current = await step(a, 'PROVISIONING', 1);
        const stale = transition(a, 'DELETING', { actor: 'alice', at: t(2) });

        // Act
        const err = await store.put(stale.next, a.version, stale.change).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(VersionConflictError);
        expect((err as VersionConflictError).statusCode).toBe(409);
        expect((err as VersionConflictError).current).toStrictEqual(current);
        expect(await store.get('c-stale1')).toStrictEqual(current);
        expect((await store.history('c-stale1')).map((h) => h.to)).toEqual(['REQUESTED', 'PROVISIONING']);
      });

      it('throws ClusterNotFoundError when the cluster does not exist', async () => {
        // Prepare
        const { record } = sampleCluster({ id: 'c-ghost1', owner: 'alice', at: t(0) });
        const { next, change } = transition(record, 'PROVISIONING', { actor: 'provisioner', at: t(1) });

        // Act
        const err = await store.put(next, 1, change).catch((e: unknown) => e);

        // Assess
        expect(err).toBeInstanceOf(ClusterNotFoundError);
        expect(await store.get('c-ghost1')).toBeUndefined();
        expect(await store.history('c-ghost1')).toEqual([]);
      });

      it('lets exactly one of many concurrent puts on one version win', async () => {
        // Prepare
        const a = await created('c-conc01', 'alice', 0);
        const running = await step(await step(a, 'PROVISIONING', 1), 'RUNNING', 2);
        const racers = Array.from({ length: 12 }, (_, i) =>
          i % 2 === 0
            ? { ...transition(running, 'DELETING', { actor: `user${i}`, at: t(3, i) }) }
            : { next: revise(running, { at: t(3, i), patch: { desiredWorkers: 10 + i } }), change: undefined },
        );

        // Act
        const outcomes = await Promise.allSettled(racers.map((r) => store.put(r.next, running.version, r.change)));

        // Assess
        const won = outcomes.flatMap((o, i) => (o.status === 'fulfilled' ? [i] : []));
        expect(won).toHaveLength(1);
        for (const o of outcomes) {
          if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(VersionConflictError);
        }
        const winner = racers[won[0]!]!;
        const stored = await store.get('c-conc01');
        expect(stored).toStrictEqual(winner.next);
        const history = await store.history('c-conc01');
        expect(history).toHaveLength(winner.change ? 4 : 3);
        assertHistoryInvariants(history, stored);
        assertRecordInvariants(stored!);
      });

      it('loses no write and no heartbeat when revisers, the lifecycle and heartbeats race with retries', async () => {
        // Prepare
        await created('c-storm1', 'alice', 0);
        /** Read-modify-write until the conditional put wins, re-reading from the conflict. */
        async function until(
          build: (r: ClusterRecord) => { next: ClusterRecord; change?: StatusChange },
        ): Promise<void> {
          let current = (await store.get('c-storm1'))!;
          for (let attempt = 0; attempt < 500; attempt += 1) {
            const { next, change } = build(current);
            try {
              await store.put(next, current.version, change);
              return;
            } catch (err) {
              if (!(err instanceof VersionConflictError)) throw err;
              current = err.current ?? (await store.get('c-storm1'))!;
            }
          }
          throw new Error('a writer never won');
        }
        const revisers = Array.from({ length: 3 }, async (_, w) => {
          for (let i = 0; i < 4; i += 1) {
            await until((r) => ({ next: revise(r, { at: t(0, 1 + w * 10 + i), patch: { desiredWorkers: r.desiredWorkers + 1 } }) }));
          }
        });
        const lifecycle = (async () => {
          await until((r) => transition(r, 'PROVISIONING', { actor: 'provisioner', at: t(0, 500) }));
          await until((r) => transition(r, 'RUNNING', { actor: 'provisioner', at: t(0, 600) }));
        })();
        const minutes = Array.from({ length: 20 }, (_, i) => ((i * 7) % 20) + 11);
        const heartbeats = (async () => {
          for (const m of minutes) await store.touch('c-storm1', { activityAt: t(m), heartbeatAt: t(m) });
        })();

        // Act
        await Promise.all([...revisers, lifecycle, heartbeats]);

        // Assess
        const final = (await store.get('c-storm1'))!;
        expect(final.version).toBe(1 + 12 + 2);
        expect(final.desiredWorkers).toBe(2 + 12);
        expect(final.status).toBe('RUNNING');
        expect(final.lastActivityAt).toBe(t(30));
        expect(final.lastHeartbeatAt).toBe(t(30));
        const history = await store.history('c-storm1');
        expect(history.map((h) => h.to)).toEqual(['REQUESTED', 'PROVISIONING', 'RUNNING']);
        assertHistoryInvariants(history, final);
        assertRecordInvariants(final);
      });

      it('does not add history when no change is given', async () => {
        // Prepare
        const a = await created('c-nohis1', 'alice', 0);

        // Act
        await store.put(revise(a, { at: t(1), patch: { desiredWorkers: 9 } }), 1);

        // Assess
        expect((await store.get('c-nohis1'))?.desiredWorkers).toBe(9);
        expect(await store.history('c-nohis1')).toHaveLength(1);
      });

      it('keeps activity times a concurrent touch moved forward when next was built from an older read', async () => {
        // Prepare
        const a = await created('c-keep01', 'alice', 0);
        await store.touch('c-keep01', { activityAt: t(30), heartbeatAt: t(30) });
        const { next, change } = transition(a, 'PROVISIONING', { actor: 'provisioner', at: t(5) });

        // Act
        const stored = await store.put(next, 1, change);

        // Assess
        expect(stored.lastActivityAt).toBe(t(30));
        expect(stored.lastHeartbeatAt).toBe(t(30));
        expect(stored.status).toBe('PROVISIONING');
        expect(await store.get('c-keep01')).toStrictEqual(stored);
      });

      it('moves activity forward when next carries a newer time', async () => {
        // Prepare
        const a = await created('c-fwd001', 'alice', 0);
        await store.touch('c-fwd001', { activityAt: t(3) });

        // Act
        const stored = await store.put(revise(a, { at: t(9), patch: { lastActivityAt: t(9) } }), 1);

        // Assess
        expect(stored.lastActivityAt).toBe(t(9));
        expect((await store.listLive()).map((r) => r.lastActivityAt)).toEqual([t(9)]);
      });
    });

    describe('Caller bugs', () => {
      it('throws StoreUsageError and writes nothing when versions or times break the contract', async () => {
        // Prepare
        const a = await created('c-usage1', 'alice', 0);
        const { next, change } = transition(a, 'PROVISIONING', { actor: 'provisioner', at: t(1) });
        const bad = sampleCluster({ id: 'c-usage2', owner: 'alice', at: t(2) });

        // Act
        const outcomes = await Promise.all([
          store.put({ ...next, version: 5 }, 1, change).catch((e: unknown) => e),
          store.put(next, 1, { ...change, version: 3 }).catch((e: unknown) => e),
          store.put(next, 1, { ...change, clusterId: 'c-other' }).catch((e: unknown) => e),
          store.put({ ...next, lastActivityAt: '2026-01-01T00:05:00Z' }, 1, change).catch((e: unknown) => e),
          store.create({ ...bad.record, version: 2 }, bad.change).catch((e: unknown) => e),
          store.create({ ...bad.record, createdAt: 'yesterday' }, bad.change).catch((e: unknown) => e),
          store.touch('c-usage1', { activityAt: '2026-01-01' }).catch((e: unknown) => e),
        ]);

        // Assess
        for (const o of outcomes) expect(o).toBeInstanceOf(StoreUsageError);
        expect(await store.get('c-usage1')).toStrictEqual(a);
        expect(await store.get('c-usage2')).toBeUndefined();
        expect(await store.history('c-usage1')).toHaveLength(1);
      });
    });

    describe('Method: history', () => {
      it('returns every change oldest first with from, to, when, actor, reason and version', async () => {
        // Prepare
        const a = await created('c-hist01', 'alice', 0);
        const p = await step(a, 'PROVISIONING', 1);
        const r = await step(p, 'RUNNING', 2);
        const { next, change } = transition(r, 'DELETING', { actor: 'harvester', at: t(40), reason: 'idle for 30 minutes' });
        const d = await store.put(next, r.version, change);
        await step(d, 'DELETED', 41);

        // Act
        const history = await store.history('c-hist01');

        // Assess
        expect(history).toStrictEqual<StatusChange[]>([
          { clusterId: 'c-hist01', from: null, to: 'REQUESTED', at: t(0), actor: 'alice', version: 1 },
          { clusterId: 'c-hist01', from: 'REQUESTED', to: 'PROVISIONING', at: t(1), actor: 'provisioner', version: 2 },
          { clusterId: 'c-hist01', from: 'PROVISIONING', to: 'RUNNING', at: t(2), actor: 'provisioner', version: 3 },
          {
            clusterId: 'c-hist01',
            from: 'RUNNING',
            to: 'DELETING',
            at: t(40),
            actor: 'harvester',
            reason: 'idle for 30 minutes',
            version: 4,
          },
          { clusterId: 'c-hist01', from: 'DELETING', to: 'DELETED', at: t(41), actor: 'provisioner', version: 5 },
        ]);
        assertHistoryInvariants(history, await store.get('c-hist01'));
      });

      it('returns an empty list for a cluster that does not exist', async () => {
        expect(await store.history('c-nothing')).toEqual([]);
      });

      it('orders entries by version numerically, not as text (2 before 13)', async () => {
        // Prepare
        let r = await step(await created('c-many01', 'alice', 0), 'PROVISIONING', 1);
        for (let i = 2; i <= 11; i += 1) r = await store.put(revise(r, { at: t(i), patch: { desiredWorkers: i } }), r.version);
        const running = await step(r, 'RUNNING', 20);

        // Act
        const history = await store.history('c-many01');

        // Assess
        expect(running.version).toBe(13);
        expect(history.map((h) => [h.version, h.to])).toEqual([
          [1, 'REQUESTED'],
          [2, 'PROVISIONING'],
          [13, 'RUNNING'],
        ]);
      });
    });

    describe('Method: touch', () => {
      it('moves activity and heartbeat forward without bumping the version', async () => {
        // Prepare
        await created('c-tch001', 'alice', 0);

        // Act
        const touched = await store.touch('c-tch001', { activityAt: t(5), heartbeatAt: t(6) });

        // Assess
        expect(touched?.lastActivityAt).toBe(t(5));
        expect(touched?.lastHeartbeatAt).toBe(t(6));
        expect(touched?.version).toBe(1);
        expect(await store.get('c-tch001')).toStrictEqual(touched);
      });

      it('never moves a timestamp backwards, field by field', async () => {
        // Prepare
        await created('c-tch002', 'alice', 0);
        await store.touch('c-tch002', { activityAt: t(10), heartbeatAt: t(4) });

        // Act
        const touched = await store.touch('c-tch002', { activityAt: t(7), heartbeatAt: t(8) });
        const again = await store.touch('c-tch002', { activityAt: t(10) });

        // Assess
        expect(touched?.lastActivityAt).toBe(t(10));
        expect(touched?.lastHeartbeatAt).toBe(t(8));
        expect(again?.lastActivityAt).toBe(t(10));
        expect((await store.get('c-tch002'))?.version).toBe(1);
      });

      it('keeps the latest time when many touches race', async () => {
        // Prepare
        await created('c-tch003', 'alice', 0);
        const minutes = Array.from({ length: 20 }, (_, i) => (i * 7) % 20);

        // Act
        await Promise.all(minutes.map((m) => store.touch('c-tch003', { activityAt: t(m + 1), heartbeatAt: t(m + 1) })));

        // Assess
        const stored = await store.get('c-tch003');
        expect(stored?.lastActivityAt).toBe(t(20));
        expect(stored?.lastHeartbeatAt).toBe(t(20));
        expect(stored?.version).toBe(1);
      });

      it('does not make a concurrent lifecycle put lose its race', async () => {
        // Prepare
        const a = await created('c-tch004', 'alice', 0);
        await store.touch('c-tch004', { heartbeatAt: t(1) });
        const { next, change } = transition(a, 'DELETING', { actor: 'alice', at: t(2) });

        // Act
        const stored = await store.put(next, a.version, change);

        // Assess
        expect(stored.status).toBe('DELETING');
        expect(stored.lastHeartbeatAt).toBe(t(1));
      });

      it('returns undefined and creates nothing when the cluster does not exist', async () => {
        // Act
        const touched = await store.touch('c-nope01', { activityAt: t(1), heartbeatAt: t(1) });

        // Assess
        expect(touched).toBeUndefined();
        expect(await store.get('c-nope01')).toBeUndefined();
        expect(await store.listAll()).toEqual([]);
        expect(await store.listLive()).toEqual([]);
      });

      it('returns the record unchanged when given no times', async () => {
        const a = await created('c-tch005', 'alice', 0);
        expect(await store.touch('c-tch005', {})).toStrictEqual(a);
      });
    });
  });
}
