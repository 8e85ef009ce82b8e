import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { QueryCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTable } from '../../../adapters/store/dynamodb.ts';
import { DynamoDbSubmissionStore, submissionLogPartition } from '../../../scheduler/sqs-bridge/dynamodb-store.ts';
import { FileSubmissionStore } from '../../../scheduler/sqs-bridge/file-store.ts';
import type { StoreRecord, SubmissionStore } from '../../../scheduler/sqs-bridge/store.ts';
import { startDynalite, uniqueTableName } from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';
import { repoPath } from '../../support/engine.ts';

/**
 * kill -9 in the middle of a compaction of the SQS bridge's submission
 * record loses nothing: at each point where a crash can land (the new file
 * half written, before and after its rename; DynamoDB: part of the new
 * generation written, before and after the head moves, half the old
 * generation deleted) a reopened store loads either the whole old record or
 * exactly the compacted one, every record intact, and compacts and appends
 * normally afterwards. The process kills itself at the exact point
 * (fixtures/compact-crash.ts), with SIGKILL.
 */
const OLD_RECORDS = 30;
const KEPT = 10;
const oldIds = Array.from({ length: OLD_RECORDS }, (_, i) => `old${i}`);
const keptIds = oldIds.slice(OLD_RECORDS - KEPT);
const ids = (records: StoreRecord[]) => records.map((r) => ('id' in r ? r.id : r.t));
const argBytes = (r: StoreRecord | undefined) => (r?.t === 'submit' && r.m[0]?.[0].op === 'update-graph' ? (r.m[0][0].tasks[0]?.args.length ?? -1) : -1);

async function crashAt(killAt: string, env: Record<string, string>): Promise<{ signal: NodeJS.Signals | null; durable: string[]; done: boolean }> {
  const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx/esm'), repoPath('test/integration/sqs/fixtures/compact-crash.ts')], {
    env: { ...process.env, ...env, RECC_TEST_KILL_AT: killAt, RECC_TEST_OLD_RECORDS: String(OLD_RECORDS), RECC_TEST_KEPT: String(KEPT) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_code, sig) => resolve(sig)));
  const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { durable?: string; done?: boolean });
  if (signal !== 'SIGKILL') throw new Error(`the fixture was not killed at ${killAt}: ${signal} ${err.slice(-2000)}`);
  return { signal, durable: lines.flatMap((l) => (l.durable ? [l.durable] : [])), done: lines.some((l) => l.done) };
}

/** After the crash: the record is the old one or the compacted one, whole; the store compacts and appends again. */
async function assessAfterCrash(open: () => SubmissionStore, durable: string[], expected: 'old' | 'compacted'): Promise<void> {
  expect(durable).toEqual(oldIds); // every append before the compaction resolved; the one during it did not
  const store = open();
  const records = await store.load();
  expect(ids(records)).toEqual(expected === 'old' ? oldIds : keptIds);
  expect(records.every((r) => argBytes(r) === 4_000)).toBe(true);
  expect(store.size().records).toBe(records.length);

  // The next compaction and appends work over whatever the crash left.
  const last = records.slice(-2);
  await store.compact(last);
  await store.append([{ t: 'release', s: 's1', id: 'after', keys: ['k'] }]);
  await store.close();
  const again = open();
  expect(ids(await again.load())).toEqual([...ids(last), 'after']);
  expect(again.size().records).toBe(3);
  await again.close();
}

describe('SQS bridge record: kill -9 during a compaction', () => {
  describe('file (the cluster state directory)', () => {
    const dirs: string[] = [];
    afterAll(() => {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    });

    it.each([
      ['torn-new-file', 'old'],
      ['before-rename', 'old'],
      ['after-rename', 'compacted'],
    ] as const)('killed at %s: the record is the %s one, whole', async (killAt, expected) => {
      const dir = mkdtempSync(join(tmpdir(), 'recc-compact-crash-'));
      dirs.push(dir);
      const { durable, done } = await crashAt(killAt, { RECC_TEST_STORE: 'file', RECC_TEST_DIR: dir });
      expect(done).toBe(false);
      if (killAt !== 'after-rename') expect(existsSync(join(dir, 'sqs-submissions.log.compact'))).toBe(true); // the crash left a new file behind
      await assessAfterCrash(() => new FileSubmissionStore(dir), durable, expected);
      expect(readdirSync(dir).filter((f) => f.startsWith('sqs-submissions'))).toEqual(['sqs-submissions.log']);
    }, 60_000);
  });

  describe('DynamoDB (dynalite)', () => {
    const dynamo = useDynamoDb(() => startDynalite());
    const tableName = uniqueTableName('recc-compact');
    beforeAll(async () => {
      await createTable(dynamo.client, tableName);
    }, 60_000);

    it.each([
      ['new-generation-partial', 'old'],
      ['before-head', 'old'],
      ['after-head', 'compacted'],
      ['mid-drop', 'compacted'],
    ] as const)('killed at %s: the record is the %s one, whole', async (killAt, expected) => {
      const partition = submissionLogPartition(`ns-${randomBytes(4).toString('hex')}`);
      const { durable, done } = await crashAt(killAt, { RECC_TEST_STORE: 'dynamodb', RECC_TEST_ENDPOINT: dynamo.emulator.endpoint, RECC_TEST_TABLE: tableName, RECC_TEST_PARTITION: partition });
      expect(done).toBe(false);
      await assessAfterCrash(() => new DynamoDbSubmissionStore({ client: dynamo.client, tableName, partition }), durable, expected);
      // What the crash left (a partial generation, undeleted old items) went with the next compaction.
      const items = await dynamo.client.send(new QueryCommand({ TableName: tableName, KeyConditionExpression: 'pk = :pk', ExpressionAttributeValues: { ':pk': partition }, ConsistentRead: true }));
      const generations = new Set((items.Items ?? []).map((i) => String(i.sk)).filter((sk) => sk !== 'HEAD').map((sk) => sk.split('#')[0]));
      expect(generations.size).toBe(1);
      expect(items.Items?.length).toBe(1 + 3);
    }, 60_000);
  });
});
