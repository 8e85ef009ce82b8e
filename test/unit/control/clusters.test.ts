import { beforeEach, describe, expect, it } from 'vitest';
import { ClusterService, type Caller } from '../../../control/clusters.ts';
import { ClientTokenReuseError, ClusterBusyError, ClusterNotScalableError, ForbiddenError } from '../../../control/errors.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { ValidationError } from '../../../shared/core/errors.ts';
import { transition, assertHistoryInvariants } from '../../../shared/lifecycle/machine.ts';
import { ClusterNotFoundError, VersionConflictError } from '../../../shared/ports/errors.ts';
import type { ClusterRecord, StatusChange } from '../../../shared/lifecycle/types.ts';

const alice: Caller = { user: 'alice', admin: false };
const bob: Caller = { user: 'bob', admin: false };
const admin: Caller = { user: 'ops', admin: true };

describe('Class: ClusterService', () => {
  let store: InMemoryClusterStore;
  let queue: InMemoryWorkQueue;
  let clock: ManualClock;
  let service: ClusterService;

  beforeEach(() => {
    store = new InMemoryClusterStore();
    queue = new InMemoryWorkQueue();
    clock = new ManualClock(Date.UTC(2026, 0, 1));
    service = new ClusterService({ store, queue, clock, ids: new SequentialIds() });
  });

  /** Move a stored cluster along the lifecycle as the provisioner would. */
  async function advance(id: string, to: ClusterRecord['status'], patch: Partial<ClusterRecord> = {}): Promise<ClusterRecord> {
    const current = (await store.get(id))!;
    const { next, change } = transition(current, to, { actor: 'provisioner', at: new Date(clock.now()).toISOString(), patch, ...(to === 'FAILED' ? { reason: 'boom' } : {}) });
    return store.put(next, current.version, change);
  }

  describe('Method: create', () => {
    it('stores a REQUESTED cluster with plan, namespace and estimate and enqueues it when the request is valid', async () => {
      // Act
      const result = await service.create(alice, { template: 'small', overrides: { nWorkers: 3 }, name: 'backfill', job: 'nightly' });

      // Assess
      expect(result.created).toBe(true);
      expect(result.cluster).toMatchObject({
        id: 'c-000001',
        owner: 'alice',
        name: 'backfill',
        job: 'nightly',
        status: 'REQUESTED',
        version: 1,
        template: 'small',
        desiredWorkers: 3,
        namespace: 'recc-alice-000001',
      });
      expect(result.plan.costPerHour).toBeGreaterThan(0);
      expect(result.estimate.costPerHour).toBe(result.plan.costPerHour);
      expect(queue.messages).toEqual([{ clusterId: 'c-000001', cause: 'created' }]);
      expect(await store.history('c-000001')).toEqual([
        expect.objectContaining({ from: null, to: 'REQUESTED', actor: 'alice', version: 1 }),
      ]);
    });

    it('returns the same cluster and enqueues nothing more when the clientToken repeats', async () => {
      // Prepare
      const first = await service.create(alice, { clientToken: 'tok-1', overrides: { nWorkers: 2 } });

      // Act
      const second = await service.create(alice, { clientToken: 'tok-1', overrides: { nWorkers: 2 } });

      // Assess
      expect(second.created).toBe(false);
      expect(second.cluster.id).toBe(first.cluster.id);
      expect(await store.listByOwner('alice')).toHaveLength(1);
      expect(queue.messages).toHaveLength(1);
    });

    it('treats the same clientToken of another user as a different request', async () => {
      await service.create(alice, { clientToken: 'tok-1' });
      const other = await service.create(bob, { clientToken: 'tok-1' });
      expect(other.created).toBe(true);
      expect(other.cluster.owner).toBe('bob');
    });

    it('throws ClientTokenReuseError naming clientToken when the token comes back with a different spec', async () => {
      await service.create(alice, { clientToken: 'tok-1', overrides: { nWorkers: 2 } });
      const err = await service.create(alice, { clientToken: 'tok-1', overrides: { nWorkers: 5 } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClientTokenReuseError);
      expect((err as ClientTokenReuseError).statusCode).toBe(409);
      expect((err as ClientTokenReuseError).details[0]?.path).toBe('clientToken');
    });

    it('re-sends the provisioning message when a repeated create finds the cluster still REQUESTED long after', async () => {
      // Prepare: the first create stored the record; pretend its message was lost.
      await service.create(alice, { clientToken: 'tok-1' });
      queue.drain();
      clock.advance(31_000);

      // Act
      await service.create(alice, { clientToken: 'tok-1' });

      // Assess
      expect(queue.messages).toEqual([{ clusterId: 'c-000001', cause: 'requeue' }]);
    });

    it('lists every spec problem with its field when the overrides are invalid', async () => {
      const err = await service.create(alice, { overrides: { nWorkers: -3, instanceType: 'c5.xlarge2' } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      const paths = (err as ValidationError).details.map((d) => d.path);
      expect(paths).toEqual(expect.arrayContaining(['nWorkers', 'instanceType']));
      expect(await store.listAll()).toEqual([]);
      expect(queue.messages).toEqual([]);
    });

    it('makes a DNS-safe namespace when the user name has odd characters', async () => {
      const result = await service.create({ user: 'J.Doe@Corp.example', admin: false }, {});
      expect(result.cluster.namespace).toMatch(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/);
      expect(result.cluster.namespace.startsWith('recc-j-doe-corp-example-')).toBe(true);
    });
  });

  describe('Method: get', () => {
    it('throws ClusterNotFoundError naming id when another user asks', async () => {
      const { cluster } = await service.create(alice, {});
      const err = await service.get(bob, cluster.id).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterNotFoundError);
      expect((err as ClusterNotFoundError).details).toEqual([{ path: 'id', message: 'no such cluster' }]);
    });

    it('shows the connection token to the owner only; an admin sees the rest of the connection', async () => {
      // Prepare
      const { cluster } = await service.create(alice, {});
      await advance(cluster.id, 'PROVISIONING');
      await advance(cluster.id, 'RUNNING', { connection: { schedulerAddress: 'tls://10.0.0.1:8786', token: 's3cret', caPem: 'PEM' } });

      // Act
      const mine = await service.get(alice, cluster.id);
      const theirs = await service.get(admin, cluster.id);

      // Assess
      expect(mine.connection).toEqual({ schedulerAddress: 'tls://10.0.0.1:8786', token: 's3cret', caPem: 'PEM' });
      expect(theirs.connection).toEqual({ schedulerAddress: 'tls://10.0.0.1:8786', caPem: 'PEM' });
      expect(JSON.stringify(theirs)).not.toContain('s3cret');
    });

    it('records activity when the owner asks but not when an admin does', async () => {
      const { cluster } = await service.create(alice, {});
      clock.advance(60_000);
      await service.get(admin, cluster.id);
      expect((await store.get(cluster.id))!.lastActivityAt).toBe(cluster.lastActivityAt);
      await service.get(alice, cluster.id);
      expect((await store.get(cluster.id))!.lastActivityAt).toBe(new Date(clock.now()).toISOString());
    });
  });

  describe('Function: viewFor (reapAt)', () => {
    const harvest = { defaultIdleTimeoutMinutes: 30, leaseTimeoutMinutes: 5, schedulerUnreachableMinutes: 10, provisioningDeadlineMinutes: 20, deletingDeadlineMinutes: 15 };

    it('shows when a RUNNING cluster is reaped if idle: lastActivityAt plus its idleTimeoutMinutes', async () => {
      // Prepare
      const svc = new ClusterService({ store, queue, clock, ids: new SequentialIds(), harvest });
      const { cluster } = await svc.create(alice, { overrides: { idleTimeoutMinutes: 45 } });
      await advance(cluster.id, 'PROVISIONING');
      await advance(cluster.id, 'RUNNING');
      clock.advance(10 * 60_000);

      // Act
      const view = await svc.get(alice, cluster.id);

      // Assess
      expect(view.lastActivityAt).toBe('2026-01-01T00:10:00.000Z');
      expect(view.reapAt).toBe('2026-01-01T00:55:00.000Z');
      expect(view.reapReason).toBe('idle');
    });

    it('uses the server harvest config: a heartbeat lease of leaseTimeoutMinutes comes first', async () => {
      // Prepare
      const svc = new ClusterService({ store, queue, clock, ids: new SequentialIds(), harvest });
      const { cluster } = await svc.create(alice, { overrides: { idleTimeoutMinutes: 45 } });
      await advance(cluster.id, 'PROVISIONING');
      await advance(cluster.id, 'RUNNING');
      clock.advance(10 * 60_000);

      // Act
      const view = await svc.heartbeat(alice, cluster.id);

      // Assess
      expect(view.reapAt).toBe('2026-01-01T00:15:00.000Z');
      expect(view.reapReason).toBe('lease-expired');
    });

    it('is null when the cluster is DELETED, and for clusters not yet RUNNING', async () => {
      // Prepare
      const svc = new ClusterService({ store, queue, clock, ids: new SequentialIds(), harvest });
      const { cluster } = await svc.create(alice, { overrides: { idleTimeoutMinutes: 45 } });
      await advance(cluster.id, 'PROVISIONING');
      const provisioning = await svc.get(admin, cluster.id);
      await advance(cluster.id, 'RUNNING');
      await advance(cluster.id, 'DELETING');
      await advance(cluster.id, 'DELETED');

      // Act
      const view = await svc.get(alice, cluster.id);
      const listed = await svc.list(alice);

      // Assess
      expect(provisioning.reapAt).toBeNull();
      expect(view.status).toBe('DELETED');
      expect(view.reapAt).toBeNull();
      expect(view.reapReason).toBeNull();
      expect(listed.map((c) => c.reapAt)).toEqual([null]);
    });
  });

  describe('Method: list', () => {
    it('returns only the caller\'s clusters, newest first, filtered by status', async () => {
      await service.create(alice, { name: 'one' });
      clock.advance(1000);
      const two = await service.create(alice, { name: 'two' });
      await service.create(bob, { name: 'bobs' });
      await service.delete(alice, two.cluster.id);

      expect((await service.list(alice)).map((c) => c.name)).toEqual(['two', 'one']);
      expect((await service.list(alice, { status: 'DELETING' })).map((c) => c.name)).toEqual(['two']);
    });

    it('throws ForbiddenError naming all when a non-admin asks for all', async () => {
      const err = await service.list(alice, { all: true }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ForbiddenError);
      expect((err as ForbiddenError).statusCode).toBe(403);
      expect((err as ForbiddenError).details[0]?.path).toBe('all');
    });

    it('returns every user\'s clusters to an admin asking for all', async () => {
      await service.create(alice, {});
      await service.create(bob, {});
      expect((await service.list(admin, { all: true })).map((c) => c.owner).sort()).toEqual(['alice', 'bob']);
    });
  });

  describe('Method: delete', () => {
    it('moves a live cluster to DELETING and enqueues it, recording who asked', async () => {
      const { cluster } = await service.create(alice, {});
      queue.drain();
      const deleted = await service.delete(alice, cluster.id);
      expect(deleted.status).toBe('DELETING');
      expect(queue.messages).toEqual([{ clusterId: cluster.id, cause: 'delete-requested' }]);
      const history = await store.history(cluster.id);
      expect(history.at(-1)).toMatchObject({ from: 'REQUESTED', to: 'DELETING', actor: 'alice', reason: 'deleted by owner' });
    });

    it('is a no-op returning the record when the cluster is DELETED or FAILED', async () => {
      const { cluster } = await service.create(alice, {});
      await advance(cluster.id, 'FAILED');
      queue.drain();
      const before = (await store.get(cluster.id))!;
      const result = await service.delete(alice, cluster.id);
      expect(result.status).toBe('FAILED');
      expect(result.version).toBe(before.version);
      expect(queue.messages).toEqual([]);
    });

    it('re-sends the message without writing when the cluster is already DELETING', async () => {
      const { cluster } = await service.create(alice, {});
      await service.delete(alice, cluster.id);
      queue.drain();
      const again = await service.delete(alice, cluster.id);
      expect(again.version).toBe(2);
      expect(queue.messages).toEqual([{ clusterId: cluster.id, cause: 'delete-requested' }]);
    });

    it('lets an admin delete another user\'s cluster', async () => {
      const { cluster } = await service.create(alice, {});
      const result = await service.delete(admin, cluster.id);
      expect(result.status).toBe('DELETING');
      expect((await store.history(cluster.id)).at(-1)?.reason).toBe('deleted by admin ops');
    });
  });

  describe('Method: scale', () => {
    it('changes desiredWorkers and re-plans when the cluster is RUNNING', async () => {
      const { cluster } = await service.create(alice, { overrides: { nWorkers: 2 } });
      await advance(cluster.id, 'PROVISIONING');
      await advance(cluster.id, 'RUNNING');
      queue.drain();
      const scaled = await service.scale(alice, cluster.id, 40);
      expect(scaled).toMatchObject({ desiredWorkers: 40, status: 'RUNNING', version: 4 });
      expect(scaled.spec.nWorkers).toBe(40);
      expect(scaled.plan.costPerHour).toBeGreaterThan(cluster.plan.costPerHour);
      expect(queue.messages).toEqual([{ clusterId: cluster.id, cause: 'scale' }]);
    });

    it('on an adaptive cluster: refuses a count outside its bounds, clamps it for the scheduler, and records retired workers', async () => {
      const { cluster } = await service.create(alice, { overrides: { adaptive: { minimum: 0, maximum: 6 } } });
      expect(cluster.desiredWorkers).toBe(1);
      await advance(cluster.id, 'PROVISIONING');
      await advance(cluster.id, 'RUNNING');
      queue.drain();
      const err = await service.scale(alice, cluster.id, 7).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ValidationError);
      expect((err as ValidationError).details).toEqual([{ path: 'nWorkers', message: 'must be from adaptive.minimum (0) to adaptive.maximum (6) on this adaptive cluster (got 7)' }]);
      const up = await service.scale(alice, cluster.id, 40, { clamp: true });
      expect(up.desiredWorkers).toBe(6);
      const rateAt6 = up.cost!.perHour;
      clock.advance(3_600_000);
      // Down to its scheduler alone, naming the retired worker; the hour at 6 workers is billed at the 6-worker rate.
      const down = await service.scale(alice, cluster.id, 0, { retire: ['pod-5'] });
      expect(down).toMatchObject({ desiredWorkers: 0, retireWorkers: ['pod-5'] });
      expect(down.cost!.perHour).toBeLessThan(rateAt6);
      expect(down.cost!.toDate).toBeCloseTo(rateAt6, 6);
      expect(queue.messages).toEqual([{ clusterId: cluster.id, cause: 'scale' }, { clusterId: cluster.id, cause: 'scale' }]);
    });

    it('writes nothing when the count is unchanged', async () => {
      const { cluster } = await service.create(alice, { overrides: { nWorkers: 2 } });
      queue.drain();
      const same = await service.scale(alice, cluster.id, 2);
      expect(same.version).toBe(1);
      expect(queue.messages).toEqual([]);
    });

    it('throws ClusterNotScalableError naming nWorkers when the cluster is DELETING', async () => {
      const { cluster } = await service.create(alice, {});
      await service.delete(alice, cluster.id);
      const err = await service.scale(alice, cluster.id, 3).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterNotScalableError);
      expect((err as ClusterNotScalableError).statusCode).toBe(409);
      expect((err as ClusterNotScalableError).details[0]?.path).toBe('nWorkers');
    });

    it('throws ValidationError naming nWorkers when the count is not a positive whole number', async () => {
      const { cluster } = await service.create(alice, {});
      for (const n of [0, -1, 1.5, Number.NaN]) {
        const err = await service.scale(alice, cluster.id, n).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(ValidationError);
        expect((err as ValidationError).details[0]?.path).toBe('nWorkers');
      }
    });
  });

  describe('Method: heartbeat', () => {
    it('records heartbeat and activity without bumping the version', async () => {
      const { cluster } = await service.create(alice, {});
      clock.advance(5_000);
      const beat = await service.heartbeat(alice, cluster.id);
      const at = new Date(clock.now()).toISOString();
      expect(beat).toMatchObject({ lastHeartbeatAt: at, lastActivityAt: at, version: 1 });
    });

    it('throws ClusterNotFoundError when another user sends it', async () => {
      const { cluster } = await service.create(alice, {});
      await expect(service.heartbeat(bob, cluster.id)).rejects.toBeInstanceOf(ClusterNotFoundError);
    });
  });

  describe('Method: estimate', () => {
    it('returns the spec and plan and creates nothing', async () => {
      const result = service.estimate({ template: 'small', overrides: { nWorkers: 4 } });
      expect(result.spec.nWorkers).toBe(4);
      expect(result.plan.instances).toBeGreaterThan(0);
      expect(await store.listAll()).toEqual([]);
      expect(queue.messages).toEqual([]);
    });
  });

  describe('Method: templates', () => {
    it('lists the repository templates', () => {
      const names = service.templates().map((t) => t.name);
      expect(names).toContain('default');
    });
  });

  describe('Concurrency', () => {
    /** A store whose writes lose a race a given number of times (another writer bumps the version first). */
    class RacingStore extends InMemoryClusterStore {
      losses = 0;
      override async put(next: ClusterRecord, expectedVersion: number, change?: StatusChange): Promise<ClusterRecord> {
        if (this.losses > 0) {
          this.losses -= 1;
          const current = (await this.get(next.id))!;
          // Another writer records activity and bumps the version.
          await super.put({ ...current, version: current.version + 1, updatedAt: current.updatedAt }, current.version);
        }
        return super.put(next, expectedVersion, change);
      }
    }

    it('retries a lost race on the winner\'s record and succeeds', async () => {
      const racing = new RacingStore();
      const svc = new ClusterService({ store: racing, queue, clock, ids: new SequentialIds() });
      const { cluster } = await svc.create(alice, {});
      racing.losses = 2;
      const deleted = await svc.delete(alice, cluster.id);
      expect(deleted.status).toBe('DELETING');
      expect(deleted.version).toBe(4);
      assertHistoryInvariants(await racing.history(cluster.id), deleted as ClusterRecord);
    });

    it('answers ClusterBusyError (409) when it keeps losing', async () => {
      const racing = new RacingStore();
      const svc = new ClusterService({ store: racing, queue, clock, ids: new SequentialIds(), maxConflictRetries: 2 });
      const { cluster } = await svc.create(alice, {});
      racing.losses = 10;
      const err = await svc.scale(alice, cluster.id, 7).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterBusyError);
      expect((err as ClusterBusyError).cause).toBeInstanceOf(VersionConflictError);
    });
  });
});
