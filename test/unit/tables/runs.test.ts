import fc from 'fast-check';
import { Bool, Field, Float64, Int32, Int64, RecordBatch, Schema, Struct, Table, Utf8, makeData, makeVector, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { fromIPC, toIPC } from '../../../client/tables/kernels.ts';
import { tableOp } from '../../../client/tables/ops.ts';
import type { FnSpec, Op, Step } from '../../../client/tables/spec.ts';
import { fnSpec } from '../../../client/tables/table.ts';
import { frame, unframe } from '../../../shared/shuffle/frames.ts';
import { rowsOf } from './fixtures.ts';

/**
 * A groupBy().apply shuffle split with runs (each shard key by key, behind
 * its run lengths; the output groups by run) gives the same output as the
 * same shuffle split without them (the output hashes every row again and
 * gathers row by row): the same columns and types, the same groups in the
 * same order, the same rows in the same order. (Not the same bytes: a copied
 * column's padding can differ from the builder's.) Tables from fast-check: string, integer, 64-bit and float
 * keys with nulls, one key or two, skewed keys, empty inputs, more outputs
 * than rows, and value columns of several types with nulls.
 */

/** Each group's rows with their position in the group and the group's size: the output depends on row order and group order. */
function numbered(g: Table, ctx: { arrow: typeof import('apache-arrow') }): Table {
  const a = ctx.arrow;
  const n = g.numRows;
  return g.assign(new a.Table({ pos: a.makeVector(Int32Array.from({ length: n }, (_, i) => i)), size: a.makeVector(Int32Array.from({ length: n }, () => n)) }));
}

interface Row {
  k: string | null;
  j: number | null;
  big: bigint | null;
  f: number | null;
  v: number | null;
  s: string | null;
  b: boolean | null;
  /** Strings of one width (8, 4 and 3 bytes): moved as fixed-size records (words, or bytes when unaligned). */
  w8: string;
  w4: string;
  w3: string;
}

function tableOf(rows: readonly Row[]): Table {
  return new Table({
    k: vectorFromArray(rows.map((r) => r.k), new Utf8()),
    j: vectorFromArray(rows.map((r) => r.j), new Int32()),
    big: vectorFromArray(rows.map((r) => r.big), new Int64()),
    f: vectorFromArray(rows.map((r) => r.f), new Float64()),
    v: vectorFromArray(rows.map((r) => r.v), new Float64()),
    s: vectorFromArray(rows.map((r) => r.s), new Utf8()),
    b: vectorFromArray(rows.map((r) => r.b), new Bool()),
    w8: vectorFromArray(rows.map((r) => r.w8), new Utf8()),
    w4: vectorFromArray(rows.map((r) => r.w4), new Utf8()),
    w3: vectorFromArray(rows.map((r) => r.w3), new Utf8()),
  });
}

const nullable = <T>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.oneof({ weight: 1, arbitrary: fc.constant(null) }, { weight: 5, arbitrary: arb });
const row: fc.Arbitrary<Row> = fc.record({
  // Skew: one key takes about half the rows.
  k: nullable(fc.oneof(fc.constant('HOT'), fc.constantFrom('a', 'bb', 'SEC00001', 'SEC00002', 'a longer key than eight bytes', 'é', '__proto__', 'constructor'))),
  j: nullable(fc.integer({ min: -3, max: 3 })),
  big: nullable(fc.bigInt({ min: -2n, max: 2n })),
  f: nullable(fc.constantFrom(0, -0, 1.5, Number.NaN)),
  v: nullable(fc.double({ noNaN: true })),
  s: nullable(fc.string({ maxLength: 12 })),
  b: nullable(fc.boolean()),
  w8: fc.constantFrom('ABCDEFGH', '12345678', 'zzzzzzzz'),
  w4: fc.constantFrom('ABCD', 'wxyz'),
  w3: fc.constantFrom('abc', 'XYZ'),
});

/** The whole shuffle in one process: every input split, each output's shards framed in input order, then unpacked. */
function shuffleApply(inputs: readonly Table[], by: string[], m: number, runs: boolean): Uint8Array[] {
  const fn: FnSpec = fnSpec(numbered, 'test');
  const steps: Step[] = [{ k: 'apply', by, fn, meta: null, empty: null }];
  const framed = inputs.map((t, i) => unframe(tableOp({ k: 'split', part: i, steps: [], by: { hash: by }, m, ...(runs ? { runs: true as const } : {}) }, toIPC(t)) as Uint8Array));
  return Array.from({ length: m }, (_, j) => {
    const op: Op = { k: 'unpack', part: j, schema: toIPC((inputs[0] as Table).slice(0, 0)), steps, ...(runs ? { runs: true as const } : {}) };
    return tableOp(op, frame(framed.map((shards) => shards[j] as Uint8Array))) as Uint8Array;
  });
}

describe('groupBy().apply shards with key runs', () => {
  it('give the same output as shards grouped row by row, for any keys and partitioning', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(row, { maxLength: 60 }), { minLength: 1, maxLength: 4 }),
        fc.constantFrom<string[]>(['k'], ['j'], ['big'], ['f'], ['k', 'j'], ['j', 'k', 'b'], ['w8'], ['w3', 'b']),
        fc.integer({ min: 1, max: 9 }),
        (parts, by, m) => {
          const inputs = parts.map(tableOf);
          const plain = shuffleApply(inputs, by, m, false);
          const withRuns = shuffleApply(inputs, by, m, true);
          for (let j = 0; j < m; j++) {
            const a = fromIPC(withRuns[j] as Uint8Array);
            const b = fromIPC(plain[j] as Uint8Array);
            expect(a.schema.fields.map(String)).toEqual(b.schema.fields.map(String));
            expect(rowsOf(a)).toEqual(rowsOf(b));
          }
          // Nothing lost or made up: every input row comes out once.
          const total = withRuns.reduce((n, b) => n + fromIPC(b).numRows, 0);
          expect(total).toBe(inputs.reduce((n, t) => n + t.numRows, 0));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('keeps each row\'s own key bytes where different bytes group together (invalid UTF-8 decodes to one U+FFFD)', () => {
    // Rows 0 and 2 hold 0xff, row 1 0xfe: one group ("\uFFFD"), three different stored keys.
    const bytes = Uint8Array.of(0xff, 0xfe, 0xff, 0x61);
    const k = makeVector(makeData({ type: new Utf8(), length: 4, nullCount: 0, valueOffsets: Int32Array.of(0, 1, 2, 3, 4), data: bytes }));
    const t = new Table({ k, v: makeVector(Float64Array.of(1, 2, 3, 4)) });
    const storedKeys = (ipc: Uint8Array): string[] => {
      const d = fromIPC(ipc).getChild('k')?.data[0];
      const o = d?.valueOffsets as Int32Array;
      return Array.from({ length: (d?.length ?? 0) }, (_, i) => Buffer.from((d?.values as Uint8Array).subarray(o[i], o[i + 1])).toString('hex'));
    };
    const [plain] = shuffleApply([t], ['k'], 1, false);
    const [withRuns] = shuffleApply([t], ['k'], 1, true);
    expect(storedKeys(withRuns as Uint8Array)).toEqual(['ff', 'fe', 'ff', '61']);
    expect(storedKeys(withRuns as Uint8Array)).toEqual(storedKeys(plain as Uint8Array));
  });

  it('handles a table of key columns only, and key names the schema repeats', () => {
    const keysOnly = new Table({ k: vectorFromArray(['x', 'y', 'x', 'z', 'x'], new Utf8()), j: vectorFromArray([1, 2, 1, 3, 1], new Int32()) });
    for (const m of [1, 3]) {
      const plain = shuffleApply([keysOnly, keysOnly.slice(1, 4)], ['k', 'j'], m, false);
      const withRuns = shuffleApply([keysOnly, keysOnly.slice(1, 4)], ['k', 'j'], m, true);
      for (let j = 0; j < m; j++) expect(rowsOf(fromIPC(withRuns[j] as Uint8Array))).toEqual(rowsOf(fromIPC(plain[j] as Uint8Array)));
      expect(withRuns.reduce((n, b) => n + fromIPC(b).numRows, 0)).toBe(8);
    }
    // Two columns named k (Arrow allows it): grouped by the first, the way the plain path reads it; nothing lost.
    const k1 = vectorFromArray(['a', 'b', 'a'], new Utf8());
    const k2 = vectorFromArray(['p', 'q', 'r'], new Utf8());
    const twice = new Table([new RecordBatch(new Schema([new Field('k', new Utf8()), new Field('k', new Utf8())]), makeData({ type: new Struct([new Field('k', new Utf8()), new Field('k', new Utf8())]), length: 3, nullCount: 0, children: [k1.data[0]!, k2.data[0]!] }))]);
    const plain = shuffleApply([twice], ['k'], 2, false);
    const withRuns = shuffleApply([twice], ['k'], 2, true);
    for (let j = 0; j < 2; j++) {
      const a = fromIPC(withRuns[j] as Uint8Array);
      const b = fromIPC(plain[j] as Uint8Array);
      expect(a.schema.fields.map(String)).toEqual(b.schema.fields.map(String));
      expect(a.toArray().map((r) => JSON.stringify([...r]))).toEqual(b.toArray().map((r) => JSON.stringify([...r])));
    }
  });

  it('a shard whose run lengths do not cover its rows fails the task with ShardFormatError', () => {
    const t = tableOf(Array.from({ length: 10 }, (_, i) => ({ k: `k${i % 3}`, j: i, big: null, f: null, v: i, s: null, b: null, w8: 'ABCDEFGH', w4: 'ABCD', w3: 'abc' })));
    const fn: FnSpec = fnSpec(numbered, 'test');
    const shards = unframe(tableOp({ k: 'split', part: 0, steps: [], by: { hash: ['k'] }, m: 1, runs: true }, toIPC(t)) as Uint8Array);
    const shard = Uint8Array.from(shards[0] as Uint8Array);
    // The first run's length, one short (after the run count, key count, value bytes and the one key position).
    const view = new DataView(shard.buffer);
    expect(view.getUint32(4, true)).toBe(1);
    view.setUint32(16, view.getUint32(16, true) - 1, true);
    const op: Op = { k: 'unpack', part: 0, schema: toIPC(t.slice(0, 0)), steps: [{ k: 'apply', by: ['k'], fn, meta: null, empty: null }], runs: true };
    expect(() => tableOp(op, frame([shard]))).toThrow(/ShardFormatError|runs cover 9 of its 10 rows/);
    // A prefix that claims more lengths than the shard holds.
    const bogus = new Uint8Array(16);
    new DataView(bogus.buffer).setUint32(0, 1_000_000, true);
    expect(() => tableOp(op, frame([bogus]))).toThrow(/cannot hold 1000000 run lengths/);
    expect(() => tableOp(op, frame([new Uint8Array(8)]))).toThrow(/no run header/);
  });
});
