import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetCommand } from '@aws-sdk/lib-dynamodb';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { IDEMPOTENCY_TTL_SECONDS } from '../../../adapters/store/dynamodb-items.ts';
import { KEYS } from '../../../adapters/store/dynamodb-table.ts';
import { sampleCluster, t } from '../../support/cluster-records.ts';
import { startDynalite } from '../../support/dynamodb.ts';
import { freshDynamoDbStore, useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * Issue 17 #11: idempotency items expire. Each carries `ttl` (epoch seconds,
 * createdAt + 7 days) and the packaged table turns DynamoDB TTL on for that
 * attribute (the alert ledger's released markers use the same one).
 */
const dynamo = useDynamoDb(() => startDynalite());

describe('Idempotency items expire (DynamoDB TTL)', () => {
  it('writes ttl = createdAt + 7 days on the idempotency item', async () => {
    const { store, tableName, cleanup } = await freshDynamoDbStore(dynamo.client, { transactions: false });
    try {
      const { record, change } = sampleCluster({ id: 'c-ttl1', owner: 'alice', at: t(0), clientToken: 'tok-ttl' });
      await store.create(record, change);
      const { Item } = await dynamo.client.send(new GetCommand({ TableName: tableName, Key: { pk: KEYS.tokenPk('alice', 'tok-ttl'), sk: KEYS.tokenSk }, ConsistentRead: true }));
      expect(Item?.ttl).toBe(Date.parse(t(0)) / 1000 + IDEMPOTENCY_TTL_SECONDS);
      expect(IDEMPOTENCY_TTL_SECONDS).toBe(604_800);
    } finally {
      await cleanup();
    }
  });

  it('turns TTL on for that attribute in the packaged table', () => {
    // Unknown CloudFormation tags (!GetAtt, !Sub, …) resolve as plain values; only the TTL block matters here.
    const template = parse(readFileSync(join(import.meta.dirname, '../../../serverless.yml'), 'utf8'), { logLevel: 'silent' }) as { resources: { Resources: { ClustersTable: { Properties: Record<string, unknown> } } } };
    const table = template.resources.Resources.ClustersTable.Properties.TimeToLiveSpecification;
    expect(table).toEqual({ AttributeName: 'ttl', Enabled: true });
  });
});
