import { describe, expect, it } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { readTable, readTableInfo, writeTable } from '../../../adapters/tables/index.ts';
import { CorruptDataError } from '../../../shared/datastores/errors.ts';
import { TableOptionsError } from '../../../shared/tables/errors.ts';
import { priceRows, priceTable, rowsOf } from './fixtures.ts';

const rows = priceRows(2_000);
const table = priceTable(rows);

describe('readTable / writeTable', () => {
  it.each(['parquet', 'arrow'] as const)('round-trips %s with types, values and nulls intact', async (format) => {
    const store = new MemoryDatastore();
    await writeTable(store, `p/prices.${format}`, table);
    const back = await readTable(store, `p/prices.${format}`);
    expect(back.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(['date:Date32<DAY>', 'sid:Utf8', 'px:Float64', 'vol:Int32']);
    expect(rowsOf(back)).toEqual(rows);
  });

  it.each(['csv', 'jsonl'] as const)('round-trips %s values through the engine', async (format) => {
    const store = new MemoryDatastore();
    await writeTable(store, `p/prices.${format}`, table);
    const back = await readTable(store, `p/prices.${format}`);
    const got = rowsOf(back);
    expect(got.map((r) => [r.sid, r.px, r.vol])).toEqual(rows.map((r) => [r.sid, r.px, r.vol]));
    expect(got.map((r) => (typeof r.date === 'number' ? r.date : r.date))).toEqual(
      format === 'csv' ? rows.map((r) => r.date) : got.map((r) => r.date),
    );
  });

  it('projects columns in the order asked, for every format', async () => {
    const store = new MemoryDatastore();
    for (const format of ['parquet', 'arrow', 'csv', 'jsonl'] as const) {
      await writeTable(store, `t.${format}`, table);
      const back = await readTable(store, `t.${format}`, { columns: ['vol', 'sid'] });
      expect(back.schema.fields.map((f) => f.name)).toEqual(['vol', 'sid']);
      expect(rowsOf(back).slice(0, 3)).toEqual(rows.slice(0, 3).map((r) => ({ vol: r.vol, sid: r.sid })));
    }
  });

  it('filters rows exactly with where, for every format', async () => {
    const store = new MemoryDatastore();
    const where = { sid: { in: ['SEC1', 'SEC3'] }, vol: { gte: 100, lt: 900 }, px: { gt: 10 } };
    const expected = rows.filter((r) => ['SEC1', 'SEC3'].includes(r.sid) && r.vol >= 100 && r.vol < 900 && r.px !== null && r.px > 10).map((r) => r.vol);
    for (const format of ['parquet', 'arrow', 'csv', 'jsonl'] as const) {
      await writeTable(store, `t.${format}`, table);
      const back = await readTable(store, `t.${format}`, { where, columns: ['vol'] });
      expect(rowsOf(back).map((r) => r.vol), format).toEqual(expected);
    }
  });

  it('takes filter as another name for where, but not both', async () => {
    const store = new MemoryDatastore();
    await writeTable(store, 't.parquet', table);
    const back = await readTable(store, 't.parquet', { filter: { vol: { lt: 40 } }, columns: ['vol'] });
    expect(rowsOf(back).map((r) => r.vol)).toEqual(rows.filter((r) => r.vol < 40).map((r) => r.vol));
    await expect(readTable(store, 't.parquet', { filter: { vol: 1 }, where: { vol: 2 } })).rejects.toThrow(/filter: give where or filter/);
  });

  it('skips Parquet row groups whose statistics rule them out, and fetches only their bytes', async () => {
    const store = new MemoryDatastore();
    const many = priceRows(40_000);
    await writeTable(store, 'p.parquet', priceTable(many), { rowGroupSize: 4_000 });
    const all = await readTableInfo(store, 'p.parquet');
    expect(all.rowGroups).toEqual({ total: 10, read: 10 });
    // Dates rise with the row number: one day is one row group.
    const one = await readTableInfo(store, 'p.parquet', { where: { date: '2024-01-03' } });
    expect(one.rowGroups).toEqual({ total: 10, read: 1 });
    expect(rowsOf(one.table)).toEqual(many.filter((r) => r.date === 19725));
    // Bytes beyond the footer read (what reading no row group costs).
    const footer = (await readTableInfo(store, 'p.parquet', { rowGroups: [] })).fetched.bytes;
    expect(one.fetched.bytes - footer).toBeLessThan((all.fetched.bytes - footer) / 5);
    const projected = await readTableInfo(store, 'p.parquet', { columns: ['vol'] });
    expect(projected.fetched.bytes - footer).toBeLessThan((all.fetched.bytes - footer) / 2);
    const groups = await readTableInfo(store, 'p.parquet', { rowGroups: [9] });
    expect(rowsOf(groups.table)).toEqual(many.slice(36_000));
  });

  it('names unknown columns, bad where values and unknown options, all at once', async () => {
    const store = new MemoryDatastore();
    await writeTable(store, 'p.parquet', table);
    const err = await readTable(store, 'p.parquet', { columns: ['px', 'price'], where: { day: 1, date: 'tomorrow' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TableOptionsError);
    expect((err as TableOptionsError).details.map((d) => d.path)).toEqual(['columns[1]', 'where.day', 'where.date.eq']);
    expect((err as Error).message).toContain('columns: date, sid, px, vol');
    const opt = await readTable(store, 'p.parquet', { colums: ['px'] } as never).catch((e: unknown) => e);
    expect((opt as TableOptionsError).details).toEqual([{ path: 'colums', message: expect.stringContaining('unknown option') }]);
    await expect(readTable(store, 'p.txt')).rejects.toThrow(/cannot tell the format/);
  });

  it('turns every truncation of a Parquet or Arrow file into CorruptDataError naming the file', async () => {
    const store = new MemoryDatastore('CACHE');
    for (const format of ['parquet', 'arrow'] as const) {
      await writeTable(store, `good.${format}`, table);
      const bytes = await store.read(`good.${format}`);
      const cuts = [0, 4, 7, bytes.length >> 2, bytes.length >> 1, bytes.length - 9, bytes.length - 1];
      for (const cut of cuts) {
        await store.write(`bad.${format}`, bytes.subarray(0, cut));
        const err = await readTable(store, `bad.${format}`).catch((e: unknown) => e);
        expect(err, `${format} cut at ${cut}`).toBeInstanceOf(CorruptDataError);
        expect((err as Error).message).toContain(`CACHE: "bad.${format}" is corrupt`);
      }
    }
  });

  it('never hangs or returns wrong rows on a Parquet file with damaged bytes: the right table or CorruptDataError', async () => {
    const store = new MemoryDatastore();
    await writeTable(store, 'good.parquet', table, { rowGroupSize: 500 });
    const good = Uint8Array.from(await store.read('good.parquet'));
    let corrupt = 0;
    // Damage accumulates, so later files are badly broken (this once made the decoder loop for minutes).
    const damaged = good.slice();
    for (let k = 0; k < 30; k++) {
      const at = 4 + ((k * 2654435761) % (good.length - 8));
      damaged[at] = (damaged[at] as number) ^ 0xff;
      await store.write('bad.parquet', damaged.slice());
      const got = await readTable(store, 'bad.parquet', { decodeTimeoutMs: 3_000 }).then((t) => rowsOf(t), (e: unknown) => e);
      if (got instanceof CorruptDataError) corrupt++;
      else if (got instanceof Error) throw got;
      // Without page checksums a flipped value byte can change a value; it can never change the row count.
      else expect((got as unknown[]).length).toBe(rows.length);
    }
    expect(corrupt).toBeGreaterThan(0);
  }, 120_000);

  it('refuses to write what is not a table, naming the expected types', async () => {
    const store = new MemoryDatastore();
    await expect(writeTable(store, 'x.parquet', [{ a: 1 }] as never)).rejects.toThrow(/expected an Apache Arrow Table/);
    await expect(writeTable(store, 'x.parquet', table, { rowGroupSize: 0 })).rejects.toThrow(/rowGroupSize: expected an integer/);
  });
});
