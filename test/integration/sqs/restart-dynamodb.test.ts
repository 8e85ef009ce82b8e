import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, asCompleted } from '../../../client/index.ts';
import { createTable } from '../../../adapters/store/dynamodb.ts';
import { submissionLogPartition } from '../../../scheduler/sqs-bridge/dynamodb-store.ts';
import { makeDocumentClient, startDynalite, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * On EKS the scheduler pod may come back on another node with an empty
 * disk: its bridge keeps the submission record in the cluster table
 * (RECC_SQS_STORE=dynamodb). kill -9 the scheduler during a job, throw away
 * its state directory, start it again: the job completes, each result once.
 */
describe('SQS route: scheduler restart on an empty disk, record in DynamoDB', () => {
  let dynamo: DynamoDbEmulator;
  let world: SqsWorld;
  let cluster: BridgedCluster;
  let client: Client;
  const notices: string[] = [];

  beforeAll(async () => {
    dynamo = await startDynalite();
    const tableName = uniqueTableName('recc-sqslog');
    const doc = makeDocumentClient(dynamo.endpoint);
    await createTable(doc, tableName);
    doc.destroy();
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, {
      nWorkers: 2,
      store: { kind: 'dynamodb', tableName, partition: submissionLogPartition('ns-restart'), endpoint: dynamo.endpoint },
    });
    client = await Client.connect(cluster, { transport: 'sqs', onNotice: (l) => notices.push(l) });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await world?.stop();
    await dynamo?.stop();
  });

  it('completes a 300-task job with every result exactly once', async () => {
    const items = Array.from({ length: 300 }, (_, i) => i);
    const futures = client.map(async (x: number) => {
      await new Promise((r) => setTimeout(r, 20));
      return x * 5 - 2;
    }, items);
    await waitFor(() => futures.filter((f) => f.status === 'finished').length >= 30, { what: 'the first results' });
    const doneBeforeKill = futures.filter((f) => f.status === 'finished').length;

    // Act: kill -9, lose the disk, start again
    await cluster.killScheduler();
    await cluster.restartScheduler({ freshStateDir: true });
    const seen: string[] = [];
    for await (const f of asCompleted(futures)) seen.push(f.key);

    // Assess
    expect(doneBeforeKill).toBeLessThan(300);
    expect(await client.gather(futures)).toEqual(items.map((x) => x * 5 - 2));
    expect(new Set(seen).size).toBe(300);
    expect(seen).toHaveLength(300);
    expect(existsSync(join(cluster.stateDir, 'sqs-submissions.log'))).toBe(false);
    expect(cluster.schedulerLines.some((l) => l.includes('"sqs-bridge.recovered"'))).toBe(true);
    expect(notices.some((l) => l.includes('restarted'))).toBe(true);
  });
});
