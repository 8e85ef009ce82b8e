import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { QuotaPolicy, quotaPolicyFromEnv } from '../../../shared/quota/config.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { makeApi, roleArn, userArn, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';

/**
 * Quotas through the API handlers (route table, middleware, ClusterService,
 * the store): a create or scale-up over a quota is a 403 naming the quota,
 * the usage and what the request would add; deleting frees the room at once;
 * `GET /quota` shows limits and usage per scope; only admins read others'.
 * Per-cluster figures are read back from `GET /quota` rather than restating
 * the planner's numbers.
 */
const ALICE = userArn('alice');
const BOB = roleArn('researcher', 'bob');
const ADMIN = roleArn('recc-admin', 'ops');

describe('Quotas through the API', () => {
  let api: (call: ApiCall) => Promise<ApiReply>;
  let store: InMemoryClusterStore;

  beforeEach(async () => {
    store = new InMemoryClusterStore();
    const quotas = QuotaPolicy.from({
      defaults: { user: { maxClusters: 5, maxVcpus: 100, maxGpus: 0, maxCostPerHour: 10 } },
      users: { alice: { maxClusters: 2 }, bob: { maxClusters: null } },
      groups: { rates: { members: ['alice', 'bob'], maxVcpus: 8 } },
    });
    api = await makeApi({ store, queue: new InMemoryWorkQueue(), clock: new ManualClock(Date.UTC(2026, 0, 1)), ids: new SequentialIds(), logger: silentLogger, quotas });
  });

  const create = (arn: string, body: Record<string, unknown> = { template: 'small' }) => api({ method: 'POST', path: '/clusters', body, arn });

  it('answers 403 with the quota, the usage and what the request would add once the user is at the limit', async () => {
    // Prepare
    expect((await create(ALICE)).statusCode).toBe(202);
    expect((await create(ALICE)).statusCode).toBe(202);
    // Act
    const third = await create(ALICE);
    // Assess
    expect(third.statusCode).toBe(403);
    expect(third.body.error.type).toBe('QuotaExceededError');
    expect(third.body.error.quota.exceeded).toContainEqual({ scope: 'user:alice', dimension: 'clusters', limit: 2, usage: 2, requested: 1 });
    expect(third.body.error.details).toContainEqual({ path: 'quota.user:alice.clusters', message: 'limit 2 clusters, in use 2, this request adds 1' });
    expect(third.body.error.message).toMatch(/^quota exceeded for user alice/);
    const list = await api({ method: 'GET', path: '/clusters', arn: ALICE });
    expect(list.body.clusters).toHaveLength(2);
  });

  it('frees the room as soon as a cluster is being deleted', async () => {
    const a = await create(ALICE);
    await create(ALICE);
    expect((await create(ALICE)).statusCode).toBe(403);
    expect((await api({ method: 'DELETE', path: `/clusters/${a.body.cluster.id}`, arn: ALICE })).statusCode).toBe(202);
    expect((await create(ALICE)).statusCode).toBe(202);
  });

  it('counts a group across its members and scale-ups against every scope', async () => {
    // The group allows 8 vCPUs; the small template asks for a bit more than 2.
    const first = await create(BOB);
    expect(first.statusCode).toBe(202);
    const report = await api({ method: 'GET', path: '/quota', arn: BOB });
    const group = report.body.scopes.find((s: { scope: string }) => s.scope === 'group:rates');
    const perCluster = group.usage.vcpus as number;
    expect(perCluster).toBeGreaterThan(2);
    // Scale bob's cluster far beyond the group's vCPUs: refused with the group named.
    const scale = await api({ method: 'PATCH', path: `/clusters/${first.body.cluster.id}`, body: { nWorkers: 12 }, arn: BOB });
    expect(scale.statusCode).toBe(403);
    expect(scale.body.error.quota.exceeded.map((e: { scope: string; dimension: string }) => `${e.scope}.${e.dimension}`)).toEqual(['group:rates.vcpus']);
    expect((await api({ method: 'GET', path: `/clusters/${first.body.cluster.id}`, arn: BOB })).body.cluster.desiredWorkers).toBe(2);
    // Alice is in the same group: her creates fit until the group is full.
    let created = 1;
    for (;;) {
      const r = await create(ALICE);
      if (r.statusCode !== 202) {
        expect(r.statusCode).toBe(403);
        expect(r.body.error.quota.exceeded.find((e: { scope: string }) => e.scope === 'group:rates')).toMatchObject({ dimension: 'vcpus', limit: 8 });
        break;
      }
      created += 1;
    }
    expect(created * perCluster).toBeLessThanOrEqual(8);
    expect((created + 1) * perCluster).toBeGreaterThan(8);
  });

  it('shows the caller its quotas with usage and what is left; only admins read another user', async () => {
    await create(ALICE);
    const mine = await api({ method: 'GET', path: '/quota', arn: ALICE });
    expect(mine.statusCode).toBe(200);
    expect(mine.body.user).toBe('alice');
    expect(mine.body.scopes.map((s: { scope: string }) => s.scope)).toEqual(['user:alice', 'group:rates']);
    const user = mine.body.scopes[0];
    expect(user.limits).toEqual({ clusters: 2, vcpus: 100, gpus: 0, costPerHour: 10 });
    expect(user.usage.clusters).toBe(1);
    expect(user.available.clusters).toBe(1);
    expect(mine.body.scopes[1].limits).toEqual({ clusters: null, vcpus: 8, gpus: null, costPerHour: null });

    const forbidden = await api({ method: 'GET', path: '/quota?user=alice', arn: BOB });
    expect(forbidden.statusCode).toBe(403);
    const admin = await api({ method: 'GET', path: '/quota?user=alice', arn: ADMIN });
    expect(admin.statusCode).toBe(200);
    expect(admin.body.scopes[0].usage.clusters).toBe(1);
    const bad = await api({ method: 'GET', path: '/quota?user=%2F..&x=1', arn: ADMIN });
    expect(bad.statusCode).toBe(400);
    expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['user', 'x']);
  });
});

