import { describe, expect, it } from 'vitest';
import { jobStoreConformance, sampleJob } from '../../conformance/job-store.ts';
import { DynamoDbJobStore } from '../../../adapters/store/jobs-dynamodb.ts';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { DynamoDbClusterStore, createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { newRunRecord } from '../../../shared/jobs/run-machine.ts';
import { startDynalite, uniqueTableName } from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';

jobStoreConformance('memory', async () => ({ store: new MemoryJobStore() }));

const dynamo = useDynamoDb(() => startDynalite());
jobStoreConformance('dynalite (the cluster table)', async () => {
  const tableName = uniqueTableName('recc-jobs');
  await createTable(dynamo.client, tableName);
  return { store: new DynamoDbJobStore(dynamo.client, { tableName }), cleanup: () => deleteTable(dynamo.client, tableName) };
});

describe('jobs and runs share the cluster table', () => {
  it('never show up in cluster listings', async () => {
    const tableName = uniqueTableName('recc-jobs');
    await createTable(dynamo.client, tableName);
    try {
      const jobs = new DynamoDbJobStore(dynamo.client, { tableName });
      const clusters = new DynamoDbClusterStore(dynamo.client, { tableName, transactions: false });
      const job = await jobs.createJob(sampleJob('alice', 'nightly'));
      const { run, change } = newRunRecord(
        { id: 'r-x', jobId: job.id, jobName: job.name, owner: 'alice', scheduledAt: job.createdAt, trigger: 'manual', at: job.createdAt, ttlDays: 1 },
        { actor: 't', stimulusId: 's' },
      );
      await jobs.createRun(run, change);
      expect(await clusters.listAll()).toEqual([]);
      expect(await clusters.listLive()).toEqual([]);
      expect(await clusters.listByOwner('alice')).toEqual([]);
      expect(await jobs.listUnfinishedRuns()).toHaveLength(1);
    } finally {
      await deleteTable(dynamo.client, tableName);
    }
  });
});
