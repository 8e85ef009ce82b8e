import { randomBytes } from 'node:crypto';
import { DeleteCommand, QueryCommand } from '@aws-sdk/lib-dynamodb';
import { beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '../../../adapters/store/dynamodb.ts';
import { DynamoDbSubmissionStore, submissionLogPartition } from '../../../scheduler/sqs-bridge/dynamodb-store.ts';
import { submissionStoreConformance, submitRecord } from '../../conformance/submission-store.ts';
import { startDynalite, startDynamoDbLocal, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';
import { useDynamoDb, type DynamoDbSuite } from '../../support/dynamodb-suite.ts';

/**
 * The SQS bridge's submission record in the cluster table: the
 * SubmissionStore conformance suite on dynalite and on DynamoDB Local, and
 * what only this adapter has (a second writer refused, a torn record, TTL).
 */
function suite(name: string, start: () => Promise<DynamoDbEmulator>): void {
  describe(name, () => {
    const dynamo: DynamoDbSuite<DynamoDbEmulator> = useDynamoDb(start);
    const tableName = uniqueTableName('recc-sqslog');
    beforeAll(async () => {
      await createTable(dynamo.client, tableName);
    }, 60_000);
    const make = (partition: string, now?: () => number) => new DynamoDbSubmissionStore({ client: dynamo.client, tableName, partition, ...(now ? { now } : {}) });

    submissionStoreConformance(name, async () => {
      const partition = submissionLogPartition(`ns-${randomBytes(4).toString('hex')}`);
      return { store: make(partition), reopen: () => make(partition), cleanup: async () => undefined };
    });

    it('refuses a second scheduler writing the same record, naming the likely cause', async () => {
      const partition = submissionLogPartition(`ns-${randomBytes(4).toString('hex')}`);
      const first = make(partition);
      const second = make(partition);
      await first.load();
      await second.load();
      await first.append([submitRecord('e1', ['a'])]);
      // Both believe record 0 is theirs to write: the conditional put refuses the second
      await expect(second.append([submitRecord('e2', ['b'])])).rejects.toThrow(/second scheduler/);
      await first.compact([submitRecord('e1', ['a'])]);
      await expect(second.compact([])).rejects.toThrow(/second scheduler/);
      const again = make(partition);
      expect((await again.load()).map((r) => ('id' in r ? r.id : r.t))).toEqual(['e1']);
    });

    it('ignores a record whose part 0 was never written (a crash mid-record), and keeps the next one', async () => {
      const partition = submissionLogPartition(`ns-${randomBytes(4).toString('hex')}`);
      const store = make(partition);
      await store.load();
      const big = submitRecord('big', Array.from({ length: 120 }, (_, i) => `k${i}`), 4096);
      await store.append([submitRecord('e0', ['x']), big, submitRecord('e2', ['y'])]);
      // Prepare: delete part 0 of the big record, as if the crash came before it
      const items = await dynamo.client.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': partition } }));
      const parts = (items.Items ?? []).map((i) => i.sk as string).filter((sk) => sk.includes('#000000000001#'));
      expect(parts.length).toBeGreaterThan(1);
      await dynamo.client.send(new DeleteCommand({ TableName: tableName, Key: { pk: partition, sk: parts.find((sk) => sk.endsWith('#0000')) } }));
      expect((await make(partition).load()).map((r) => ('id' in r ? r.id : r.t))).toEqual(['e0', 'e2']);
    });

    it('gives every item a TTL, and treats expired items as gone (emulators never delete them)', async () => {
      const partition = submissionLogPartition(`ns-${randomBytes(4).toString('hex')}`);
      let now = Date.UTC(2026, 11, 5);
      const store = make(partition, () => now);
      await store.load();
      await store.append([submitRecord('e1', ['a'])]);
      const items = await dynamo.client.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': partition } }));
      expect((items.Items ?? []).every((i) => typeof i.ttl === 'number' && i.ttl > now / 1000)).toBe(true);
      now += 15 * 86_400_000;
      expect(await make(partition, () => now).load()).toEqual([]);
    });
  });
}

suite('dynalite', () => startDynalite());
suite('DynamoDB Local', () => startDynamoDbLocal());