describe('Quota configuration (RECC_QUOTAS)', () => {
  it('names every problem at once', () => {
    const raw = JSON.stringify({
      defaults: { user: { maxClusters: -1, maxVcpu: 3 } },
      users: { 'bad name': { maxGpus: 1.5 }, constructor: { maxClusters: 'x' } },
      groups: { g: { maxVcpus: 1 } },
      extra: true,
    });
    let err: unknown;
    try {
      quotaPolicyFromEnv({ RECC_QUOTAS: raw });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).details.map((d) => d.path).sort()).toEqual([
      'RECC_QUOTAS.defaults.user.maxClusters',
      'RECC_QUOTAS.defaults.user.maxVcpu',
      'RECC_QUOTAS.extra',
      'RECC_QUOTAS.groups.g.members',
      'RECC_QUOTAS.users.bad name',
      'RECC_QUOTAS.users.bad name.maxGpus',
      'RECC_QUOTAS.users.constructor.maxClusters',
    ]);
    expect(() => quotaPolicyFromEnv({ RECC_QUOTAS: '[1]' })).toThrow(ConfigError);
    expect(() => quotaPolicyFromEnv({ RECC_QUOTAS: '{' })).toThrow(ConfigError);
  });

  it('treats names such as __proto__ and constructor as plain user and group names', () => {
    const policy = quotaPolicyFromEnv({ RECC_QUOTAS: '{"users":{"__proto__":{"maxClusters":1},"constructor":{"maxClusters":2}},"groups":{"__proto__":{"members":["constructor"],"maxGpus":3}}}' });
    expect(policy.limitsOf('user:__proto__').clusters).toBe(1);
    expect(policy.limitsOf('user:constructor').clusters).toBe(2);
    expect(policy.scopesFor('constructor')).toEqual(['user:constructor', 'group:__proto__']);
    expect(policy.limitsOf('group:__proto__').gpus).toBe(3);
    expect(policy.limitsOf('user:toString').clusters).toBe(20);
  });

  it('layers user overrides over configured defaults over the built-in ones; null is unlimited', () => {
    const policy = QuotaPolicy.from({ defaults: { user: { maxVcpus: 64 }, group: { maxClusters: 9 } }, users: { ann: { maxGpus: null, maxCostPerHour: 12.5 } }, groups: { g: { members: ['ann'] } } });
    expect(policy.limitsOf('user:ann')).toEqual({ clusters: 20, vcpus: 64_000, costPerHour: 12_500_000 });
    expect(policy.limitsOf('user:zed')).toEqual({ clusters: 20, vcpus: 64_000, gpus: 64, costPerHour: 200_000_000 });
    expect(policy.limitsOf('group:g')).toEqual({ clusters: 9 });
    expect(policy.limitsOf('group:unknown')).toEqual({});
    expect(quotaPolicyFromEnv({}).limitsOf('user:x')).toEqual(QuotaPolicy.defaults().limitsOf('user:x'));
  });
});
