import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileSubmissionStore } from '../../../scheduler/sqs-bridge/file-store.ts';
import type { StoreRecord, SubmissionStore } from '../../../scheduler/sqs-bridge/store.ts';

/**
 * The SubmissionStore contract (the SQS bridge's durable record), run
 * against each adapter. Only the local file adapter exists so far.
 */
const adapters: Array<{ name: string; make: (dir: string) => SubmissionStore }> = [{ name: 'file', make: (dir) => new FileSubmissionStore(dir) }];

const submit = (id: string, wants: string[]): StoreRecord => ({
  t: 'submit',
  s: 's1',
  rq: 'http://q/recc-c-reply-s1',
  id,
  m: [[{ op: 'update-graph', tasks: wants.map((k) => ({ key: k, fn: 'f', args: new Uint8Array([1, 2]), deps: [], resources: null, retries: 0 })), wants, fns: [] }, null]],
});

describe.each(adapters)('Port: SubmissionStore ($name)', ({ make }) => {
  let dir: string;
  let store: SubmissionStore;

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'recc-store-'));
    store = make(dir);
  });
  afterEach(async () => {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('loads nothing from a fresh directory', async () => {
    expect(await store.load()).toEqual([]);
  });

  it('gives back every appended record, in order, after a reopen; bytes stay bytes', async () => {
    // Act: concurrent appends share flushes
    await Promise.all([store.append([submit('e1', ['a'])]), store.append([{ t: 'release', s: 's1', id: 'e2', keys: ['a'] }]), store.append([{ t: 'close', s: 's1', id: 'e3' }])]);
    await store.close();
    const again = make(dir);
    const records = await again.load();
    await again.close();

    // Assess
    expect(records.map((r) => ('id' in r ? r.id : r.t))).toEqual(['e1', 'e2', 'e3']);
    const first = records[0] as Extract<StoreRecord, { t: 'submit' }>;
    const graph = first.m[0]?.[0];
    const args = graph?.op === 'update-graph' ? graph.tasks[0]?.args : undefined;
    expect(args).toBeInstanceOf(Uint8Array);
    expect([...(args ?? [])]).toEqual([1, 2]);
  });

  it('keeps records appended without waiting for a sync, in order with synced ones', async () => {
    await Promise.all([store.append([submit('e1', ['a'])]), store.append([{ t: 'release', s: 's1', id: 'e2', keys: ['a'] }], { sync: false }), store.append([submit('e3', ['b'])])]);
    await store.close();
    const again = make(dir);
    const records = await again.load();
    await again.close();
    expect(records.map((r) => ('id' in r ? r.id : r.t))).toEqual(['e1', 'e2', 'e3']);
  });

  it('ignores a torn record at the end (a crash mid-write)', async () => {
    await store.append([submit('e1', ['a']), submit('e2', ['b'])]);
    await store.close();
    const file = join(dir, 'sqs-submissions.log');
    const whole = readFileSync(file);
    writeFileSync(file, whole.subarray(0, whole.length - 3));
    const again = make(dir);
    expect((await again.load()).map((r) => ('id' in r ? r.id : r.t))).toEqual(['e1']);
    await again.close();
  });

  it('compacts to exactly the records given, and appends after that', async () => {
    await store.append([submit('e1', ['a']), submit('e2', ['b']), { t: 'release', s: 's1', id: 'e3', keys: ['a'] }]);
    await store.compact([submit('e2', ['b'])]);
    await store.append([{ t: 'cancel', s: 's1', id: 'e4', keys: ['b'] }]);
    expect((await store.load()).map((r) => ('id' in r ? r.id : r.t))).toEqual(['e2', 'e4']);
  });
});

describe('Class: FileSubmissionStore', () => {
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
