import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PutCommand, QueryCommand, ScanCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import {
  DynamoDbClusterStore,
  createDynamoDbClusterStore,
  createTable,
  deleteTable,
  tableDefinition,
} from '../../../adapters/store/dynamodb.ts';
import { dynamoDbStoreConfigFromEnv } from '../../../adapters/store/config.ts';
import { ClusterStoreError } from '../../../adapters/store/errors.ts';
import { BackendUnavailableError, VersionConflictError } from '../../../shared/ports/errors.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import { freePort } from '../../support/ports.ts';
import { sampleCluster, t } from '../../support/cluster-records.ts';
import {
  startDynalite,
  startDynamoDbLocal,
  uniqueTableName,
  type DynamoDbEmulator,
} from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * What the conformance suite cannot see: the item layout (the documented
 * single-table design), the sequential mode's recovery from a crashed
 * creator, ALL_OLD on conflicts, error mapping and config.
 */

describe('Function: tableDefinition', () => {
  it('describes the on-demand table with pk/sk and the three GSIs the README documents', () => {
    // Act
    const def = tableDefinition('recc-clusters-dev');

    // Assess
    expect(def).toEqual({
      TableName: 'recc-clusters-dev',
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'lastActivityAt'].map((n) => ({
        AttributeName: n,
        AttributeType: 'S',
      })),
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      GlobalSecondaryIndexes: [
        ['byOwner', 'gsi1pk', 'gsi1sk'],
        ['byStatus', 'gsi2pk', 'gsi2sk'],
        ['byActivity', 'gsi3pk', 'lastActivityAt'],
      ].map(([IndexName, h, r]) => ({
        IndexName,
        KeySchema: [
          { AttributeName: h, KeyType: 'HASH' },
          { AttributeName: r, KeyType: 'RANGE' },
        ],
        Projection: { ProjectionType: 'ALL' },
      })),
    });
  });

  it.each(['ab', '', 'has space', 'x'.repeat(256)])('throws ConfigError for the table name %j', (name) => {
    expect(() => tableDefinition(name)).toThrow(ConfigError);
  });
});

describe('Function: dynamoDbStoreConfigFromEnv', () => {
  it('reads table, region, endpoint and the transaction mode', () => {
    expect(
      dynamoDbStoreConfigFromEnv({
        TABLE_NAME: ' recc-clusters ',
        AWS_REGION: 'eu-west-1',
        DYNAMODB_ENDPOINT: 'http://127.0.0.1:4567',
        DYNAMODB_TRANSACTIONS: 'false',
      }),
    ).toEqual({ tableName: 'recc-clusters', region: 'eu-west-1', endpoint: 'http://127.0.0.1:4567', transactions: false });
  });

  it('defaults to us-east-1, AWS endpoints and transactions', () => {
    expect(dynamoDbStoreConfigFromEnv({ TABLE_NAME: 'recc-clusters' })).toEqual({
      tableName: 'recc-clusters',
      region: 'us-east-1',
      transactions: true,
    });
  });

  it('fails fast with ConfigError naming TABLE_NAME when it is missing or invalid', () => {
    expect(() => dynamoDbStoreConfigFromEnv({})).toThrow('TABLE_NAME');
    expect(() => dynamoDbStoreConfigFromEnv({ TABLE_NAME: 'no' })).toThrow(ConfigError);
  });
});

/** Record every command name the store sends, so tests can tell ALL_OLD from a re-read. */
function recording(client: DynamoDBDocumentClient): { client: DynamoDBDocumentClient; sent: string[] } {
  const sent: string[] = [];
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop === 'send') {
        return (command: { constructor: { name: string } }, ...rest: unknown[]) => {
          sent.push(command.constructor.name);
          return (target.send as (...a: unknown[]) => unknown).call(target, command, ...rest);
        };
      }
      return Reflect.get(target, prop, receiver);
    },
  });
  return { client: proxy, sent };
}

/**
 * A client that sends the first PutItem of a cluster record twice and answers
 * with the second result, as an SDK retry after a lost answer would.
 */
function duplicatingFirstRecordPut(client: DynamoDBDocumentClient): { client: DynamoDBDocumentClient; duplicated: () => boolean } {
  let duplicated = false;
  const proxy = new Proxy(client, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return async (command: { constructor: { name: string }; input: { Item?: { sk?: string } } }) => {
        const send = target.send.bind(target) as (c: unknown) => Promise<unknown>;
        if (!duplicated && command.constructor.name === 'PutCommand' && command.input.Item?.sk === 'CLUSTER') {
          duplicated = true;
          await send(command);
        }
        return send(command);
      };
    },
  });
  return { client: proxy, duplicated: () => duplicated };
}

