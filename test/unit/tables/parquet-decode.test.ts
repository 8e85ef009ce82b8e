import {
  Binary, Bool, DateDay, Type, Float32, Float64, Int16, Int64, Int8, Table, TimestampMicrosecond, TimestampMillisecond, Uint16, Uint32, Uint64, Uint8, Utf8, vectorFromArray,
} from 'apache-arrow';
import pl from 'nodejs-polars';
import { describe, expect, it } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { readTable, writeTable } from '../../../adapters/tables/index.ts';
import { readParquetMetadata } from '../../../adapters/tables/parquet.ts';
import { chunkRanges, decodeRowGroup, parquetDecodeStats, type ColumnKind } from '../../../adapters/tables/parquet-guard.ts';
import { CorruptDataError } from '../../../shared/datastores/errors.ts';
import { rowsOf } from './fixtures.ts';

/**
 * Row groups are decoded page by page straight into Arrow buffers
 * (adapters/tables/parquet-guard.ts, the fast path); hyparquet's parquetRead
 * remains the general path. Both must give the same buffers, for every type
 * recc reads, with nulls, with dictionary and plain pages, and for files from
 * another writer (polars writes data pages v1, recc's writer v2).
 */
const N = 3_000;

function wideTable(): Table {
  const col = <T>(f: (i: number) => T, type: never) => vectorFromArray(Array.from({ length: N }, (_, i) => (i % 9 === 4 ? null : f(i))), type);
  return new Table({
    i8: col((i) => (i % 250) - 125, new Int8() as never),
    i16: col((i) => i * 7 - 10_000, new Int16() as never),
    u8: col((i) => i % 256, new Uint8() as never),
    u16: col((i) => (i * 13) % 65_536, new Uint16() as never),
    u32: col((i) => 4_000_000_000 - i, new Uint32() as never),
    i64: col((i) => BigInt(i) * -1_000_000_007n, new Int64() as never),
    u64: col((i) => 18_000_000_000_000_000_000n + BigInt(i), new Uint64() as never),
    f32: col((i) => i / 4, new Float32() as never),
    f64: col((i) => i * 1.5e-3, new Float64() as never),
    flag: col((i) => i % 3 === 0, new Bool() as never),
    // Few distinct values (dictionary pages) and many (plain pages), short and long, empty and multi-byte.
    low: col((i) => ['', 'XNYS', 'Zürich', '東京'][i % 4], new Utf8() as never),
    high: col((i) => `security-${i}-${'x'.repeat(i % 40)}`, new Utf8() as never),
    bin: col((i) => Uint8Array.from({ length: i % 20 }, (_, k) => (i + k) % 256), new Binary() as never),
    day: col((i) => new Date(Date.UTC(2020, 0, 1 + i)), new DateDay() as never),
    tsm: col((i) => 1_700_000_000_000 + i * 1000, new TimestampMillisecond('UTC') as never),
    tsu: col((i) => 1_700_000_000_000 + i, new TimestampMicrosecond() as never),
  });
}

