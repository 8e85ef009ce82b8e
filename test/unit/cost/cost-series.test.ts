import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { queryCosts } from '../../../control/costs.ts';
import { makeHandler } from '../../../functions/cost-series.ts';
import type { ApiEvent } from '../../../functions/commons/api.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { budgetConfigFromEnv } from '../../../shared/cost/config.ts';
import { bucketStarts, costSeries, MAX_SERIES, OTHER_KEY, type CostSeries } from '../../../shared/cost/series.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';
import { TEST_IDENTITY } from '../../support/api-invoke.ts';

/** `GET /costs/series`: the pure builder, and the handler through the shared middleware. */
const NOV = Date.UTC(2026, 10, 1);
const NOV16 = Date.UTC(2026, 10, 16);
const DAY = 86_400_000;
const budgets = budgetConfigFromEnv({ RECC_COST_USER_BUDGETS: 'alice=100', RECC_COST_JOB_BUDGETS: 'etl=50', RECC_COST_NAMESPACE_BUDGET_USD: '300' });

async function deps() {
  const store = new InMemoryClusterStore();
  // alice: $0.18/h from Nov 1 (15 days = $64.80); bob: $0.394/h from Nov 6 (10 days = $94.56).
  await storeRunningSince(store, { id: 'c-a', owner: 'alice', job: 'etl', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
  await storeRunningSince(store, { id: 'c-b', owner: 'bob', job: 'etl', plan: pricedPlan('m5.2xlarge', [4]), workers: 4, since: Date.UTC(2026, 10, 6), idleTimeoutMinutes: 60 * 24 * 60 });
  return { store, queue: new InMemoryWorkQueue(), clock: new ManualClock(NOV16), ids: new SequentialIds(), identity: TEST_IDENTITY, budgets };
}

function event(user: string, role: string, query: Record<string, string>): ApiEvent {
  return {
    version: '2.0',
    routeKey: 'GET /costs/series',
    rawPath: '/costs/series',
    rawQueryString: new URLSearchParams(query).toString(),
    headers: {},
    queryStringParameters: query,
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      http: { method: 'GET', path: '/costs/series', protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: 'GET /costs/series',
      stage: '$default',
      timeEpoch: NOV16,
      authorizer: { iam: { userArn: `arn:aws:sts::123456789012:assumed-role/${role}/${user}` } },
    },
  } as unknown as ApiEvent;
}
const context = { awsRequestId: 'req-1' } as Context;

describe('Cost series (pure)', () => {
  it('aligns buckets to UTC hours and days', () => {
    expect(bucketStarts(NOV + 5_000, NOV + 2 * DAY, 'day')).toEqual([NOV, NOV + DAY]);
    expect(bucketStarts(NOV + 90 * 60_000, NOV + 3 * 3_600_000, 'hour')).toEqual([NOV + 3_600_000, NOV + 7_200_000]);
  });

  it('splits each group per day; the buckets add up to GET /costs, with budgets and forecasts', async () => {
    const d = await deps();
    for (const groupBy of ['user', 'namespace', 'job'] as const) {
      const series = costSeries(await d.store.listAll(), { groupBy, interval: 'day', from: NOV, to: NOV16, now: NOV16, budgets });
      const costs = await queryCosts(d, { user: 'root', admin: true }, { groupBy });
      expect(series.buckets).toHaveLength(15);
      expect(series.series.map((s) => [s.key, s.total])).toEqual(costs.groups.map((g) => [g.key, g.cost]));
      for (const s of series.series) expect(s.cumulative.at(-1)).toBe(s.total);
    }
    const byUser = costSeries(await d.store.listAll(), { groupBy: 'user', interval: 'day', from: NOV, to: NOV16, now: NOV16, budgets });
    const alice = byUser.series.find((s) => s.key === 'alice')!;
    const bob = byUser.series.find((s) => s.key === 'bob')!;
    expect(alice.cost.slice(0, 2)).toEqual([4.32, 4.32]);
    expect(bob.cost.slice(0, 6)).toEqual([0, 0, 0, 0, 0, 9.46]);
    expect([alice.budget, bob.budget]).toEqual([100, 1000]);
    expect(alice.month).toEqual({ month: '2026-11', monthToDate: 64.8, forecast: 129.6, elapsedDays: 15, daysInMonth: 30 });
    const byJob = costSeries(await d.store.listAll(), { groupBy: 'job', interval: 'day', from: NOV, to: NOV16, now: NOV16, budgets });
    expect(byJob.series.map((s) => [s.key, s.budget])).toEqual([['bob/etl', 50], ['alice/etl', 50]]);
    expect(byUser.month.monthToDate).toBe(159.36);
  });

  it('keeps at most MAX_SERIES lines, the rest summed, and odd keys stay keys', async () => {
    const store = new InMemoryClusterStore();
    const owners = ['__proto__', 'constructor', ...Array.from({ length: MAX_SERIES + 3 }, (_, i) => `u${String(i).padStart(2, '0')}`)];
    for (const [i, owner] of owners.entries()) {
      await storeRunningSince(store, { id: `c-${i}`, owner, plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV + i * 3_600_000, idleTimeoutMinutes: 60 * 24 * 60 });
    }
    const s: CostSeries = costSeries(await store.listAll(), { groupBy: 'user', interval: 'hour', from: NOV, to: NOV + DAY, now: NOV + DAY, budgets });
    expect(s.series).toHaveLength(MAX_SERIES);
    expect(s.series.at(-1)!.key).toBe(OTHER_KEY);
    expect(s.series.at(-1)!.budget).toBeUndefined();
    expect(s.series.slice(0, 2).map((l) => l.key)).toEqual(['__proto__', 'constructor']);
    expect(s.series[0]!.budget).toBe(1000);
  });
});

describe('Handler: GET /costs/series', () => {
  it('answers a user with their own series only, an admin with everyone', async () => {
    const handler = makeHandler(await deps());
    const own = await handler(event('alice', 'recc-user', { groupBy: 'user', interval: 'day' }), context);
    expect(own.statusCode).toBe(200);
    const body = JSON.parse(own.body ?? '{}') as { series: CostSeries & { scope: string } };
    expect(body.series.scope).toBe('own');
    expect(body.series.series.map((s) => [s.key, s.total, s.budget])).toEqual([['alice', 64.8, 100]]);
    const all = JSON.parse((await handler(event('root', 'recc-admin', { groupBy: 'namespace', interval: 'hour', from: '2026-11-15' }), context)).body ?? '{}') as { series: CostSeries & { scope: string } };
    expect(all.series.scope).toBe('all');
    expect(all.series.buckets).toHaveLength(24);
    expect(all.series.series[0]!.budget).toBe(300);
  });

  it('answers 400 naming every bad parameter, and refuses too many buckets', async () => {
    const handler = makeHandler(await deps());
    const bad = await handler(event('alice', 'recc-user', { interval: 'week', groupBy: 'team', colour: 'red' }), context);
    expect(bad.statusCode).toBe(400);
    expect((JSON.parse(bad.body ?? '{}') as { error: { details: { path: string }[] } }).error.details.map((d) => d.path).sort()).toEqual(['colour', 'groupBy', 'interval']);
    const long = await handler(event('alice', 'recc-user', { interval: 'hour', from: '2026-01-01' }), context);
    expect(long.statusCode).toBe(400);
    expect((JSON.parse(long.body ?? '{}') as { error: { details: { path: string; message: string }[] } }).error.details[0]!.message).toMatch(/at most 744 per query/);
  });
});
