import { QuotaPolicy } from '../../../shared/quota/config.ts';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import type { ClusterStore } from '../../../shared/ports/cluster-store.ts';
import { makeDocumentClient, startDynalite, startDynamoDbLocal, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';
import { makeApi, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';

/**
 * Issue 18, defect 3: user-supplied map keys (`env`, `tags`, `resources`)
 * that collide with object internals. `{"env": {"constructor": "y"}}` gave a
 * 500 (the DynamoDB marshaller took the map for a class instance) and
 * `__proto__` was accepted and silently dropped.
 *
 * Every map-valued field of `POST /clusters` and `POST /estimates` is driven
 * through the real API handlers (routes, middleware, use case, store) on the
 * in-memory store, dynalite (sequential writes) and DynamoDB Local
 * (transactions). Properties: no answer is a 5xx; an invalid key is a 400
 * whose details name `<field>.<key>`; a valid key is stored and read back
 * exactly as written.
 */
const MAP_FIELDS = ['env', 'tags', 'resources'] as const;
type MapField = (typeof MAP_FIELDS)[number];

const LONG = 'K'.repeat(10_000);
/** Keys that collide with object internals, or break a naming rule. */
const SPECIAL_KEYS = ['constructor', '__proto__', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '', LONG, 'Ünïcødé', '鍵', '🔑', 'aws:owner'];

/** What each map's naming rule says about each special key (POSIX names, AWS tag rules, resource names). */
function expectedValid(field: MapField, key: string): boolean {
  if (key === '__proto__' || key === '' || key === LONG) return false;
  const prototypeName = ['constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf'].includes(key);
  if (prototypeName) return true;
  if (field === 'tags') return key === 'Ünïcødé' || key === '鍵'; // letters in any script; no emoji; no "aws:"
  return false;
}

const valueFor = (field: MapField, raw?: string): string | number => (field === 'resources' ? 1 : (raw ?? 'y'));

/** JSON with the key written literally, so `__proto__` is an own key as a real client would send it. */
function body(field: MapField, key: string, value: string | number, extra: Record<string, unknown>): string {
  const rest = JSON.stringify(extra).slice(1, -1);
  return `{"template":"small","nWorkers":1,"${field}":{${JSON.stringify(key)}:${JSON.stringify(value)}}${rest ? `,${rest}` : ''}}`;
}

const STORES: { name: string; start?: () => Promise<DynamoDbEmulator>; transactions?: boolean }[] = [
  { name: 'memory' },
  { name: 'dynalite', start: () => startDynalite(), transactions: false },
  { name: 'DynamoDB Local', start: () => startDynamoDbLocal(), transactions: true },
];

describe.each(STORES)('Map keys through the API on $name', ({ start, transactions }) => {
  let emulator: DynamoDbEmulator | undefined;
  let cleanup: (() => Promise<void>) | undefined;
  let api: (call: ApiCall) => Promise<ApiReply>;
  let tokens = 0;
  const tally = { requests: 0, fiveXx: 0, badRequests: 0, created: 0, estimated: 0 };

  beforeAll(async () => {
    let store: ClusterStore = new InMemoryClusterStore();
    if (start !== undefined) {
      emulator = await start();
      const doc = makeDocumentClient(emulator.endpoint);
      const tableName = uniqueTableName('recc-keys');
      await createTable(doc, tableName);
      store = new DynamoDbClusterStore(doc, { tableName, transactions: transactions ?? false });
      cleanup = async () => {
        await deleteTable(doc, tableName);
        doc.destroy();
      };
    }
    // Hundreds of creates by one user: quotas (issue 17) are not what this test is about, so they are off.
    const quotas = QuotaPolicy.from({ defaults: { user: { maxClusters: null, maxVcpus: null, maxGpus: null, maxCostPerHour: null } } });
    api = await makeApi({ store, queue: new InMemoryWorkQueue(), clock: new ManualClock(), ids: new SequentialIds(), logger: silentLogger, quotas });
  }, 120_000);

  afterAll(async () => {
    // Printed so the report can quote the figures of this run.
    console.log(`map-key fuzz: ${JSON.stringify(tally)}`);
    try {
      await cleanup?.();
    } finally {
      await emulator?.stop();
    }
  });

  /** Send one create or estimate and check the three properties; returns the reply. */
  async function check(route: 'create' | 'estimate', field: MapField, key: string, value: string | number): Promise<ApiReply> {
    const extra = route === 'create' ? { clientToken: `t-${(tokens += 1)}` } : {};
    const sent = body(field, key, value, extra);
    const reply = await api({ method: 'POST', path: route === 'create' ? '/clusters' : '/estimates', body: sent });
    tally.requests += 1;
    const what = JSON.stringify({ route, field, key: key.slice(0, 40), keyLength: key.length, value, status: reply.statusCode, reply: reply.body }).slice(0, 600);
    if (reply.statusCode >= 500) tally.fiveXx += 1;
    expect(reply.statusCode, what).toBeLessThan(500);
    if (reply.statusCode === 400) {
      tally.badRequests += 1;
      const paths = (reply.body.error.details as { path: string }[]).map((d) => d.path);
      // The detail names the map and the key (an empty key cannot be named: the map is).
      expect(paths, what).toContain(key === '' ? field : `${field}.${key}`);
      return reply;
    }
    expect([200, 202], what).toContain(reply.statusCode);
    const spec = route === 'create' ? reply.body.cluster.spec : reply.body.spec;
    expect(Object.hasOwn(spec[field], key), what).toBe(true);
    expect(spec[field][key], what).toBe(value);
    if (route === 'create') {
      tally.created += 1;
      // Read back from the store: the key survives marshalling both ways.
      const got = await api({ method: 'GET', path: `/clusters/${reply.body.cluster.id}` });
      expect(got.statusCode, what).toBe(200);
      expect(Object.hasOwn(got.body.cluster.spec[field], key), what).toBe(true);
      expect(got.body.cluster.spec[field][key], what).toBe(value);
    } else {
      tally.estimated += 1;
    }
    return reply;
  }

  it('answers each special key of each map as its naming rule says, on create and on estimate', async () => {
    for (const route of ['create', 'estimate'] as const) {
      for (const field of MAP_FIELDS) {
        for (const key of SPECIAL_KEYS) {
          const reply = await check(route, field, key, valueFor(field));
          expect(reply.statusCode, `${route} ${field}.${key.slice(0, 20)}`).toBe(expectedValid(field, key) ? (route === 'create' ? 202 : 200) : 400);
        }
      }
    }
  }, 120_000);

  it('never answers 5xx for random keys and values, and names the key of every refusal', async () => {
    const key = fc.oneof(
      fc.constantFrom(...SPECIAL_KEYS),
      fc.string({ maxLength: 20 }),
      fc.string({ unit: 'grapheme', maxLength: 12 }),
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,30}$/),
      fc.string({ minLength: 120, maxLength: 300 }),
    );
    const value = fc.oneof(fc.string({ maxLength: 30 }), fc.string({ unit: 'binary', maxLength: 30 }), fc.constant('\u0000'), fc.constant('\ud800'));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('create', 'estimate' as const), fc.constantFrom(...MAP_FIELDS), key, value, async (route, field, k, v) => {
        await check(route as 'create' | 'estimate', field, k, valueFor(field, v));
      }),
      { numRuns: 300 },
    );
  }, 300_000);
});
