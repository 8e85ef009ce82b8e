import {
  CreateTableCommand,
  DeleteTableCommand,
  DescribeTableCommand,
  ResourceInUseException,
  ResourceNotFoundException,
  type CreateTableCommandInput,
  type DynamoDBClient,
} from '@aws-sdk/client-dynamodb';
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConfigError } from '../../shared/core/errors.ts';
import { sleep } from '../../shared/core/retry.ts';
import { ClusterStoreError } from './errors.ts';

/**
 * The single-table design of the cluster store. One table, three item kinds:
 *
 * | item        | pk                              | sk                   | GSI keys                                        |
 * |-------------|---------------------------------|----------------------|-------------------------------------------------|
 * | cluster     | `CLUSTER#<id>`                  | `CLUSTER`            | gsi1 (owner), gsi2 (status), gsi3 (live, sparse)|
 * | history     | `CLUSTER#<id>`                  | `HISTORY#<version⁰¹⁰>`| none                                           |
 * | idempotency | `TOKEN#<urlenc(owner)>#<token>` | `TOKEN`              | none                                            |
 *
 * Indexes (all projection ALL, so a query never needs a second read):
 * - `byOwner`:    gsi1pk = `OWNER#<owner>`,   gsi1sk = `<createdAt>#<id>`  (newest first: ScanIndexForward false)
 * - `byStatus`:   gsi2pk = `STATUS#<status>`, gsi2sk = `<createdAt>#<id>`  (admin listing, optionally by status)
 * - `byActivity`: gsi3pk = `LIVE` only while the status is live, sort key = the record's own `lastActivityAt`
 *                 (sparse; `touch` moves it without rewriting the record, terminal records drop out)
 *
 * Keys, ids and times are strings; times are `Date.toISOString()` so they
 * sort as text. serverless.yml mirrors `tableDefinition()` (plus PITR).
 */
export const KEYS = {
  pk: 'pk',
  sk: 'sk',
  clusterPk: (id: string): string => `CLUSTER#${id}`,
  clusterSk: 'CLUSTER',
  historySk: (version: number): string => `HISTORY#${String(version).padStart(10, '0')}`,
  historyPrefix: 'HISTORY#',
  tokenPk: (owner: string, clientToken: string): string => `TOKEN#${encodeURIComponent(owner)}#${clientToken}`,
  tokenSk: 'TOKEN',
  ownerPk: (owner: string): string => `OWNER#${owner}`,
  statusPk: (status: string): string => `STATUS#${status}`,
  createdSk: (createdAt: string, id: string): string => `${createdAt}#${id}`,
  livePk: 'LIVE',
} as const;

export const INDEXES = {
  byOwner: { name: 'byOwner', pk: 'gsi1pk', sk: 'gsi1sk' },
  byStatus: { name: 'byStatus', pk: 'gsi2pk', sk: 'gsi2sk' },
  byActivity: { name: 'byActivity', pk: 'gsi3pk', sk: 'lastActivityAt' },
} as const;

/** Attributes that exist on items only for keys and indexes (never part of a ClusterRecord). */
export const KEY_ATTRIBUTES = ['pk', 'sk', 'entity', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk'] as const;

/** Throws ConfigError unless `name` is a valid DynamoDB table name (3–255 of `[A-Za-z0-9_.-]`). */
export function checkTableName(name: string): void {
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(name)) {
    throw new ConfigError(`invalid DynamoDB table name ${JSON.stringify(name)}`, [
      { path: 'tableName', message: 'must be 3–255 characters of letters, digits, _ . -' },
    ]);
  }
}

/** The table as data (CreateTable input, on-demand billing), for `createTable` and serverless.yml. */
export function tableDefinition(tableName: string): CreateTableCommandInput {
  checkTableName(tableName);
  const index = (i: { name: string; pk: string; sk: string }) => ({
    IndexName: i.name,
    KeySchema: [
      { AttributeName: i.pk, KeyType: 'HASH' as const },
      { AttributeName: i.sk, KeyType: 'RANGE' as const },
    ],
    Projection: { ProjectionType: 'ALL' as const },
  });
  return {
    TableName: tableName,
    BillingMode: 'PAY_PER_REQUEST',
    AttributeDefinitions: ['pk', 'sk', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'lastActivityAt'].map((name) => ({
      AttributeName: name,
      AttributeType: 'S' as const,
    })),
    KeySchema: [
      { AttributeName: 'pk', KeyType: 'HASH' },
      { AttributeName: 'sk', KeyType: 'RANGE' },
    ],
    GlobalSecondaryIndexes: [index(INDEXES.byOwner), index(INDEXES.byStatus), index(INDEXES.byActivity)],
  };
}

type AnyDynamoClient = DynamoDBClient | DynamoDBDocumentClient;

async function describe(client: AnyDynamoClient, tableName: string) {
  return (client as DynamoDBClient).send(new DescribeTableCommand({ TableName: tableName }));
}

/**
 * Create the table (on-demand, with its GSIs) and wait until it and every
 * index are ACTIVE. With `ifMissing`, an existing table is accepted as is.
 */
export async function createTable(
  client: AnyDynamoClient,
  tableName: string,
  options: { ifMissing?: boolean; timeoutMs?: number } = {},
): Promise<void> {
  try {
    await (client as DynamoDBClient).send(new CreateTableCommand(tableDefinition(tableName)));
  } catch (err) {
    if (!(options.ifMissing && err instanceof ResourceInUseException)) {
      throw new ClusterStoreError(`could not create table ${tableName}: ${(err as Error).message}`, { cause: err });
    }
  }
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  for (;;) {
    const { Table } = await describe(client, tableName);
    const indexesActive = (Table?.GlobalSecondaryIndexes ?? []).every((i) => i.IndexStatus === 'ACTIVE');
    if (Table?.TableStatus === 'ACTIVE' && indexesActive) return;
    if (Date.now() > deadline) throw new ClusterStoreError(`table ${tableName} did not become ACTIVE in time`);
    await sleep(200);
  }
}

/** Delete the table; a missing table is success. */
export async function deleteTable(client: AnyDynamoClient, tableName: string): Promise<void> {
  try {
    await (client as DynamoDBClient).send(new DeleteTableCommand({ TableName: tableName }));
  } catch (err) {
    if (err instanceof ResourceNotFoundException) return;
    throw new ClusterStoreError(`could not delete table ${tableName}: ${(err as Error).message}`, { cause: err });
  }
}
