import fc from 'fast-check';
import {
  Bool,
  DateDay,
  Dictionary,
  Field,
  Float64,
  Int32,
  Int64,
  List,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  makeData,
  makeVector,
  tableFromIPC,
  tableToIPC,
  vectorFromArray,
} from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { readStream, streamPieces } from '../../../client/tables/ipc-stream.ts';
import { joinPieces } from '../../../shared/shuffle/frames.ts';
import { rowsOf } from './fixtures.ts';

const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 4, arbitrary: arb });
const row = fc.record({
  s: nullable(fc.string({ maxLength: 10 })),
  i: nullable(fc.integer({ min: -5, max: 5 })),
  big: nullable(fc.bigInt({ min: -(2n ** 40n), max: 2n ** 40n })),
  f: nullable(fc.double()),
  b: nullable(fc.boolean()),
  d: nullable(fc.integer({ min: 0, max: 30_000 })),
  l: nullable(fc.array(fc.integer({ min: -9, max: 9 }), { maxLength: 3 })),
});
/** rowsOf with list cells (Arrow Vectors) as plain arrays. */
const plainRows = (t: Table): Array<Record<string, unknown>> =>
  rowsOf(t).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v !== null && typeof v === 'object' && Symbol.iterator in v ? Array.from(v as Iterable<unknown>) : v])));
type Row = typeof row extends fc.Arbitrary<infer R> ? R : never;

/** A table of the rows in batches of the given sizes (several batches: a table concatenated from shards). */
function tableOf(rows: Row[], cuts: number[]): Table {
  const col = <T>(pick: (r: Row) => T, type: import('apache-arrow').DataType) => vectorFromArray(rows.map(pick), type);
  const whole = new Table({
    s: col((r) => r.s, new Utf8()),
    i: col((r) => r.i, new Int32()),
    big: col((r) => r.big, new Int64()),
    f: col((r) => r.f, new Float64()),
    b: col((r) => r.b, new Bool()),
    d: col((r) => r.d, new DateDay()),
    l: col((r) => r.l, new List(new Field('item', new Int32(), true))),
  });
  const batches: RecordBatch[] = [];
  let from = 0;
  for (const cut of [...cuts, rows.length]) {
    const to = Math.min(rows.length, Math.max(from, cut));
    if (to > from) batches.push(...whole.slice(from, to).batches);
    from = to;
  }
  return batches.length > 0 ? new Table(whole.schema, batches) : whole;
}

