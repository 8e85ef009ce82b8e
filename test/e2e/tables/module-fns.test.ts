import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { groupsOf, round, rowsArb, rowsOf, sortedJson, tableOfRows } from './reference.ts';

/**
 * Issue 15: module functions (client.module(path).fn(name)) as the user
 * function of mapPartitions and groupBy().apply: they import their own
 * libraries and helpers, which inline functions cannot. Same results as the
 * single-process reference; a thrown error keeps its class name and names
 * the partition.
 */

let cluster: LocalCluster;
let client: Client;

beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  client = await Client.connect(cluster);
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

const fixture = new URL('./fixtures/partition-fns.ts', import.meta.url);

describe('DistributedTable with module functions', () => {
  it('mapPartitions and groupBy().apply run exported functions and equal the reference', async () => {
    const mod = await client.module(fixture);
    await fc.assert(
      fc.asyncProperty(rowsArb(80), fc.integer({ min: 1, max: 6 }), async (rows, npartitions) => {
        const t = client.fromTable(tableOfRows(rows), { npartitions });
        const mapped = rowsOf(await t.select(['key', 'value']).mapPartitions(mod.fn('addDoubled')).toTable());
        expect(sortedJson(mapped)).toEqual(sortedJson(rows.map((r) => ({ key: r.key, value: r.value, doubled: r.value === null ? null : 2 * r.value }))));
        const got = rowsOf(await t.groupBy('key').apply(mod.fn('perKey')).toTable()).map((r) => ({ ...r, total: round(r.total as number) }));
        const want = [...groupsOf(rows, ['key'])].map(([, g]) => ({ key: g[0]?.key ?? null, n: g.length, total: round(g.reduce((s, r) => s + (r.value ?? 0), 0)) }));
        expect(sortedJson(got)).toEqual(sortedJson(want));
      }),
      { numRuns: 4 },
    );
  });

  it('an error thrown by a module function keeps its name and message and names the partition', async () => {
    const mod = await client.module(fixture);
    const t = client.fromTable(tableOfRows([{ key: 'a', k2: 1, value: 1 }, { key: 'HOT', k2: 2, value: 2 }]), { npartitions: 2 });
    const err = (await t.mapPartitions(mod.fn('failOnHot')).toTable().catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('BadPartitionError');
    expect(err.message).toMatch(/HOT rows are not allowed \(partition 1 of mapPartitions\(failOnHot\)\)/);
    // A result built with the module's own apache-arrow is refused with the fix named, never misread.
    const foreign = (await t.mapPartitions(mod.fn('ownArrow')).toTable().catch((e: unknown) => e)) as Error;
    expect(foreign.message).toMatch(/another copy of apache-arrow.*ctx\.arrow/);
  });
});
