import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { clusterStoreConformance } from '../../conformance/cluster-store.ts';
import { makeDocumentClient, startDynamoDbLocal, uniqueTableName, type DynamoDbLocal } from '../../support/dynamodb.ts';

let emulator: DynamoDbLocal;
let client: DynamoDBDocumentClient;

beforeAll(async () => {
  emulator = await startDynamoDbLocal();
  client = makeDocumentClient(emulator.endpoint);
});

afterAll(async () => {
  client?.destroy();
  await emulator?.stop();
});

for (const transactions of [true, false]) {
  clusterStoreConformance(`DynamoDB Local, ${transactions ? 'transactions' : 'sequential conditional writes'}`, async () => {
    const tableName = uniqueTableName();
    await createTable(client, tableName);
    return {
      store: new DynamoDbClusterStore(client, { tableName, transactions }),
      cleanup: () => deleteTable(client, tableName),
    };
  });
}
