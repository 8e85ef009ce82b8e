import type { Context } from 'aws-lambda';
import { describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { makeHandler } from '../../../functions/costs.ts';
import type { ApiEvent } from '../../../functions/commons/api.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';
import { TEST_IDENTITY } from '../../support/api-invoke.ts';

/** `GET /costs` through the real middy handler and the shared middleware, on the in-memory store. */
const NOV = Date.UTC(2026, 10, 1);

function event(user: string, role: string, query: Record<string, string> | undefined): ApiEvent {
  return {
    version: '2.0',
    routeKey: 'GET /costs',
    rawPath: '/costs',
    rawQueryString: new URLSearchParams(query ?? {}).toString(),
    headers: {},
    ...(query ? { queryStringParameters: query } : {}),
    isBase64Encoded: false,
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      domainName: 'example.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'example',
      http: { method: 'GET', path: '/costs', protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: 'req-1',
      routeKey: 'GET /costs',
      stage: '$default',
      time: '16/Nov/2026:00:00:00 +0000',
      timeEpoch: Date.UTC(2026, 10, 16),
      authorizer: { iam: { userArn: `arn:aws:sts::123456789012:assumed-role/${role}/${user}` } },
    },
  } as unknown as ApiEvent;
}

const context = { awsRequestId: 'req-1' } as Context;

async function deps() {
  const store = new InMemoryClusterStore();
  await storeRunningSince(store, { id: 'c-a', owner: 'alice', job: 'etl', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
  await storeRunningSince(store, { id: 'c-b', owner: 'bob', plan: pricedPlan('m5.2xlarge', [4]), workers: 4, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
  return { store, queue: new InMemoryWorkQueue(), clock: new ManualClock(Date.UTC(2026, 10, 16)), ids: new SequentialIds(), identity: TEST_IDENTITY };
}

describe('Handler: GET /costs', () => {
  it('answers a user with their own costs only', async () => {
    const handler = makeHandler(await deps());
    const res = await handler(event('alice', 'recc-user', { groupBy: 'job' }), context);
    expect(res.statusCode).toBe(200);
    const body = JSON.parse(res.body ?? '{}') as { costs: { scope: string; groups: { key: string; cost: number }[]; month: { forecast: number } } };
    expect(body.costs.scope).toBe('own');
    expect(body.costs.groups.map((g) => [g.key, g.cost])).toEqual([['alice/etl', 64.8]]);
    expect(body.costs.month.forecast).toBe(129.6);
  });

  it('answers an admin with everyone', async () => {
    const handler = makeHandler(await deps());
    const res = await handler(event('root', 'recc-admin', undefined), context);
    const body = JSON.parse(res.body ?? '{}') as { costs: { scope: string; groups: { key: string }[] } };
    expect(body.costs.scope).toBe('all');
    expect(body.costs.groups.map((g) => g.key)).toEqual(['bob', 'alice']);
  });

  it('answers 400 naming every bad parameter', async () => {
    const handler = makeHandler(await deps());
    const bad = await handler(event('alice', 'recc-user', { groupBy: 'team', colour: 'red' }), context);
    expect(bad.statusCode).toBe(400);
    const err = JSON.parse(bad.body ?? '{}') as { error: { type: string; details: { path: string }[] } };
    expect(err.error.type).toBe('ValidationError');
    expect(err.error.details.map((d) => d.path).sort()).toEqual(['colour', 'groupBy']);

    const dates = await handler(event('alice', 'recc-user', { from: 'last tuesday', to: '2026-11-01' }), context);
    expect(dates.statusCode).toBe(400);
    expect((JSON.parse(dates.body ?? '{}') as { error: { details: { path: string }[] } }).error.details.map((d) => d.path)).toEqual(['from']);
  });
});
