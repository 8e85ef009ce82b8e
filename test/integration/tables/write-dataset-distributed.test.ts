import { existsSync, readdirSync, type Dirent } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDatastore } from '../../../adapters/datastores/local.ts';
import { Client, LocalCluster } from '../../../client/index.ts';
import { ColumnNotFoundError } from '../../../client/tables/errors.ts';
import { priceRows, priceTable, rowsOf } from '../../unit/tables/fixtures.ts';

/**
 * Issue 15: DistributedTable.writeDataset. Each partition's task writes its
 * own files; the manifest is written once all succeeded, so readDataset (with
 * `where` pruning) reads exactly the table back, and a failed write leaves no
 * manifest (or the previous one).
 */

const dirs: string[] = [];
let cluster: LocalCluster;
let client: Client;
beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2 });
  client = await Client.connect(cluster);
});
afterAll(async () => {
  await client?.close();
  await cluster?.close();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const key = (o: object) => {
  const r = o as Record<string, unknown>;
  return `${String(r.date)}|${String(r.sid)}|${String(r.vol)}`;
};
const sorted = (rows: ReadonlyArray<object>) => [...rows].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));

/** Every file under `dir` (relative, sorted); [] when it does not exist. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return (readdirSync(dir, { recursive: true, withFileTypes: true }) as Dirent[])
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)))
    .sort();
}

async function newStore(): Promise<LocalDatastore> {
  const dir = await mkdtemp(join(tmpdir(), 'recc-writeds-'));
  dirs.push(dir);
  return new LocalDatastore('LOCAL', dir);
}

describe('DistributedTable.writeDataset', () => {
  it('writes every partition from the workers and reads back with where pruning', async () => {
    const store = await newStore();
    const rows = priceRows(3_000, 6, 4);
    const manifest = await client.fromTable(priceTable(rows), { npartitions: 5 }).writeDataset(store, 'prices', { partitionBy: ['sid'] });
    expect(manifest.partitions.map((p) => p.dir)).toEqual(['sid=SEC0', 'sid=SEC1', 'sid=SEC2', 'sid=SEC3']);
    expect(manifest.partitions.reduce((n, p) => n + p.rows, 0)).toBe(rows.length);
    // One file per (input partition, value) at most, all named after one write.
    const files = manifest.partitions.flatMap((p) => p.files.map((f) => f.key));
    expect(new Set(files.map((f) => /part-(\w+)-\d+\./.exec(f)?.[1])).size).toBe(1);

    const all = (await client.gather(await client.readDataset(store, 'prices'))) as Table[];
    expect(sorted(all.flatMap((t) => rowsOf(t)))).toEqual(sorted(rows));
    const some = await client.readDataset(store, 'prices', { where: { sid: 'SEC2' } });
    expect(some).toHaveLength(1);
    const got = ((await client.gather(some)) as Table[]).flatMap((t) => rowsOf(t));
    expect(sorted(got)).toEqual(sorted(rows.filter((r) => r.sid === 'SEC2')));
  }, 120_000);

  it('leaves no manifest when a partition task fails, and keeps the previous dataset on a failed overwrite', async () => {
    const store = await newStore();
    const rows = priceRows(1_000, 4, 3);
    const failing = client.fromTable(priceTable(rows), { npartitions: 4 }).mapPartitions((t: Table, ctx: { partition: number }) => {
      if (ctx.partition === 2) throw new Error('partition two is broken');
      return t;
    });
    await expect(failing.writeDataset(store, 'broken', { partitionBy: ['sid'] })).rejects.toThrow(/partition two is broken/);
    expect(existsSync(join(store.root, 'broken', '_recc_dataset.json'))).toBe(false);

    const first = await client.fromTable(priceTable(rows), { npartitions: 2 }).writeDataset(store, 'kept', { partitionBy: ['date'] });
    await expect(failing.writeDataset(store, 'kept', { partitionBy: ['date'] })).rejects.toThrow(/partition two is broken/);
    const back = ((await client.gather(await client.readDataset(store, 'kept'))) as Table[]).flatMap((t) => rowsOf(t));
    expect(back.length).toBe(first.partitions.reduce((n, p) => n + p.rows, 0));
    expect(readdirSync(join(store.root, 'kept')).includes('_recc_dataset.json')).toBe(true);
  }, 120_000);

  it('deletes the part files a failed write wrote, and only those', async () => {
    const store = await newStore();
    const rows = priceRows(2_000, 4, 3);
    const first = await client.fromTable(priceTable(rows), { npartitions: 2 }).writeDataset(store, 'orphans', { partitionBy: ['sid'] });
    const before = filesUnder(join(store.root, 'orphans'));
    // Partitions 0, 1 and 3 write their files; partition 2 throws: the write fails after the others wrote.
    const failing = client.fromTable(priceTable(rows), { npartitions: 4 }).mapPartitions((t: Table, ctx: { partition: number }) => {
      if (ctx.partition === 2) throw new Error('partition two is broken');
      return t;
    });
    await expect(failing.writeDataset(store, 'orphans', { partitionBy: ['sid'] })).rejects.toThrow(/partition two is broken/);
    // Exactly the previous dataset's files and manifest remain: no orphan part files of the failed attempt.
    expect(filesUnder(join(store.root, 'orphans'))).toEqual(before);
    expect(before.filter((f) => f.includes('part-'))).toHaveLength(first.partitions.reduce((n, p) => n + p.files.length, 0));
    // A first write that fails leaves nothing behind either.
    await expect(failing.writeDataset(store, 'fresh', { partitionBy: ['sid'] })).rejects.toThrow(/partition two is broken/);
    expect(filesUnder(join(store.root, 'fresh'))).toEqual([]);
  }, 120_000);

  it('names a missing partition column before anything runs', async () => {
    const store = await newStore();
    const t = client.fromTable(priceTable(priceRows(10)), { npartitions: 2 });
    await expect(t.writeDataset(store, 'x', { partitionBy: ['nope'] })).rejects.toThrow(ColumnNotFoundError);
    await expect(t.writeDataset(store, 'x', { partitionBy: ['__proto__'] })).rejects.toThrow(/__proto__/);
    await expect(t.writeDataset(store, 'x', null as never)).rejects.toThrow(/partitionBy/);
    expect(existsSync(join(store.root, 'x'))).toBe(false);
  }, 60_000);
});