describe('Arrow IPC streams without the stream machinery (ipc-stream.ts)', () => {
  it('writes exactly the bytes Arrow JS stream writer writes, and reads them back as Arrow reads them', () => {
    fc.assert(
      fc.property(fc.array(row, { maxLength: 40 }), fc.array(fc.integer({ min: 0, max: 40 }), { maxLength: 3 }), (rows, cuts) => {
        const t = tableOf(rows, [...cuts].sort((a, b) => a - b));
        const ours = joinPieces(streamPieces(t));
        expect(ours).toEqual(tableToIPC(t, 'stream'));
        const back = readStream(ours);
        const arrow = tableFromIPC(ours);
        expect(back.schema.fields.map(String)).toEqual(arrow.schema.fields.map(String));
        expect(back.batches.map((b) => b.numRows)).toEqual(arrow.batches.map((b) => b.numRows));
        expect(plainRows(back)).toEqual(plainRows(arrow));
        expect(back.numRows).toBe(rows.length);
      }),
      { numRuns: 150 },
    );
  });

  it('reads bodies in place, and a schema seen before is decoded once and shared', () => {
    const t = new Table({ px: vectorFromArray([1.5, 2.5, null], new Float64()), sid: vectorFromArray(['a', 'b', 'c'], new Utf8()) });
    const a = joinPieces(streamPieces(t));
    const b = joinPieces(streamPieces(t.slice(1)));
    const ta = readStream(a);
    const tb = readStream(b);
    // Decoded once (the fields are the same objects); each table has its own Schema and metadata, so changing one
    // table's metadata leaves the other's alone.
    expect(ta.schema.fields).toBe(tb.schema.fields);
    ta.schema.metadata.set('mine', 'a');
    expect(tb.schema.metadata.has('mine')).toBe(false);
    expect(readStream(a).schema.metadata.has('mine')).toBe(false);
    expect(ta.getChild('px')?.data[0]?.values.buffer).toBe(a.buffer);
    expect(rowsOf(tb)).toEqual([
      { px: 2.5, sid: 'b' },
      { px: null, sid: 'c' },
    ]);
  });

  it('copies a body that is not 8-byte aligned (64-bit columns need aligned views), as Arrow does', () => {
    const t = new Table({ big: vectorFromArray([1n, -2n, null], new Int64()), f: vectorFromArray([0.5, null, 2], new Float64()) });
    const bytes = joinPieces(streamPieces(t));
    const shifted = new Uint8Array(bytes.byteLength + 4);
    shifted.set(bytes, 4);
    const back = readStream(shifted.subarray(4));
    expect(plainRows(back)).toEqual(plainRows(t));
    expect(back.getChild('f')?.data[0]?.values.buffer).not.toBe(shifted.buffer);
  });

  it('keeps schema and batch metadata', () => {
    const base = new Table({ x: vectorFromArray([1, 2], new Int32()) });
    const schema = new Schema(base.schema.fields, new Map([['origin', 'test']]));
    const batch = new RecordBatch(schema, base.batches[0]!.data, new Map([['part', '7']]));
    const t = new Table(schema, [batch]);
    const bytes = joinPieces(streamPieces(t));
    expect(bytes).toEqual(tableToIPC(t, 'stream'));
    const back = readStream(bytes);
    expect(back.schema.metadata.get('origin')).toBe('test');
    expect(back.batches[0]?.metadata.get('part')).toBe('7');
  });

  it('dictionary columns and streams it does not cover go through Arrow itself', () => {
    const dict = makeData({ type: new Dictionary(new Utf8(), new Int32()), length: 3, data: Int32Array.of(0, 1, 0), dictionary: vectorFromArray(['x', 'y'], new Utf8()) });
    const t = new Table({ k: makeVector(dict), n: vectorFromArray([1, 2, 3], new Int32()) });
    const bytes = joinPieces(streamPieces(t));
    expect(bytes).toEqual(tableToIPC(t, 'stream'));
    expect(rowsOf(readStream(bytes))).toEqual([
      { k: 'x', n: 1 },
      { k: 'y', n: 2 },
      { k: 'x', n: 3 },
    ]);
    // A stream with no end-of-stream marker, and an empty table: as Arrow reads them.
    const empty = new Table(new Schema([new Field('a', new Int32(), true), new Field('s', new Struct([new Field('q', new Utf8(), true)]), true)]));
    const emptyBytes = joinPieces(streamPieces(empty));
    expect(emptyBytes).toEqual(tableToIPC(empty, 'stream'));
    const emptyBack = readStream(emptyBytes);
    expect(emptyBack.schema.fields.map(String)).toEqual(empty.schema.fields.map(String));
    // No batches in the stream: one empty batch, as Arrow reads it, so the table slices like any other.
    expect(emptyBack.batches.length).toBe(tableFromIPC(emptyBytes).batches.length);
    expect(emptyBack.slice(0, 0).numRows).toBe(0);
    const noEos = joinPieces(streamPieces(new Table({ x: vectorFromArray([4, 5], new Int32()) }))).slice(0, -8);
    expect(rowsOf(readStream(noEos))).toEqual([{ x: 4 }, { x: 5 }]);
  });

  it('garbage is an error from Arrow, never a wrong table', () => {
    const good = joinPieces(streamPieces(new Table({ x: vectorFromArray([1, 2, 3], new Int32()) })));
    for (const bad of [new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]), good.slice(0, 20), Uint8Array.from(good, (b, i) => (i === 4 ? 0xff : b))]) {
      let result: Table | Error;
      try {
        result = readStream(bad);
      } catch (err) {
        result = err as Error;
      }
      let arrow: Table | Error;
      try {
        arrow = tableFromIPC(bad);
      } catch (err) {
        arrow = err as Error;
      }
      if (arrow instanceof Error) expect(result).toBeInstanceOf(Error);
      else expect(rowsOf(result as Table)).toEqual(rowsOf(arrow));
    }
  });
});
