import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { assertHistoryInvariants, assertRecordInvariants, transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import type { ApiDeps } from '../../../functions/commons/api.ts';
import { makeDocumentClient, startDynalite, startDynamoDbLocal, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';
import { TEST_IDENTITY, makeApi, roleArn, userArn, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';

/**
 * The API handlers against the real DynamoDB Local jar (transactions on) and
 * against dynalite (what `recc up` uses; no transactions, so the store's
 * sequential mode): idempotent creates under concurrency, concurrent delete +
 * scale, and visibility between users and admins.
 */
const EMULATORS: { name: string; start: () => Promise<DynamoDbEmulator>; transactions: boolean }[] = [
  { name: 'DynamoDB Local', start: () => startDynamoDbLocal(), transactions: true },
  { name: 'dynalite', start: () => startDynalite(), transactions: false },
];
const ALICE = userArn('alice');
const BOB = roleArn('researcher', 'bob');
const ADMIN = roleArn('recc-admin', 'ops');

describe.each(EMULATORS)('API on $name', ({ start, transactions }) => {
  let ddb: DynamoDbEmulator;
  let tableName: string;
  let store: DynamoDbClusterStore;
  let queue: InMemoryWorkQueue;
  let api: (call: ApiCall) => Promise<ApiReply>;

  beforeAll(async () => {
    ddb = await start();
    tableName = uniqueTableName('recc-api');
    const doc = makeDocumentClient(ddb.endpoint);
    await createTable(doc, tableName);
    store = new DynamoDbClusterStore(doc, { tableName, transactions });
    queue = new InMemoryWorkQueue();
    const deps: ApiDeps = { store, queue, clock: systemClock, ids: randomIds, identity: TEST_IDENTITY, logger: silentLogger };
    api = await makeApi(deps);
  });

  afterAll(async () => {
    if (ddb) {
      await deleteTable(makeDocumentClient(ddb.endpoint), tableName).catch(() => {});
      await ddb.stop();
    }
  });

  async function advance(id: string, to: ClusterRecord['status'], patch: Partial<ClusterRecord> = {}): Promise<void> {
    const cur = (await store.get(id))!;
    const { next, change } = transition(cur, to, { actor: 'provisioner', at: new Date().toISOString(), patch });
    await store.put(next, cur.version, change);
  }

  async function runningCluster(arn: string, token: string): Promise<string> {
    const reply = await api({ method: 'POST', path: '/clusters', body: { template: 'small', nWorkers: 2 }, arn });
    expect(reply.statusCode).toBe(202);
    const id = reply.body.cluster.id as string;
    // The creator's full principal ARN is stored (issue 18).
    expect((await store.get(id))?.principalArn).toBe(arn);
    await advance(id, 'PROVISIONING');
    await advance(id, 'RUNNING', { connection: { schedulerAddress: 'tls://10.0.0.9:8786', token } });
    return id;
  }

  it('creates exactly one cluster from 50 concurrent POST /clusters with one clientToken', async () => {
    // Prepare
    const owner = userArn('carol');
    const before = queue.messages.length;

    // Act
    const replies = await Promise.all(
      Array.from({ length: 50 }, () => api({ method: 'POST', path: '/clusters', body: { template: 'small', clientToken: 'nightly-2026-11-27' }, arn: owner })),
    );

    // Assess
    expect(replies.map((r) => r.statusCode)).toEqual(Array(50).fill(202));
    const ids = new Set(replies.map((r) => r.body.cluster.id));
    expect(ids.size).toBe(1);
    expect(replies.filter((r) => r.body.created)).toHaveLength(1);
    const stored = await store.listByOwner('carol');
    expect(stored).toHaveLength(1);
    expect(stored[0]?.id).toBe([...ids][0]);
    expect(queue.messages.slice(before).filter((m) => m.cause === 'created')).toEqual([{ clusterId: [...ids][0], cause: 'created' }]);
    assertHistoryInvariants(await store.history(stored[0]!.id), stored[0]);
  });

  it('leaves a valid history when deletes and scales race on one cluster', async () => {
    // Prepare
    const id = await runningCluster(ALICE, 'race-token');

    // Act: 12 scales and 4 deletes at once.
    const calls: ApiCall[] = [
      ...Array.from({ length: 12 }, (_, i) => ({ method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: 3 + i }, arn: ALICE })),
      ...Array.from({ length: 4 }, () => ({ method: 'DELETE', path: `/clusters/${id}`, arn: ALICE })),
    ];
    const replies = await Promise.all(calls.map((c) => api(c)));

    // Assess: every answer is 202 or a 409 naming the field, never a 5xx.
    for (const r of replies) {
      expect([202, 409], JSON.stringify(r.body)).toContain(r.statusCode);
      if (r.statusCode === 409) expect(r.body.error.details.length).toBeGreaterThan(0);
    }
    // A lost race is retried; only a writer that keeps losing gets 409 ClusterBusyError.
    for (const r of replies.filter((x) => x.statusCode === 409)) {
      expect(['ClusterBusyError', 'ClusterNotScalableError']).toContain(r.body.error.type);
    }
    expect(replies.slice(12).some((r) => r.statusCode === 202)).toBe(true);
    const final = (await store.get(id))!;
    expect(final.status).toBe('DELETING');
    assertRecordInvariants(final);
    const history = await store.history(id);
    assertHistoryInvariants(history, final);
    expect(history.map((h) => h.to)).toEqual(['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING']);
    // Each accepted scale wrote its own version: no two writes share one.
    const scaleVersions = replies.slice(0, 12).filter((r) => r.statusCode === 202).map((r) => r.body.cluster.version as number);
    expect(new Set(scaleVersions).size).toBe(scaleVersions.length);
    const versions = [...scaleVersions, ...history.map((h) => h.version)].sort((a, b) => a - b);
    expect(new Set(versions).size).toBe(versions.length);
    expect(final.version).toBe(Math.max(...versions));
  });

  it('gives user B a 404 on every route for user A\'s cluster and lets an admin see both', async () => {
    // Prepare
    const a = await runningCluster(ALICE, 'alice-secret');
    const b = await runningCluster(BOB, 'bob-secret');

    // Act + Assess: B on A's cluster.
    const routes: ApiCall[] = [
      { method: 'GET', path: `/clusters/${a}`, arn: BOB },
      { method: 'PATCH', path: `/clusters/${a}`, body: { nWorkers: 9 }, arn: BOB },
      { method: 'POST', path: `/clusters/${a}/heartbeat`, arn: BOB },
      { method: 'DELETE', path: `/clusters/${a}`, arn: BOB },
    ];
    for (const call of routes) {
      const reply = await api(call);
      expect(reply.statusCode, `${call.method} ${call.path}`).toBe(404);
      expect(reply.body.error).toEqual({ type: 'ClusterNotFoundError', message: `cluster ${a} not found`, details: [{ path: 'id', message: 'no such cluster' }] });
    }
    const bList = await api({ method: 'GET', path: '/clusters', arn: BOB });
    expect(bList.body.clusters.map((c: { id: string }) => c.id)).toEqual([b]);
    const untouched = (await store.get(a))!;
    expect(untouched).toMatchObject({ status: 'RUNNING', desiredWorkers: 2 });

    // The admin sees both (without tokens) and may act on either.
    const all = await api({ method: 'GET', path: '/clusters?all=true', arn: ADMIN });
    const seen = all.body.clusters.map((c: { id: string }) => c.id);
    expect(seen).toEqual(expect.arrayContaining([a, b]));
    expect(JSON.stringify(all.body)).not.toMatch(/alice-secret|bob-secret/);
    const adminGet = await api({ method: 'GET', path: `/clusters/${b}`, arn: ADMIN });
    expect(adminGet.statusCode).toBe(200);
    expect(adminGet.body.cluster.connection).toEqual({ schedulerAddress: 'tls://10.0.0.9:8786' });
    const adminDelete = await api({ method: 'DELETE', path: `/clusters/${a}`, arn: ADMIN });
    expect(adminDelete.statusCode).toBe(202);
    expect(adminDelete.body.cluster.status).toBe('DELETING');
  });
});
