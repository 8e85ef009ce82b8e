import { describe, expect, it } from 'vitest';
import { PutCommand } from '@aws-sdk/lib-dynamodb';
import { ClusterStoreError } from '../../../adapters/store/errors.ts';
import { KEYS } from '../../../adapters/store/dynamodb.ts';
import { initialChange } from '../../../shared/lifecycle/machine.ts';
import { sampleCluster, t } from '../../support/cluster-records.ts';
import { startDynalite, startDynamoDbLocal } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * Items read back are checked (zod) instead of cast, and user map keys that
 * shadow Object.prototype members survive the marshaller both ways, on both
 * writers (sequential on dynalite, transactional on DynamoDB Local).
 */
describe.each([
  { name: 'dynalite', start: () => startDynalite(), transactions: false },
  { name: 'DynamoDB Local', start: () => startDynamoDbLocal(), transactions: true },
])('DynamoDbClusterStore items on $name', ({ start, transactions }) => {
  const dynamo = useDynamoDb(start);

  it('answers ClusterStoreError naming the item and every bad path when a stored item is malformed', async () => {
    // Prepare: a record as some other writer (or a corrupt restore) left it.
    const { store, tableName, cleanup } = await freshDynamoDbStore(dynamo.client, { transactions });
    try {
      const { record } = sampleCluster({ id: 'c-bad', owner: 'alice', at: t(0) });
      const item = { ...record, pk: KEYS.clusterPk('c-bad'), sk: KEYS.clusterSk, spec: { ...record.spec, nWorkers: 'three' }, status: 'EXPLODED' };
      await dynamo.client.send(new PutCommand({ TableName: tableName, Item: item }));

      // Act
      const err = await store.get('c-bad').catch((e: unknown) => e);

      // Assess
      expect(err).toBeInstanceOf(ClusterStoreError);
      expect((err as Error).message).toContain('CLUSTER#c-bad');
      expect((err as Error).message).toContain('spec.nWorkers');
      expect((err as Error).message).toContain('status');
    } finally {
      await cleanup();
    }
  });

  it('stores and reads back map keys named like Object.prototype members, through create and put', async () => {
    const { store, cleanup } = await freshDynamoDbStore(dynamo.client, { transactions });
    try {
      const { record } = sampleCluster({ id: 'c-keys', owner: 'alice', at: t(0), clientToken: 'k-1' });
      const keys = { constructor: 'a', toString: 'b', valueOf: 'c', hasOwnProperty: 'd', prototype: 'e' };
      record.spec = { ...record.spec, env: { ...keys }, tags: { ...keys }, resources: { constructor: 1, toString: 2 } };
      const created = await store.create(record, initialChange(record, { actor: 'alice' }));
      expect(created.created).toBe(true);

      const read = await store.get('c-keys');
      expect(read?.spec.env).toEqual(keys);
      expect(Object.keys(read?.spec.env ?? {}).sort()).toEqual(Object.keys(keys).sort());
      expect(read?.spec.resources).toEqual({ constructor: 1, toString: 2 });

      // A put (no status change) and the idempotent repeat of the create see the same maps.
      const next = { ...structuredClone(read!), version: 2, updatedAt: t(1), desiredWorkers: 3 };
      await store.put(next, 1);
      expect((await store.get('c-keys'))?.spec.tags).toEqual(keys);
      const again = await store.create(record, initialChange(record, { actor: 'alice' }));
      expect(again.created).toBe(false);
      expect(again.record.spec.env).toEqual(keys);
    } finally {
      await cleanup();
    }
  });
});
