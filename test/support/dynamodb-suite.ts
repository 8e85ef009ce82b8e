import { afterAll, beforeAll } from 'vitest';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../adapters/store/dynamodb.ts';
import { makeDocumentClient, uniqueTableName, type DynamoDbEmulator } from './dynamodb.ts';

/** What `useDynamoDb` hands the suite; read it inside hooks and tests (it is set in `beforeAll`). */
export interface DynamoDbSuite<E extends DynamoDbEmulator> {
  readonly emulator: E;
  readonly client: DynamoDBDocumentClient;
}

/**
 * Start a DynamoDB emulator (`startDynalite`, `startDynamoDbLocal`) before
 * the enclosing suite with a document client on it, and destroy both after.
 */
export function useDynamoDb<E extends DynamoDbEmulator>(start: () => Promise<E>): DynamoDbSuite<E> {
  let emulator: E | undefined;
  let client: DynamoDBDocumentClient | undefined;
  beforeAll(async () => {
    emulator = await start();
    client = makeDocumentClient(emulator.endpoint);
  });
  afterAll(async () => {
    client?.destroy();
    await emulator?.stop();
  });
  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`useDynamoDb: the ${what} is only there once beforeAll has run`);
    return value;
  };
  return {
    get emulator() {
      return ready(emulator, 'emulator');
    },
    get client() {
      return ready(client, 'client');
    },
  };
}

/** A fresh table and a `DynamoDbClusterStore` on it, for the ClusterStore conformance suite. */
export async function freshDynamoDbStore(
  client: DynamoDBDocumentClient,
  options: { transactions: boolean; prefix?: string },
): Promise<{ store: DynamoDbClusterStore; tableName: string; cleanup: () => Promise<void> }> {
  const tableName = uniqueTableName(options.prefix);
  await createTable(client, tableName);
  return {
    store: new DynamoDbClusterStore(client, { tableName, transactions: options.transactions }),
    tableName,
    cleanup: () => deleteTable(client, tableName),
  };
}
