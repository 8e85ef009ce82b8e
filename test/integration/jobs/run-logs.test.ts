import { afterAll, beforeAll } from 'vitest';
import { S3Client } from '@aws-sdk/client-s3';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { DatastoreRunLogStore } from '../../../adapters/jobs/run-logs.ts';
import { S3RunLogStore } from '../../../adapters/jobs/run-logs-s3.ts';
import { runLogStoreConformance } from '../../conformance/run-log-store.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

let s3: TestS3;
let seq = 0;
beforeAll(async () => {
  s3 = await startTestS3();
});
afterAll(async () => {
  await s3.stop();
});

runLogStoreConformance('memory datastore', async () => ({ store: new DatastoreRunLogStore(new MemoryDatastore('RUNLOGS')), refPrefix: 'memory:RUNLOGS/' }));
runLogStoreConformance('S3 on fauxqs', async () => {
  seq += 1;
  const bucket = `recc-run-logs-${seq}`;
  await s3.createBucket(bucket);
  const client = new S3Client({ region: s3.region, endpoint: s3.endpoint, forcePathStyle: true, credentials: s3.credentials });
  return { store: new S3RunLogStore(client, bucket), refPrefix: `s3://${bucket}/` };
});