const backends: Array<{ name: string; start: () => Promise<DynamoDbEmulator>; transactions: boolean; honoursAllOld: boolean }> = [
  { name: 'dynalite', start: () => startDynalite(), transactions: false, honoursAllOld: false },
  { name: 'DynamoDB Local', start: () => startDynamoDbLocal(), transactions: true, honoursAllOld: true },
];

describe.each(backends)('Class: DynamoDbClusterStore on $name', ({ start, transactions, honoursAllOld }) => {
  const db = useDynamoDb(start);
  let tableName: string;
  let store: DynamoDbClusterStore;

  beforeEach(async () => {
    tableName = uniqueTableName();
    await createTable(db.client, tableName);
    store = new DynamoDbClusterStore(db.client, { tableName, transactions });
  });

  afterEach(async () => {
    await deleteTable(db.client, tableName);
  });

  async function items(): Promise<Record<string, unknown>[]> {
    const { Items } = await db.client.send(new ScanCommand({ TableName: tableName, ConsistentRead: true }));
    return (Items ?? []).sort((a, b) => `${a.pk}|${a.sk}`.localeCompare(`${b.pk}|${b.sk}`));
  }

  describe('Method: create', () => {
    it('writes the cluster, history and idempotency items with the documented keys', async () => {
      // Prepare
      const { record, change } = sampleCluster({ id: 'c-layout', owner: 'alice', at: t(0), clientToken: 'tok-1' });

      // Act
      await store.create(record, change);

      // Assess
      const all = await items();
      expect(all.map((i) => [i.pk, i.sk, i.entity])).toEqual([
        ['CLUSTER#c-layout', 'CLUSTER', 'cluster'],
        ['CLUSTER#c-layout', 'HISTORY#0000000001', 'history'],
        ['TOKEN#alice#tok-1', 'TOKEN', 'token'],
      ]);
      expect(all[0]).toMatchObject({
        gsi1pk: 'OWNER#alice',
        gsi1sk: `${t(0)}#c-layout`,
        gsi2pk: 'STATUS#REQUESTED',
        gsi2sk: `${t(0)}#c-layout`,
        gsi3pk: 'LIVE',
        lastActivityAt: t(0),
        version: 1,
      });
      expect(all[2]).toMatchObject({ clusterId: 'c-layout', owner: 'alice', clientToken: 'tok-1' });
    });
  });

  describe('Method: put', () => {
    it('drops the record out of the sparse live index and moves its status key when it ends', async () => {
      // Prepare
      const { record, change } = sampleCluster({ id: 'c-sparse', owner: 'alice', at: t(0) });
      await store.create(record, change);
      const failed = transition(record, 'FAILED', { actor: 'provisioner', at: t(1), reason: 'ImagePullBackOff' });

      // Act
      await store.put(failed.next, 1, failed.change);

      // Assess
      const cluster = (await items()).find((i) => i.sk === 'CLUSTER');
      expect(cluster?.gsi3pk).toBeUndefined();
      expect(cluster?.gsi2pk).toBe('STATUS#FAILED');
      const live = await db.client.send(
        new QueryCommand({
          TableName: tableName,
          IndexName: 'byActivity',
          KeyConditionExpression: 'gsi3pk = :p',
          ExpressionAttributeValues: { ':p': 'LIVE' },
        }),
      );
      expect(live.Items).toEqual([]);
    });

    it(`answers a stale put with the current record ${honoursAllOld ? 'from ALL_OLD, without a re-read' : 'by a consistent re-read'}`, async () => {
      // Prepare
      const { record, change } = sampleCluster({ id: 'c-allold', owner: 'alice', at: t(0) });
      await store.create(record, change);
      const won = transition(record, 'PROVISIONING', { actor: 'provisioner', at: t(1) });
      await store.put(won.next, 1, won.change);
      const rec = recording(db.client);
      const watched = new DynamoDbClusterStore(rec.client, { tableName, transactions });
      const lost = transition(record, 'DELETING', { actor: 'alice', at: t(2) });

      // Act
      const err = await watched.put(lost.next, 1, lost.change).catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(VersionConflictError);
      expect((err as VersionConflictError).current).toStrictEqual(won.next);
      expect(rec.sent.includes('GetCommand')).toBe(!honoursAllOld);
    });
  });

  describe('Method: put (lost answers)', () => {
    it('succeeds when the SDK retried a put that had already landed', async () => {
      // Prepare: a client that sends the record's PutItem twice, as an SDK retry after a lost answer would
      const { record, change } = sampleCluster({ id: 'c-retry2', owner: 'alice', at: t(0) });
      await store.create(record, change);
      const flaky = duplicatingFirstRecordPut(db.client);
      const retrying = new DynamoDbClusterStore(flaky.client, { tableName, transactions: false });
      const { next, change: toProvisioning } = transition(record, 'PROVISIONING', { actor: 'provisioner', at: t(1) });

      // Act
      const stored = await retrying.put(next, 1, toProvisioning);

      // Assess
      expect(flaky.duplicated()).toBe(true);
      expect(stored).toStrictEqual(next);
      expect(await store.history('c-retry2')).toStrictEqual([change, toProvisioning]);
    });

    it('creates (sequential mode) when the SDK retried a record put that had already landed', async () => {
      // Prepare
      const flaky = duplicatingFirstRecordPut(db.client);
      const retrying = new DynamoDbClusterStore(flaky.client, { tableName, transactions: false });
      const { record, change } = sampleCluster({ id: 'c-retry3', owner: 'alice', at: t(0), clientToken: 'tok-r3' });

      // Act
      const result = await retrying.create(record, change);

      // Assess
      expect(flaky.duplicated()).toBe(true);
      expect(result).toEqual({ record, created: true });
      expect(await store.history('c-retry3')).toStrictEqual([change]);
      const again = sampleCluster({ id: 'c-retry4', owner: 'alice', at: t(1), clientToken: 'tok-r3' });
      expect(await store.create(again.record, again.change)).toEqual({ record, created: false });
    });
  });

  if (!transactions) {
    describe('Method: create (sequential mode recovery)', () => {
      it('takes over a clientToken whose creator crashed before writing its record', async () => {
        // Prepare: a token item that points at a record that never appeared
        await db.client.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: 'TOKEN#alice#tok-x', sk: 'TOKEN', entity: 'token', owner: 'alice', clientToken: 'tok-x', clusterId: 'c-crashed' },
          }),
        );
        const patient = new DynamoDbClusterStore(db.client, { tableName, transactions, idempotencyWaitMs: 200 });
        const { record, change } = sampleCluster({ id: 'c-rescue', owner: 'alice', at: t(0), clientToken: 'tok-x' });

        // Act
        const result = await patient.create(record, change);

        // Assess
        expect(result).toEqual({ record, created: true });
        const token = (await items()).find((i) => i.pk === 'TOKEN#alice#tok-x');
        expect(token?.clusterId).toBe('c-rescue');
        const again = await patient.create(sampleCluster({ id: 'c-later', owner: 'alice', at: t(1), clientToken: 'tok-x' }).record, {
          ...change,
          clusterId: 'c-later',
        });
        expect(again).toEqual({ record, created: false });
      });

      it('waits for a slow creator’s record instead of creating a second cluster', async () => {
        // Prepare: the slow creator has claimed the token but not yet written its record
        await db.client.send(
          new PutCommand({
            TableName: tableName,
            Item: { pk: 'TOKEN#bob#tok-slow', sk: 'TOKEN', entity: 'token', owner: 'bob', clientToken: 'tok-slow', clusterId: 'c-slow01' },
          }),
        );
        const slow = sampleCluster({ id: 'c-slow01', owner: 'bob', at: t(0) });
        const retry = sampleCluster({ id: 'c-retry1', owner: 'bob', at: t(1), clientToken: 'tok-slow' });

        // Act
        const waiting = store.create(retry.record, retry.change);
        await store.create(slow.record, slow.change);
        const result = await waiting;

        // Assess
        expect(result).toEqual({ record: slow.record, created: false });
        expect(await store.get('c-retry1')).toBeUndefined();
      });
    });
  }

  describe('Function: createTable / deleteTable', () => {
    it('accepts an existing table with ifMissing, refuses it without, and deletes idempotently', async () => {
      // Act
      await createTable(db.client, tableName, { ifMissing: true });
      const again = await createTable(db.client, tableName).catch((e: unknown) => e);
      const otherName = uniqueTableName('recc-gone');
      await deleteTable(db.client, otherName);

      // Assess
      expect(again).toBeInstanceOf(ClusterStoreError);
      const { record, change } = sampleCluster({ id: 'c-after1', owner: 'alice', at: t(0) });
      expect((await store.create(record, change)).created).toBe(true);
    });
  });

  describe('Errors', () => {
    it('throws ClusterStoreError (500) when the table does not exist', async () => {
      const missing = new DynamoDbClusterStore(db.client, { tableName: uniqueTableName('recc-missing'), transactions });
      const err = await missing.get('c-1').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterStoreError);
      expect((err as ClusterStoreError).statusCode).toBe(500);
    });
  });
});

describe('Function: createDynamoDbClusterStore', () => {
  it('throws BackendUnavailableError (503) when nothing listens at the endpoint', async () => {
    // Prepare
    const port = await freePort();
    const store = createDynamoDbClusterStore({
      tableName: 'recc-clusters',
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${port}`,
      credentials: { accessKeyId: 'x', secretAccessKey: 'y' },
      transactions: true,
    });

    // Act
    const err = await store.get('c-1').catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(BackendUnavailableError);
    expect((err as BackendUnavailableError).statusCode).toBe(503);
  });
});
