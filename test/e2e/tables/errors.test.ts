import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { ColumnNotFoundError, TableArgumentError, TableTooLargeError } from '../../../client/tables/errors.ts';
import { tableOfRows } from './reference.ts';

/**
 * Issue 15, bad input: a throwing function keeps its error's name and message
 * and names the partition; a meta mismatch names the columns; a missing
 * column fails before any task runs; toTable refuses a table above its limit.
 */

let cluster: LocalCluster;
let client: Client;

beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2 });
  client = await Client.connect(cluster);
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

const rows = Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, k2: i, value: i / 2 }));

describe('DistributedTable: bad input', () => {
  it('a throwing mapPartitions function fails with its own error name and message, naming the partition', async () => {
    const t = client.fromTable(tableOfRows(rows), { npartitions: 4 }).mapPartitions(
      function explode(p: Table, ctx: { partition: number }) {
        if (ctx.partition === 2) throw new RangeError('price out of range');
        return p;
      },
      { meta: ['key', 'k2', 'value'] },
    );
    const err = await t.toTable().then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(err?.name).toBe('RangeError');
    expect(err?.message).toContain('price out of range');
    expect(err?.message).toContain('partition 2 of mapPartitions(explode)');
  });

  it('a throwing groupBy().apply function names the partition and the group', async () => {
    const t = client.fromTable(tableOfRows(rows), { npartitions: 3 }).groupBy('key').apply(
      function perKey(g: Table, ctx: { key: { key: string } }) {
        if (ctx.key.key === 'k3') throw new TypeError(`cannot handle ${ctx.key.key}`);
        return g;
      },
      { meta: ['key', 'k2', 'value'] },
    );
    const err = await t.toTable().catch((e: unknown) => e as Error);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).name).toBe('TypeError');
    expect((err as Error).message).toMatch(/cannot handle k3 \(partition \d+, group \{"key":"k3"\} of groupBy\(key\)\.apply\(perKey\)\)/);
  });

  it('a meta mismatch names the missing, extra and mistyped columns', async () => {
    const t = client.fromTable(tableOfRows(rows), { npartitions: 2 }).mapPartitions(
      function reshape(p: Table, ctx: { arrow: typeof import('apache-arrow') }) {
        const a = ctx.arrow;
        return new a.Table({ key: p.getChild('key') as never, price: a.vectorFromArray(Array.from({ length: p.numRows }, () => 1), new a.Int32()) });
      },
      { meta: { key: 'Utf8', price: 'Float64', qty: 'Int32' } },
    );
    const err = (await t.toTable().catch((e: unknown) => e)) as Error;
    expect(err.name).toBe('MetaMismatchError');
    expect(err.message).toContain('missing qty');
    expect(err.message).toContain('column price is Int32, meta says Float64');
    expect(err.message).toMatch(/partition \d of mapPartitions\(reshape\)/);
  });

  it('setIndex, groupBy and select on a missing column fail at once, before any task runs', async () => {
    const t = client.fromTable(tableOfRows(rows), { npartitions: 2 });
    await t.persist();
    const before = (await client.schedulerInfo()).status.tasksTotal;
    expect(() => t.setIndex('secuirty')).toThrow(ColumnNotFoundError);
    expect(() => t.setIndex('secuirty')).toThrow(/setIndex: no column "secuirty" in the table \(columns: key, k2, value\)/);
    expect(() => t.groupBy(['key', 'nope']).apply((g: Table) => g)).toThrow(/groupBy: no column "nope"/);
    expect(() => t.select(['value', 'x', 'y'])).toThrow(/select: no column "x", "y"/);
    expect(() => t.groupBy('key').agg({ value: 'median' as never })).toThrow(TableArgumentError);
    expect(() => t.setIndex('k2', { divisions: [5, 1] })).toThrow(/divisions must be sorted/);
    // Nothing reached the scheduler for the refused operations: it knows no task it did not know
    // (earlier tests' results may still be leaving as their futures are released).
    expect((await client.schedulerInfo()).status.tasksTotal).toBeLessThanOrEqual(before);
  });

  it('toTable refuses a table above maxBytes with a clear error, and gathers it below', async () => {
    const t = client.fromTable(tableOfRows(rows), { npartitions: 2 });
    await expect(t.toTable({ maxBytes: 100 })).rejects.toThrow(TableTooLargeError);
    await expect(t.toTable({ maxBytes: 100 })).rejects.toThrow(/toTable refused: the table is .* MiB on the workers, above the limit/);
    expect((await t.toTable()).numRows).toBe(40);
  });
});
