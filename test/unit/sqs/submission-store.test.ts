import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { submissionStoreConformance, submitRecord } from '../../conformance/submission-store.ts';
import { FileSubmissionStore } from '../../../scheduler/sqs-bridge/file-store.ts';

/** The SubmissionStore contract on the local file (the DynamoDB adapter runs it in test/integration/sqs/dynamodb-store.test.ts). */
submissionStoreConformance('file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'recc-store-'));
  return { store: new FileSubmissionStore(dir), reopen: () => new FileSubmissionStore(dir), cleanup: async () => rmSync(dir, { recursive: true, force: true }) };
});

describe('Class: FileSubmissionStore', () => {
  it('ignores a torn record at the end (a crash mid-write)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recc-store-'));
    const store = new FileSubmissionStore(dir);
    await store.append([submitRecord('e1', ['a']), submitRecord('e2', ['b'])]);
    await store.close();
    const file = join(dir, 'sqs-submissions.log');
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 3));
    const again = new FileSubmissionStore(dir);
    expect((await again.load()).map((r) => ('id' in r ? r.id : r.t))).toEqual(['e1']);
    await again.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('fails an append with a typed error when the directory is not writable, and keeps working for later appends', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'recc-store-'));
    const store = new FileSubmissionStore(dir);
    // A directory where the log file should be makes every write fail.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(dir, 'sqs-submissions.log'));
    await expect(store.append([{ t: 'close', s: 's', id: 'x' }])).rejects.toMatchObject({ name: 'SubmissionStoreError' });
    rmSync(join(dir, 'sqs-submissions.log'), { recursive: true });
    await store.append([{ t: 'close', s: 's', id: 'y' }]);
    expect((await store.load()).map((r) => ('id' in r ? r.id : ''))).toEqual(['y']);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
