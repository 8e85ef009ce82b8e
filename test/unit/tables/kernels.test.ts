import fc from 'fast-check';
import { Bool, Float64, Int32, Int64, Table, Utf8, Binary, DateMillisecond, makeData, makeVector, vectorFromArray, type Vector } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { compact, concatTables, take } from '../../../client/tables/kernels.ts';
import { ByteIndex, groupRuns, hashParts, KeyDict, rangeParts, sortIndices } from '../../../client/tables/keys.ts';
import { sample, split } from '../../../client/tables/ops.ts';
import { fromIPC } from '../../../client/tables/kernels.ts';
import { hashKey, hashPartition } from '../../../shared/shuffle/hash.ts';
import { compareValues, rangePartition } from '../../../shared/shuffle/ranges.ts';

/**
 * The table kernels against plain JS over Vector.get: take (typed-array
 * copies per type), key codes (string keys found by their bytes), grouping,
 * sorting and partitioning. Strings include multi-byte and astral
 * characters, `__proto__` and `constructor`; tables come in several chunks.
 */

const str = fc.oneof(fc.constantFrom('a', 'b', '__proto__', 'constructor', '', 'é', '😀x', 'HOT'), fc.string({ maxLength: 6, unit: 'binary' }));
const rowArb = fc.record({
  s: fc.option(str, { freq: 5 }),
  i: fc.option(fc.integer({ min: -3, max: 3 }), { freq: 5 }),
  f: fc.option(fc.oneof(fc.double(), fc.constantFrom(0, -0, Number.NaN)), { freq: 5 }),
  b: fc.option(fc.boolean(), { freq: 5 }),
  l: fc.option(fc.bigInt({ min: -5n, max: 5n }), { freq: 5 }),
});
type R = { s: string | null; i: number | null; f: number | null; b: boolean | null; l: bigint | null };

function tableOf(rows: readonly R[]): Table {
  return new Table({
    s: vectorFromArray(rows.map((r) => r.s), new Utf8()),
    i: vectorFromArray(rows.map((r) => r.i), new Int32()),
    f: vectorFromArray(rows.map((r) => r.f), new Float64()),
    b: vectorFromArray(rows.map((r) => r.b), new Bool()),
    l: vectorFromArray(rows.map((r) => r.l), new Int64()),
    d: vectorFromArray(rows.map((r) => (r.i === null ? null : new Date(r.i * 86_400_000))), new DateMillisecond()),
    x: vectorFromArray(rows.map((r) => (r.s === null ? null : new TextEncoder().encode(r.s))), new Binary()),
  });
}

/** The rows as several chunks (and slices of them), as unpacked shuffles and concatenations produce. */
function chunked(rows: readonly R[], cuts: readonly number[]): Table {
  const at = [...new Set(cuts.map((c) => Math.min(c, rows.length)))].sort((a, b) => a - b);
  const pieces: Table[] = [];
  let from = 0;
  for (const c of [...at, rows.length]) {
    if (c < from) continue;
    // A slice of a larger table: offsets and bitmaps that do not start at 0.
    const padded = tableOf([...rows.slice(Math.max(0, from - 1), from), ...rows.slice(from, c)]);
    pieces.push(padded.slice(from > 0 ? 1 : 0));
    from = c;
  }
  const t = tableOf([]);
  return concatTables(pieces, t.schema);
}

const plain = (t: Table, idx: ArrayLike<number>) =>
  Array.from(idx, (i) => t.schema.fields.map((f) => {
    const v = (t.getChild(f.name) as Vector).get(i);
    return v instanceof Uint8Array ? [...v] : v;
  }));

const cases = fc.record({ rows: fc.array(rowArb, { maxLength: 60 }), cuts: fc.array(fc.nat(60), { maxLength: 4 }) });

