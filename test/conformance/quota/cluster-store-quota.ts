import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ClusterStore } from '../../../shared/ports/cluster-store.ts';
import { revise, transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { QuotaExceededError } from '../../../shared/quota/errors.ts';
import type { QuotaLimits } from '../../../shared/quota/limits.ts';
import { addUsage, usageOf, ZERO_USAGE, type Usage } from '../../../shared/quota/usage.ts';
import { sampleCluster, sampleSpec, t } from '../../support/cluster-records.ts';

/**
 * The quota part of the ClusterStore contract (`QuotaWriteOptions` in
 * `shared/ports/cluster-store.ts`): usage items move in the same atomic write
 * as the record; increases stay within limits under any concurrency;
 * refused writes write nothing. Run against the in-memory store, dynalite
 * (sequential writes) and DynamoDB Local (transactions and sequential).
 *
 * The sample cluster (2 workers × 1 vCPU + a 0.5 vCPU scheduler, one
 * c5.xlarge at $0.17/h + $0.01/h control-plane share) counts 1 cluster,
 * 2.5 vCPUs (2500 units), 0 GPUs and $0.18/h (180000 units).
 */
export interface QuotaStoreHarness {
  store: ClusterStore;
  cleanup?: () => Promise<void>;
}

const ALICE = 'user:alice';
const RATES = 'group:rates';
const ONE: Usage = { clusters: 1, vcpus: 2500, gpus: 0, costPerHour: 180_000 };

function times(n: number, u: Usage): Usage {
  return { clusters: u.clusters * n, vcpus: u.vcpus * n, gpus: u.gpus * n, costPerHour: u.costPerHour * n };
}

export function clusterStoreQuotaConformance(name: string, factory: () => Promise<QuotaStoreHarness>, options: { concurrency?: number } = {}): void {
  const concurrency = options.concurrency ?? 50;

  describe(`Port: ClusterStore quotas (${name})`, () => {
    let harness: QuotaStoreHarness;
    let store: ClusterStore;

    beforeEach(async () => {
      harness = await factory();
      store = harness.store;
    });

    afterEach(async () => {
      await harness.cleanup?.();
    });

    function counted(id: string, owner = 'alice', scopes: string[] = [ALICE], extra: { clientToken?: string; gpus?: number } = {}) {
      const { record, change } = sampleCluster({ id, owner, at: t(0), ...(extra.clientToken ? { clientToken: extra.clientToken } : {}) });
      const withScopes: ClusterRecord = { ...record, quotaScopes: scopes };
      if (extra.gpus) withScopes.spec = sampleSpec({ resources: { GPU: extra.gpus } });
      return { record: withScopes, change };
    }

    const limits = (entries: [string, QuotaLimits][]) => ({ quota: new Map(entries) });

    async function usageOfScope(scope: string): Promise<Usage> {
      return (await store.usage([scope])).get(scope) ?? { ...ZERO_USAGE };
    }

    describe('Method: create', () => {
      it('adds the cluster to the usage of every scope it counts against', async () => {
        // Prepare
        const { record, change } = counted('c-q1', 'alice', [ALICE, RATES], { gpus: 1 });
        // Act
        await store.create(record, change, limits([[ALICE, { clusters: 5 }]]));
        // Assess
        const usage = await store.usage([ALICE, RATES, 'group:other']);
        const expected = { ...ONE, gpus: 2 };
        expect(usage.get(ALICE)).toEqual(expected);
        expect(usage.get(RATES)).toEqual(expected);
        expect(usage.get('group:other')).toEqual(ZERO_USAGE);
      });

      it('refuses a create over a limit with the limit, the usage and what it adds, and writes nothing', async () => {
        // Prepare
        const first = counted('c-q2a');
        await store.create(first.record, first.change, limits([[ALICE, { vcpus: 4000 }]]));
        const second = counted('c-q2b');
        // Act
        const err = await store.create(second.record, second.change, limits([[ALICE, { vcpus: 4000, clusters: 10 }]])).catch((e: unknown) => e);
        // Assess
        expect(err).toBeInstanceOf(QuotaExceededError);
        const q = err as QuotaExceededError;
        expect(q.statusCode).toBe(403);
        expect(q.violations).toEqual([{ scope: ALICE, dimension: 'vcpus', limit: 4000, usage: 2500, adds: 2500 }]);
        expect(q.exposedFields.quota.exceeded).toEqual([{ scope: ALICE, dimension: 'vcpus', limit: 4, usage: 2.5, requested: 2.5 }]);
        expect(q.message).toMatch(/limit 4 vCPUs, in use 2\.5, this request adds 2\.5/);
        expect(await store.get('c-q2b')).toBeUndefined();
        expect(await store.history('c-q2b')).toEqual([]);
        expect(await usageOfScope(ALICE)).toEqual(ONE);
      });

      it('refuses a request that alone exceeds a limit of a scope nobody has used yet', async () => {
        const { record, change } = counted('c-q3', 'alice', [ALICE], { gpus: 4 });
        const err = await store.create(record, change, limits([[ALICE, { gpus: 3 }]])).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QuotaExceededError);
        expect((err as QuotaExceededError).violations).toEqual([{ scope: ALICE, dimension: 'gpus', limit: 3, usage: 0, adds: 8 }]);
        expect(await store.get('c-q3')).toBeUndefined();
        expect(await usageOfScope(ALICE)).toEqual(ZERO_USAGE);
      });

      it('is all or nothing across scopes: a full group refuses the create and the user scope is not charged', async () => {
        const first = counted('c-q4a', 'alice', [ALICE, RATES]);
        await store.create(first.record, first.change);
        const second = counted('c-q4b', 'alice', [ALICE, RATES]);
        const err = await store.create(second.record, second.change, limits([[ALICE, { clusters: 10 }], [RATES, { clusters: 1 }]])).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QuotaExceededError);
        expect((err as QuotaExceededError).violations.map((v) => `${v.scope}.${v.dimension}`)).toEqual(['group:rates.clusters']);
        expect(await usageOfScope(ALICE)).toEqual(ONE);
        expect(await usageOfScope(RATES)).toEqual(ONE);
      });

      it('charges nothing again for a repeated clientToken, even when the quota is now full', async () => {
        const { record, change } = counted('c-q5', 'alice', [ALICE], { clientToken: 'tok-q5' });
        await store.create(record, change, limits([[ALICE, { clusters: 1 }]]));
        const again = counted('c-q5-retry', 'alice', [ALICE], { clientToken: 'tok-q5' });
        const result = await store.create(again.record, again.change, limits([[ALICE, { clusters: 1 }]]));
        expect(result).toMatchObject({ created: false, record: { id: 'c-q5' } });
        expect(await usageOfScope(ALICE)).toEqual(ONE);
      });

      it('counts nothing for a record without quota scopes (created before quotas existed)', async () => {
        const { record, change } = sampleCluster({ id: 'c-q6', owner: 'alice', at: t(0) });
        await store.create(record, change, limits([[ALICE, { clusters: 0 }]]));
        expect(await usageOfScope(ALICE)).toEqual(ZERO_USAGE);
      });

      it(`never overshoots when ${concurrency} creates race for the last places`, async () => {
        // Prepare: room for 7 clusters by count, 9 by vCPUs: the count binds.
        const quota = limits([[ALICE, { clusters: 7, vcpus: 22_500 }]]);
        const requests = Array.from({ length: concurrency }, (_, i) => counted(`c-race-${String(i).padStart(3, '0')}`));
        // Act
        const results = await Promise.allSettled(requests.map((r) => store.create(r.record, r.change, quota)));
        // Assess
        const created = results.filter((r) => r.status === 'fulfilled');
        const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        for (const r of refused) expect(r.reason, String(r.reason)).toBeInstanceOf(QuotaExceededError);
        expect(created.length).toBe(7);
        expect(await usageOfScope(ALICE)).toEqual(times(7, ONE));
        const stored = (await store.listByOwner('alice')).filter((r) => r.id.startsWith('c-race-'));
        expect(stored.length).toBe(7);
      });
    });

    describe('Method: put', () => {
      it('releases the usage when the cluster is being deleted, once, and when it fails', async () => {
        const a = counted('c-r1');
        const b = counted('c-r2');
        const ra = (await store.create(a.record, a.change)).record;
        const rb = (await store.create(b.record, b.change)).record;
        expect(await usageOfScope(ALICE)).toEqual(times(2, ONE));
        // DELETING releases; DELETED after it changes nothing more.
        const deleting = transition(ra, 'DELETING', { actor: 'alice', at: t(1) });
        const d = await store.put(deleting.next, ra.version, deleting.change);
        expect(await usageOfScope(ALICE)).toEqual(ONE);
        const deleted = transition(d, 'DELETED', { actor: 'provisioner', at: t(2) });
        await store.put(deleted.next, d.version, deleted.change);
        expect(await usageOfScope(ALICE)).toEqual(ONE);
        // PROVISIONING keeps counting; FAILED releases.
        const prov = transition(rb, 'PROVISIONING', { actor: 'provisioner', at: t(1) });
        const p = await store.put(prov.next, rb.version, prov.change);
        expect(await usageOfScope(ALICE)).toEqual(ONE);
        const failed = transition(p, 'FAILED', { actor: 'provisioner', at: t(2), reason: 'ProcessExited: scheduler exited with code 1' });
        await store.put(failed.next, p.version, failed.change);
        expect(await usageOfScope(ALICE)).toEqual(ZERO_USAGE);
      });

      it('counts a scale-up against the quota and refuses it over the limit, leaving the record as it was', async () => {
        const { record, change } = counted('c-s1');
        const r1 = (await store.create(record, change)).record;
        const quota = limits([[ALICE, { vcpus: 6000 }]]);
        const up = (r: ClusterRecord, n: number) => revise(r, { at: t(1), patch: { desiredWorkers: n, spec: { ...r.spec, nWorkers: n } } });
        // 2 → 5 workers: 5.5 vCPUs fits 6.
        const r2 = await store.put(up(r1, 5), r1.version, undefined, quota);
        expect((await usageOfScope(ALICE)).vcpus).toBe(5500);
        // 5 → 6 workers: 6.5 > 6, refused.
        const err = await store.put(up(r2, 6), r2.version, undefined, quota).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QuotaExceededError);
        expect((err as QuotaExceededError).violations).toEqual([{ scope: ALICE, dimension: 'vcpus', limit: 6000, usage: 5500, adds: 1000 }]);
        expect(await store.get('c-s1')).toMatchObject({ version: r2.version, desiredWorkers: 5 });
        expect((await usageOfScope(ALICE)).vcpus).toBe(5500);
        // Scale-down always applies.
        await store.put(up(r2, 1), r2.version, undefined, quota);
        expect((await usageOfScope(ALICE)).vcpus).toBe(1500);
      });

      it('keeps usage equal to the sum over live records after concurrent scale-ups, deletes and creates', async () => {
        // Prepare: 10 clusters; room for 30 vCPUs in all.
        const quota = limits([[ALICE, { vcpus: 30_000 }]]);
        const made: ClusterRecord[] = [];
        for (let i = 0; i < 10; i += 1) {
          const c = counted(`c-mix-${i}`);
          made.push((await store.create(c.record, c.change, quota)).record);
        }
        // Act: scale each of the first 8 to 4 workers (+2 vCPUs each; only some fit), delete the last 2, create 6 more.
        const ops: Promise<unknown>[] = [];
        made.slice(0, 8).forEach((r) => ops.push(store.put(revise(r, { at: t(1), patch: { desiredWorkers: 4, spec: { ...r.spec, nWorkers: 4 } } }), r.version, undefined, quota)));
        made.slice(8).forEach((r) => {
          const d = transition(r, 'DELETING', { actor: 'alice', at: t(1) });
          ops.push(store.put(d.next, r.version, d.change, quota));
        });
        for (let i = 0; i < 6; i += 1) {
          const c = counted(`c-mix-new-${i}`);
          ops.push(store.create(c.record, c.change, quota));
        }
        const results = await Promise.allSettled(ops);
        // Assess
        for (const r of results) if (r.status === 'rejected') expect(r.reason, String(r.reason)).toBeInstanceOf(QuotaExceededError);
        const live = await store.listByOwner('alice');
        const sum = live.reduce((acc, r) => addUsage(acc, usageOf(r)), { ...ZERO_USAGE });
        const usage = await usageOfScope(ALICE);
        expect(usage).toEqual(sum);
        expect(usage.vcpus).toBeLessThanOrEqual(30_000);
      });
    });
  });
}