describe('Parquet decoding: fast path against the general path', () => {
  it('reads every type recc writes, with nulls, as written; each row group decodes to the same buffers as hyparquet\'s parquetRead gives', async () => {
    // Prepare
    const table = wideTable();
    const store = new MemoryDatastore();
    await writeTable(store, 'wide.parquet', table, { rowGroupSize: 1_000 });
    const bytes = await store.read('wide.parquet');
    const file = { byteLength: bytes.byteLength, slice: (a: number, b?: number) => bytes.slice(a, b).buffer };
    const metadata = await readParquetMetadata(file);
    const columns = table.schema.fields.map((f) => f.name);
    const kinds: Record<string, ColumnKind> = Object.fromEntries(table.schema.fields.map((f) => [
      f.name,
      f.type.typeId === Type.Utf8 || f.type.typeId === Type.Binary ? { kind: 'bytes' } : f.type.typeId === Type.Bool ? { kind: 'bool' } : { kind: 'typed', ctor: (f.type as unknown as { ArrayType: { name: string } }).ArrayType.name },
    ]));
    const before = { ...parquetDecodeStats };

    // Act
    const fast = await readTable(store, 'wide.parquet');
    const groups = [];
    for (let g = 0; g < metadata.row_groups.length; g++) {
      const ranges = chunkRanges(metadata, g, columns, bytes.byteLength);
      if (typeof ranges === 'string') throw new Error(ranges);
      const request = () => ({ byteLength: bytes.byteLength, ranges: ranges.map((r) => ({ start: r.start, bytes: bytes.slice(r.start, r.end) })), metadata, columns, rowStart: g * 1_000, rows: 1_000, kinds });
      groups.push({ fast: await decodeRowGroup({ ...request(), group: g }), general: await decodeRowGroup(request()) });
    }

    // Assess
    expect(parquetDecodeStats.fast - before.fast).toBe(3 + 3);
    expect(parquetDecodeStats.general - before.general).toBe(3);
    expect(fast.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(table.schema.fields.map((f) => `${f.name}:${String(f.type)}`));
    expect(rowsOf(fast)).toEqual(rowsOf(table));
    for (const { fast: a, general: b } of groups) {
      for (const c of columns) {
        const x = a[c]!;
        const y = b[c]!;
        expect({ c, nulls: x.nullCount, length: x.length }).toEqual({ c, nulls: y.nullCount, length: y.length });
        expect(Array.from(x.offsets ?? []), c).toEqual(Array.from(y.offsets ?? []));
        expect(Array.from(x.validity ?? []), c).toEqual(Array.from(y.validity ?? []));
        // Slots of null values are unspecified: compare the valid ones.
        const valid = (i: number) => !y.validity || ((y.validity[i >> 3]! >> (i & 7)) & 1) === 1;
        const vals = (d: typeof x) => (kinds[c]!.kind === 'typed' ? Array.from(d.values as unknown as ArrayLike<unknown>).map((v, i) => (valid(i) ? v : null)) : Array.from(new Uint8Array(d.values.buffer, d.values.byteOffset, d.values.byteLength)));
        expect(vals(x), c).toEqual(vals(y));
      }
    }
    expect(fast.getChild('high')?.get(N - 1)).toBe(`security-${N - 1}-${'x'.repeat((N - 1) % 40)}`);
    expect(fast.getChild('low')?.get(2)).toBe('Zürich');
    expect(fast.getChild('u64')?.get(0)).toBe(18_000_000_000_000_000_000n);
    expect(fast.getChild('flag')?.get(4)).toBeNull();
  });

  it('reads files written by polars (data pages v1, dictionary-encoded strings) the same as polars does', async () => {
    // Prepare
    const n = 5_000;
    const df = pl.DataFrame({
      id: Array.from({ length: n }, (_, i) => i),
      px: Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : i / 8)),
      venue: Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : ['XNYS', 'XNAS', 'XLON'][i % 3])),
      name: Array.from({ length: n }, (_, i) => `name-${i}`),
      ok: Array.from({ length: n }, (_, i) => (i % 17 === 0 ? null : i % 2 === 0)),
    });
    const store = new MemoryDatastore();
    await store.write('polars.parquet', new Uint8Array(df.writeParquet({ compression: 'snappy' })));
    const before = parquetDecodeStats.fast;

    // Act
    const t = await readTable(store, 'polars.parquet');

    // Assess
    expect(parquetDecodeStats.fast).toBeGreaterThan(before);
    expect(t.numRows).toBe(n);
    const want = df.toRecords();
    const got = rowsOf(t).map((r) => ({ ...r, id: Number(r.id) }));
    expect(got).toEqual(want);
  });

  it('never hangs, crashes or returns the wrong row count on a damaged file from another writer: the table or CorruptDataError', async () => {
    // Prepare: a polars file (pages v1, dictionary and plain pages, nulls); each round flips one byte of a fresh copy
    const n = 4_000;
    const df = pl.DataFrame({
      id: Array.from({ length: n }, (_, i) => i),
      px: Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : i / 8)),
      venue: Array.from({ length: n }, (_, i) => (i % 13 === 0 ? null : ['XNYS', 'XNAS', 'XLON'][i % 3])),
      name: Array.from({ length: n }, (_, i) => `name-${i}-${'y'.repeat(i % 30)}`),
    });
    const good = new Uint8Array(df.writeParquet({ compression: 'snappy' }));
    const store = new MemoryDatastore('CACHE');
    let corrupt = 0;
    let read = 0;

    // Act + Assess
    for (let k = 0; k < 60; k++) {
      const damaged = good.slice();
      const at = 4 + ((k * 2654435761) % (good.length - 12));
      damaged[at] = (damaged[at] as number) ^ (0x5a + k);
      await store.write('bad.parquet', damaged);
      const got = await readTable(store, 'bad.parquet', { decodeTimeoutMs: 3_000 }).then((t) => t.numRows, (e: unknown) => e);
      if (got instanceof CorruptDataError) {
        corrupt++;
        expect(got.message).toContain('CACHE: "bad.parquet" is corrupt');
      } else if (got instanceof Error) {
        throw got;
      } else {
        read++;
        // Without page checksums a flipped value byte can change a value; never the row count.
        expect(got).toBe(n);
      }
    }
    expect(corrupt).toBeGreaterThan(5);
    expect(read).toBeGreaterThan(5);
  }, 120_000);
});