describe('Module: client/tables kernels', () => {
  it('take gives the rows asked for, in that order, for every column type, from chunked and sliced tables', () => {
    fc.assert(
      fc.property(cases, fc.array(fc.nat(), { maxLength: 80 }), ({ rows, cuts }, picks) => {
        const t = chunked(rows, cuts);
        const idx = rows.length === 0 ? [] : picks.map((p) => p % rows.length);
        const got = take(t, idx);
        expect(got.batches.length).toBeLessThanOrEqual(1);
        expect(plain(got, Array.from(idx, (_, k) => k))).toEqual(plain(t, idx));
        expect(plain(compact(t), rows.map((_, i) => i))).toEqual(plain(t, rows.map((_, i) => i)));
      }),
    );
  });

  it('take moves strings of one width as records (aligned words or bytes) with the same values, nulls and slices as the generic path', () => {
    /* Widths 1..12 cover word-aligned (4, 8, 12) and byte records; the pad shifts the first value's byte offset
       so aligned widths also take the byte path; nulls of the same width keep the width uniform. */
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.array(fc.option(fc.nat(9999), { freq: 6 }), { minLength: 1, maxLength: 50 }),
        fc.nat(3),
        fc.array(fc.nat(49), { maxLength: 80 }),
        (w, ids, pad, picks) => {
          const value = (k: number) => `${'x'.repeat(w)}${k}`.slice(-w);
          const rows = ids.map((k) => (k === null ? null : value(k)));
          // A null gets w placeholder bytes, so every value (null or not) spans w bytes.
          const bytes = new TextEncoder().encode('#'.repeat(pad) + rows.map((r) => r ?? '?'.repeat(w)).join(''));
          const offsets = Int32Array.from({ length: rows.length + 1 }, (_, i) => pad + i * w);
          const valid = new Uint8Array(Math.ceil(rows.length / 8));
          rows.forEach((r, i) => { if (r !== null) valid[i >> 3] = (valid[i >> 3] as number) | (1 << (i & 7)); });
          const nulls = rows.filter((r) => r === null).length;
          const data = makeData({ type: new Utf8(), length: rows.length, nullCount: nulls, valueOffsets: offsets, data: bytes, nullBitmap: nulls > 0 ? valid : undefined });
          const t = new Table({ s: makeVector(data) });
          const idx = Int32Array.from(picks.filter((i) => i < rows.length));
          const got = take(t, idx);
          expect([...(got.getChild('s') as Vector)]).toEqual(Array.from(idx, (i) => rows[i]));
          // Sliced input: offsets not starting at the buffer's start.
          if (rows.length > 2) {
            const sliced = t.slice(1);
            const idx2 = Int32Array.from(picks.filter((i) => i < rows.length - 1));
            expect([...(take(sliced, idx2).getChild('s') as Vector)]).toEqual(Array.from(idx2, (i) => rows[i + 1]));
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('key codes: equal keys and only equal keys share a code, for one and several columns', () => {
    fc.assert(
      fc.property(cases, fc.subarray(['s', 'i', 'f', 'b', 'l', 'd', 'x'], { minLength: 1 }), ({ rows, cuts }, cols) => {
        const t = chunked(rows, cuts);
        const dict = new KeyDict(cols.length);
        const codes = dict.encode(t, cols);
        // Non-finite numbers by name: JSON writes Infinity, -Infinity and NaN as null, another key.
        const id = (i: number) => JSON.stringify(plain(t.select(cols), [i])[0], (_k, v: unknown) => (typeof v === 'bigint' ? `n${v}` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : Object.is(v, -0) ? 0 : v));
        for (let i = 0; i < t.numRows; i++) {
          expect(JSON.stringify(dict.keys[codes[i] as number], (_k, v: unknown) => (typeof v === 'bigint' ? `n${v}` : typeof v === 'number' && !Number.isFinite(v) ? String(v) : v instanceof Uint8Array ? [...v] : Object.is(v, -0) ? 0 : v))).toBe(id(i));
          for (let j = 0; j < i; j++) expect(codes[i] === codes[j]).toBe(id(i) === id(j));
        }
      }),
      // Found in CI: a null key and Infinity, which JSON alone would call equal.
      { examples: [[{ rows: [{ s: null, i: null, f: null, b: null, l: 1n }, { s: null, i: null, f: Number.POSITIVE_INFINITY, b: null, l: 1n }], cuts: [] }, ['f', 'l']]] },
    );
  });

  it('a second table encoded with the same dictionary gets the same codes; lookup adds nothing', () => {
    const a = tableOf([{ s: 'x', i: 1, f: 0, b: true, l: 1n }, { s: 'y', i: 2, f: 0, b: true, l: 1n }]);
    const b = tableOf([{ s: 'y', i: 2, f: 0, b: false, l: 1n }, { s: 'z', i: 2, f: 0, b: false, l: 1n }, { s: 'x', i: 1, f: 1, b: null, l: null }]);
    const dict = new KeyDict(2);
    expect([...dict.encode(a, ['s', 'i'])]).toEqual([0, 1]);
    expect([...dict.lookup(b, ['s', 'i'])]).toEqual([1, -1, 0]);
    expect(dict.keys).toEqual([['x', 1], ['y', 2]]);
  });

  it('key codes of 8-byte strings are the same whether read as aligned words or byte by byte', () => {
    /* stringCodes reads an 8-byte value at a 4-aligned position as two words (ByteIndex.findWords) and any other
       value byte by byte. The same string must get the same code either way: chunks are placed at byte offsets
       0-3 into their buffer, and a value of another length shifts the positions of the values after it. */
    const str8 = fc.oneof(
      fc.constantFrom('SEC00001', 'SEC00002', 'AAPL.OQ ', 'é-12345', '__proto_', 'construc', '\0\0\0\0\0\0\0\0', 'abcdefg\0'),
      fc.string({ minLength: 8, maxLength: 8, unit: 'binary-ascii' }),
    );
    const value = fc.oneof({ weight: 5, arbitrary: str8 }, { weight: 1, arbitrary: fc.string({ maxLength: 10 }) });
    fc.assert(
      fc.property(fc.array(fc.array(value, { maxLength: 40 }), { minLength: 1, maxLength: 4 }), fc.array(fc.nat(3), { minLength: 4, maxLength: 4 }), (chunks, shifts) => {
        const enc = new TextEncoder();
        const datas = chunks.map((rows, c) => {
          const parts = rows.map((r) => enc.encode(r));
          const size = parts.reduce((n, p) => n + p.length, 0);
          const shift = shifts[c] as number;
          const bytes = new Uint8Array(new ArrayBuffer(size + shift + 4), shift, size);
          const offsets = new Int32Array(rows.length + 1);
          parts.forEach((p, i) => {
            bytes.set(p, offsets[i] as number);
            offsets[i + 1] = (offsets[i] as number) + p.length;
          });
          return makeData({ type: new Utf8(), length: rows.length, nullCount: 0, valueOffsets: offsets, data: bytes });
        });
        const t = new Table({ s: makeVector(datas) });
        const all = chunks.flat();
        const dict = new KeyDict(1);
        const codes = dict.encode(t, ['s']);
        for (let i = 0; i < all.length; i++) {
          expect(dict.keys[codes[i] as number]).toEqual([all[i]]);
          for (let j = 0; j < i; j++) expect(codes[i] === codes[j]).toBe(all[i] === all[j]);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('ByteIndex finds byte strings by content across growth', () => {
    const ix = new ByteIndex();
    const enc = (s: string) => new TextEncoder().encode(s);
    for (let k = 0; k < 5000; k++) {
      const b = enc(`key-${k}`);
      expect(ix.find(b, 0, b.length)).toBe(-1);
      ix.add(b, 0, b.length, k);
    }
    for (let k = 0; k < 5000; k += 7) {
      const b = enc(`xx key-${k}`);
      expect(ix.find(b, 3, b.length)).toBe(k);
    }
  });

  it('ByteIndex: equal bytes and only equal bytes share a code, for short (word) and long values alike', () => {
    /* Values up to 8 bytes are compared as two zero-padded words plus the length, so "a", "a\0" and
       "a\0\0" must still differ; longer ones go byte by byte. Offsets into a shared buffer are arbitrary. */
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 12 }), { maxLength: 300 }), fc.nat({ max: 5 }), (values, pad) => {
        const ix = new ByteIndex();
        const seen = new Map<string, number>();
        for (const v of [...values, new Uint8Array([97]), new Uint8Array([97, 0]), new Uint8Array([97, 0, 0]), new Uint8Array(0), new Uint8Array(8), new Uint8Array(9)]) {
          const buf = new Uint8Array(pad + v.length);
          buf.set(v, pad);
          const id = Array.from(v).join(',') + `#${v.length}`;
          const got = ix.find(buf, pad, pad + v.length);
          expect(got).toBe(seen.get(id) ?? -1);
          if (got < 0) {
            ix.add(buf, pad, pad + v.length, seen.size);
            seen.set(id, seen.size);
          }
        }
      }),
      { numRuns: 200 },
    );
    // Many values equal but for trailing zero bytes, in one table (their probe chains cross): all distinct.
    const ix = new ByteIndex();
    let code = 0;
    for (let k = 0; k < 4000; k++) {
      for (const len of [2, 3, 5, 8]) {
        const b = new Uint8Array(len);
        b[0] = k & 0xff;
        b[1] = k >> 8;
        expect(ix.find(b, 0, len)).toBe(-1);
        ix.add(b, 0, len, code++);
      }
    }
    expect(code).toBe(16_000);
  });

  it('groupRuns, sortIndices, hash and range partitions agree with plain JS over the values', () => {
    fc.assert(
      fc.property(cases, fc.constantFrom<string[]>(['s'], ['i'], ['f'], ['s', 'i'], ['l', 'b']), fc.integer({ min: 1, max: 5 }), ({ rows, cuts }, cols, m) => {
        const t = chunked(rows, cuts);
        const vals = plain(t.select(cols), rows.map((_, i) => i));
        // Groups: first-appearance order, rows in order within each.
        const { keys, order, starts } = groupRuns(t, cols);
        const seen: number[] = [];
        for (let g = 0; g < keys.length; g++) {
          const members = [...order.subarray(starts[g], starts[g + 1])];
          expect(members).toEqual([...members].sort((x, y) => x - y));
          seen.push(members[0] as number);
        }
        expect(seen).toEqual([...seen].sort((x, y) => x - y));
        // Sort: stable, compareValues order, nulls first.
        const want = rows.map((_, i) => i).sort((x, y) => {
          for (let c = 0; c < cols.length; c++) {
            const d = compareValues((vals[x] as unknown[])[c], (vals[y] as unknown[])[c]);
            if (d !== 0) return d;
          }
          return x - y;
        });
        const got = [...sortIndices(t, cols)];
        expect(got.map((i) => vals[i])).toEqual(want.map((i) => vals[i]));
        // Partitions: the shared hash of the key values; ranges by compareValues.
        const hp = hashParts(t, cols, m);
        for (let i = 0; i < rows.length; i++) expect(hp[i]).toBe(hashPartition(hashKey(vals[i] as unknown[]), m));
        const divisions = [...new Set(vals.map((v) => v[0]).filter((v) => v !== null))].sort(compareValues).filter((_, k) => k % 2 === 0);
        if (divisions.length >= 2) {
          const rp = rangeParts(t, cols[0] as string, divisions, m);
          for (let i = 0; i < rows.length; i++) expect(rp[i]).toBe(Math.min(m - 1, rangePartition((vals[i] as unknown[])[0], divisions)));
        }
        // split: every row in exactly the shard of its partition, in order.
        const shards = split(t, { hash: cols }, m).map((b) => (b.byteLength === 0 ? null : fromIPC(b)));
        for (let j = 0; j < m; j++) {
          const mine = rows.map((_, i) => i).filter((i) => hp[i] === j);
          const s = shards[j];
          expect(s?.numRows ?? 0).toBe(mine.length);
          if (s) expect(plain(s, mine.map((_, k) => k))).toEqual(plain(t, mine));
        }
      }),
    );
  });

  it('sample: sorted values from spread rows; size 0 gives the smallest and largest', () => {
    const t = tableOf(Array.from({ length: 1000 }, (_, k) => ({ s: null, i: (k * 7) % 1000, f: null, b: null, l: null })));
    const s = sample(t, 'i', 10);
    expect(s).toEqual([...s].sort(compareValues));
    expect(s.length).toBe(10);
    expect(sample(t, 'i', 0)).toEqual([0, 999]);
    expect(sample(tableOf([{ s: null, i: null, f: null, b: null, l: null }]), 'i', 0)).toEqual([]);
  });
});
