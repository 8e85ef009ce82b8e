import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Table } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDatastore } from '../../../adapters/datastores/local.ts';
import { Client, LocalCluster, TableOptionsError, writeDataset } from '../../../client/index.ts';
import { priceRows, priceTable, rowsOf } from '../../unit/tables/fixtures.ts';

const dirs: string[] = [];
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

describe('client.readDataset', () => {
  it('returns one future per matching partition, each read on a worker as an Arrow table', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'recc-readds-'));
    dirs.push(dir);
    const store = new LocalDatastore('LOCAL', dir);
    const rows = priceRows(4_000, 8, 3);
    await writeDataset(store, 'prices', priceTable(rows), { partitionBy: ['date'] });
    await using cluster = await LocalCluster.start({ nWorkers: 2 });
    await using client = await Client.connect(cluster);

    const futures = await client.readDataset(store, 'prices', { where: { date: { gte: '2024-01-03', lte: '2024-01-05' }, sid: 'SEC2' }, columns: ['date', 'sid', 'px'] });
    expect(futures).toHaveLength(3);
    const tables = await client.gather(futures);
    expect(tables.every((t) => t instanceof Table)).toBe(true);
    const got = tables.flatMap((t) => rowsOf(t));
    const want = rows.filter((r) => r.date >= 19725 && r.date <= 19727 && r.sid === 'SEC2').map((r) => ({ date: r.date, sid: r.sid, px: r.px }));
    expect(got).toEqual(want);

    await expect(client.readDataset(store, 'prices', { where: { date: 'someday' } })).rejects.toThrow(TableOptionsError);
    await expect(client.readDataset({ name: 'X' } as never, 'prices')).rejects.toThrow(/cannot send store X to workers/);
  });
});
