import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { clusterStoreConformance } from '../../conformance/cluster-store.ts';
import { makeDocumentClient, startDynalite, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';

let emulator: DynamoDbEmulator;
let client: DynamoDBDocumentClient;

beforeAll(async () => {
  emulator = await startDynalite();
  client = makeDocumentClient(emulator.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

clusterStoreConformance('dynalite, sequential conditional writes', async () => {
  const tableName = uniqueTableName();
  await createTable(client, tableName);
  return {
    store: new DynamoDbClusterStore(client, { tableName, transactions: false }),
    cleanup: () => deleteTable(client, tableName),
  };
});
