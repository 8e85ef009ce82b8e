import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { S3Datastore } from '../../../adapters/datastores/s3.ts';
import { openDataset, readTableInfo, writeDataset, writeTable } from '../../../adapters/tables/index.ts';
import { SchemaMismatchError } from '../../../shared/datastores/errors.ts';
import type { ByteRange, Datastore, ObjectStat, WriteBody } from '../../../shared/datastores/port.ts';
import { MANIFEST_FILE } from '../../../shared/tables/manifest.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';
import { priceRows, priceTable, rowsOf } from '../../unit/tables/fixtures.ts';

/** A Datastore that records every key read, to show what pruning opens. */
class CountingStore implements Datastore {
  readonly reads: string[] = [];
  constructor(private readonly inner: Datastore) {}
  get name() { return this.inner.name; }
  get location() { return this.inner.location; }
  exists(k: string) { return this.inner.exists(k); }
  stat(k: string): Promise<ObjectStat> { return this.inner.stat(k); }
  list(p: string, o?: { token?: string; limit?: number }) { return this.inner.list(p, o); }
  read(k: string, r?: ByteRange) { this.reads.push(k); return this.inner.read(k, r); }
  write(k: string, b: WriteBody, o?: { signal?: AbortSignal }) { return this.inner.write(k, b, o); }
  delete(k: string) { return this.inner.delete(k); }
}

const rows = priceRows(3_000, 10, 4);
const table = priceTable(rows);

