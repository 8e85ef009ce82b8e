import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll } from 'vitest';
import { LocalDatastore } from '../../../adapters/datastores/local.ts';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { S3Datastore } from '../../../adapters/datastores/s3.ts';
import { datastoreConformance } from '../../conformance/datastore.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

let n = 0;
datastoreConformance('memory', { make: async () => new MemoryDatastore(`MEM${++n}`) });

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});
datastoreConformance('local filesystem', {
  make: async () => {
    const d = await mkdtemp(join(tmpdir(), 'recc-ds-'));
    dirs.push(d);
    return new LocalDatastore('LOCAL', join(d, 'root'));
  },
});

let s3: TestS3;
const BUCKET = 'recc-conformance';
const ATTEMPTS = 4;
beforeAll(async () => {
  s3 = await startTestS3();
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  await s3?.stop();
});
let lastPrefix = '';
datastoreConformance('S3 on fauxqs', {
  make: async () => {
    lastPrefix = `run-${++n}/`;
    return new S3Datastore('S3', {
      bucket: BUCKET,
      prefix: lastPrefix,
      endpoint: s3.endpoint,
      region: s3.region,
      credentials: s3.credentials,
      partSize: 5 * 1024 * 1024,
      attempts: ATTEMPTS,
      backoff: { initialMs: 1, maxMs: 10, factor: 2, jitter: 'full' },
    });
  },
  pendingUploads: async () => {
    const out = await s3.client.send(new ListMultipartUploadsCommand({ Bucket: BUCKET, Prefix: lastPrefix }));
    return out.Uploads?.length ?? 0;
  },
  throttleNext: (k) => s3.throttleNext(k),
  attempts: ATTEMPTS,
});