describe('partitioned datasets', () => {
  it('writes Hive partitions plus a manifest with values and row counts', async () => {
    const store = new MemoryDatastore();
    const manifest = await writeDataset(store, 'prices', table, { partitionBy: ['date'] });
    expect(manifest.partitions.map((p) => p.dir)).toEqual(Array.from({ length: 10 }, (_, i) => `date=2024-01-${String(i + 1).padStart(2, '0')}`));
    expect(manifest.partitions.reduce((n, p) => n + p.rows, 0)).toBe(3_000);
    expect(manifest.schema.map((c) => c.name)).toEqual(['date', 'sid', 'px', 'vol']);
    const keys = (await store.list('prices/')).entries.map((e) => e.key);
    expect(keys).toContain(`prices/${MANIFEST_FILE}`);
    expect(keys.filter((k) => /^prices\/date=2024-01-\d\d\/part-[\w-]+\.parquet$/.test(k))).toHaveLength(10);
  });

  it('prunes partitions by key range from the manifest without opening a data file', async () => {
    const store = new CountingStore(new MemoryDatastore());
    await writeDataset(store, 'prices', table, { partitionBy: ['date'] });
    store.reads.length = 0;
    const ds = openDataset(store, 'prices');
    const parts = await ds.partitions({ where: { date: { gte: '2024-01-03', lt: '2024-01-06' }, px: { gt: 1 } } });
    expect(parts.map((p) => p.values.date)).toEqual(['2024-01-03', '2024-01-04', '2024-01-05']);
    expect(parts.map((p) => p.rows)).toEqual([300, 300, 300]);
    expect(store.reads).toEqual([`prices/${MANIFEST_FILE}`]);
  });

  it('reads partitions with the partition column restored, projected and filtered', async () => {
    const store = new MemoryDatastore();
    await writeDataset(store, 'prices', table, { partitionBy: ['date', 'sid'] });
    const ds = openDataset(store, 'prices');
    const t = await ds.read({ where: { date: '2024-01-02', sid: 'SEC1', vol: { lt: 500 } }, columns: ['sid', 'vol', 'date'] });
    const expected = rows.filter((r) => r.date === 19724 && r.sid === 'SEC1' && r.vol < 500).map((r) => ({ sid: r.sid, vol: r.vol, date: r.date }));
    expect(rowsOf(t)).toEqual(expected);
    expect(t.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(['sid:Utf8', 'vol:Int32', 'date:Date32<DAY>']);
    const all = await ds.read();
    expect(all.numRows).toBe(3_000);
  });

  it('reads a Hive layout another tool wrote (no manifest), pruning from the paths', async () => {
    const store = new CountingStore(new MemoryDatastore());
    for (const d of ['2024-01-01', '2024-01-02', '2024-01-03']) await writeTable(store, `ext/date=${d}/part-0.parquet`, priceTable(priceRows(50)).select(['sid', 'px']));
    await store.write('ext/_SUCCESS', new Uint8Array());
    store.reads.length = 0;
    const parts = await openDataset(store, 'ext').partitions({ where: { date: { gt: '2024-01-01' } } });
    expect(parts.map((p) => p.dir)).toEqual(['date=2024-01-02', 'date=2024-01-03']);
    expect(store.reads.filter((k) => k.endsWith('.parquet'))).toEqual([]);
  });

  it('names the partition and the columns when a partition does not match the schema', async () => {
    const store = new MemoryDatastore();
    const manifest = await writeDataset(store, 'prices', table, { partitionBy: ['date'] });
    const bad = manifest.partitions[4]!;
    // Another writer replaced one partition's file with other columns.
    await writeTable(store, `prices/${bad.files[0]!.key}`, priceTable(priceRows(10)).select(['sid', 'vol']));
    const err = await openDataset(store, 'prices').read().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect((err as Error).message).toMatch(/partition date=2024-01-05 .* missing column "px" \(expected Float64\)/);
    // Without a manifest, partitions are compared with the first one read.
    for (const [d, cols] of [['2024-01-01', ['sid', 'px']], ['2024-01-02', ['sid', 'vol']]] as const) await writeTable(store, `ext/date=${d}/part-0.parquet`, priceTable(priceRows(5)).select([...cols]));
    const err2 = await openDataset(store, 'ext').read().catch((e: unknown) => e);
    expect((err2 as Error).message).toMatch(/partition date=2024-01-02 .* does not match partition date=2024-01-01: missing column "px".*unexpected column "vol"/);
  });

  it('appends with the same schema and refuses a different one, naming the columns', async () => {
    const store = new MemoryDatastore();
    await writeDataset(store, 'prices', table, { partitionBy: ['date'] });
    await writeDataset(store, 'prices', priceTable(priceRows(100, 1)), { partitionBy: ['date'], mode: 'append' });
    const ds = openDataset(store, 'prices');
    expect((await ds.partitions({ where: { date: '2024-01-01' } }))[0]?.rows).toBe(400);
    const err = await writeDataset(store, 'prices', table.select(['date', 'px']), { partitionBy: ['date'], mode: 'append' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchemaMismatchError);
    expect((err as Error).message).toMatch(/missing column "sid".*missing column "vol"/);
  });

  it('overwrite leaves no file of the previous version behind', async () => {
    const store = new MemoryDatastore();
    await writeDataset(store, 'prices', table, { partitionBy: ['date'] });
    await writeDataset(store, 'prices', priceTable(priceRows(100, 2)), { partitionBy: ['date'] });
    const keys = (await store.list('prices/')).entries.map((e) => e.key).filter((k) => k.endsWith('.parquet'));
    expect(keys).toHaveLength(2);
    expect((await openDataset(store, 'prices').read()).numRows).toBe(100);
  });
});

describe('Parquet over S3 (fauxqs)', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startTestS3();
    await s3.createBucket('recc-tables');
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('a projected read fetches the footer and two column chunks, not the file', async () => {
    const store = new S3Datastore('S3', { bucket: 'recc-tables', prefix: 'data/', endpoint: s3.endpoint, region: s3.region, credentials: s3.credentials });
    const big = priceTable(priceRows(50_000));
    const stat = await writeTable(store, 'prices.parquet', big, { rowGroupSize: 10_000 });
    const footer = (await readTableInfo(store, 'prices.parquet', { rowGroups: [] })).fetched.bytes;
    s3.resetCounts();
    const info = await readTableInfo(store, 'prices.parquet', { columns: ['date', 'vol'] });
    expect(info.table.numRows).toBe(50_000);
    // What the emulator sent is what the reader asked for, and the float column (most of the file) was not fetched.
    expect(s3.getBytes()).toBe(info.fetched.bytes);
    expect(info.fetched.bytes - footer).toBeLessThan((stat.size - footer) * 0.6);
    s3.resetCounts();
    const pruned = await readTableInfo(store, 'prices.parquet', { where: { date: { gte: '2024-01-10' } } });
    expect(pruned.rowGroups).toEqual({ total: 5, read: 1 });
    expect(s3.getBytes() - footer).toBeLessThan((stat.size - footer) * 0.3);
  });
});
