/**
 * Key columns as integer codes: every row gets the code of its key tuple
 * (equal keys, equal codes), and each code keeps its key values as Arrow JS
 * returns them. Grouping, hash and range partitioning and sorting then work
 * on the few distinct keys and on typed arrays of codes, instead of on JS
 * values per row: a string key column is decoded once per chunk (one
 * TextDecoder call over its bytes) and never through Vector.get.
 */
import { Precision, Type, makeVector, type Data, type DataType, type Table, type Vector } from 'apache-arrow';
import { hashKey, hashPartition } from '../../shared/shuffle/hash.ts';
import { compareValues, rangePartition } from '../../shared/shuffle/ranges.ts';

/** Codes of one column's distinct values. Primitive values are their own Map keys; others (Dates, nested values) go by a typed string. */
class ColumnDict {
  readonly values: unknown[] = [];
  /** Utf8 values by their bytes (see ByteIndex). */
  readonly bytes = new ByteIndex();
  /** Whether two different byte strings decoded to one value (invalid UTF-8 becomes U+FFFD): then a code's rows may differ in their bytes. */
  merged = false;
  private readonly prim = new Map<unknown, number>();
  private readonly other = new Map<string, number>();

  code(v: unknown): number {
    if (v === undefined) v = null;
    if (v === null || typeof v !== 'object') {
      let c = this.prim.get(v);
      if (c === undefined) {
        c = this.values.length;
        this.prim.set(v, c);
        this.values.push(v);
      }
      return c;
    }
    const id = otherId(v);
    let c = this.other.get(id);
    if (c === undefined) {
      c = this.values.length;
      this.other.set(id, c);
      this.values.push(v);
    }
    return c;
  }

  /** The code of a string (the hot path: no type checks). */
  codeOfString(s: string): number {
    let c = this.prim.get(s);
    if (c === undefined) {
      c = this.values.length;
      this.prim.set(s, c);
      this.values.push(s);
    }
    return c;
  }

  /** The code of a value, or -1 when it has none yet (lookups that must not add keys). */
  find(v: unknown): number {
    if (v === undefined) v = null;
    return (v === null || typeof v !== 'object' ? this.prim.get(v) : this.other.get(otherId(v))) ?? -1;
  }
}

function otherId(v: object): string {
  if (v instanceof Date) return `d:${v.getTime()}`;
  return `j:${JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `n:${x.toString()}` : x)) ?? ''}`;
}

/** Largest per-column code that still combines exactly into one number (2^21 × 2^32 = 2^53). */
const COMBINE_EXACT = 2 ** 21;

/**
 * Codes of key tuples, shared across the tables encoded with it (a join
 * encodes both sides with one dictionary, so equal keys get equal codes).
 */
export class KeyDict {
  /** The key values of each code. */
  readonly keys: unknown[][] = [];
  private readonly cols: ColumnDict[];
  /** Multi-column keys: (code so far, next column's code) → combined code, per column after the first. */
  private readonly combos: Array<Map<number | string, number>>;

  constructor(readonly width: number) {
    this.cols = Array.from({ length: width }, () => new ColumnDict());
    this.combos = Array.from({ length: Math.max(0, width - 1) }, () => new Map());
  }

  /**
   * Whether rows of one code hold the same stored key, byte for byte, so far: false once two different UTF-8
   * byte strings decoded to one value. (Callers check column types too: 0 and -0 share a code.)
   */
  get exact(): boolean {
    return this.cols.every((c) => !c.merged);
  }

  /** One code per row of `t` for the key columns `cols` (adds unseen keys). */
  encode(t: Table, cols: readonly string[]): Int32Array {
    const per = keyColumns(t, cols).map((v, c) => columnCodes(v, this.cols[c] as ColumnDict));
    return this.combine(per, t.numRows, true);
  }

  /** Like encode, but a key never seen gets -1 (nothing is added). */
  lookup(t: Table, cols: readonly string[]): Int32Array {
    const per = keyColumns(t, cols).map((v, c) => {
      const dict = this.cols[c] as ColumnDict;
      const out = new Int32Array(v.length);
      let i = 0;
      for (const d of v.data as Data[]) forEachValue(d, (x) => (out[i++] = dict.find(x)));
      return out;
    });
    return this.combine(per, t.numRows, false);
  }

  private combine(per: Int32Array[], n: number, add: boolean): Int32Array {
    if (this.width === 1) {
      const codes = per[0] as Int32Array;
      const values = (this.cols[0] as ColumnDict).values;
      for (let c = this.keys.length; c < values.length; c++) this.keys.push([values[c]]);
      return codes;
    }
    // Column by column: (tuple code of the columns so far, this column's code) → tuple code.
    let acc = per[0] as Int32Array;
    let accKeys: unknown[][] | null = null;
    for (let c = 1; c < this.width; c++) {
      const map = this.combos[c - 1] as Map<number | string, number>;
      const col = per[c] as Int32Array;
      const next = new Int32Array(n);
      const last = c === this.width - 1;
      for (let i = 0; i < n; i++) {
        const a = acc[i] as number;
        const b = col[i] as number;
        if (a < 0 || b < 0) {
          next[i] = -1;
          continue;
        }
        const id = a < COMBINE_EXACT ? a * 4294967296 + b : `${a},${b}`;
        let code = map.get(id);
        if (code === undefined) {
          if (!add) {
            next[i] = -1;
            continue;
          }
          code = map.size;
          map.set(id, code);
          if (last) {
            const prefix: unknown[] = accKeys ? [...(accKeys[a] as unknown[])] : [(this.cols[0] as ColumnDict).values[a]];
            this.keys.push([...prefix, (this.cols[c] as ColumnDict).values[b]]);
          }
        }
        next[i] = code;
      }
      if (!last && add) accKeys = this.prefixKeys(c, map, accKeys);
      acc = next;
    }
    return acc;
  }

  /** Key prefixes (columns 0..c) by their combined code, for building the full tuples. */
  private prefixKeys(c: number, map: Map<number | string, number>, prev: unknown[][] | null): unknown[][] {
    const out: unknown[][] = new Array(map.size);
    for (const [id, code] of map) {
      const [a, b] = typeof id === 'number' ? [Math.floor(id / 4294967296), id % 4294967296] : id.split(',').map(Number) as [number, number];
      const prefix = prev ? (prev[a] as unknown[]) : [(this.cols[0] as ColumnDict).values[a]];
      out[code] = [...prefix, (this.cols[c] as ColumnDict).values[b]];
    }
    return out;
  }
}

/** The key columns of a table (throws naming a missing one). */
export function keyColumns(t: Table, cols: readonly string[]): Vector[] {
  return cols.map((c) => {
    const v = t.getChild(c);
    if (!v) throw new RangeError(`column "${c}" is not in the table (columns: ${t.schema.fields.map((f) => f.name).join(', ')})`);
    return v as Vector;
  });
}

// ------------------------------------------------------------ one column

const utf8 = new TextDecoder('utf-8', { fatal: false });

/** Integer and float types whose typed-array element is exactly what Vector.get returns. */
function isPlainNumber(type: DataType): boolean {
  if (type.typeId === Type.Int) return (type as unknown as { bitWidth: number }).bitWidth <= 32;
  return type.typeId === Type.Float && (type as unknown as { precision: Precision }).precision !== Precision.HALF;
}

function columnCodes(v: Vector, dict: ColumnDict): Int32Array {
  const out = new Int32Array(v.length);
  let at = 0;
  const type = v.type as DataType;
  for (const d of v.data as Data[]) {
    if (type.typeId === Type.Utf8) stringCodes(d, dict, out, at);
    else if (isPlainNumber(type)) {
      const values = d.values as unknown as ArrayLike<number>;
      const nulls = d.nullCount > 0;
      for (let i = 0; i < d.length; i++) out[at + i] = nulls && !d.getValid(i) ? dict.code(null) : dict.code(values[i]);
    } else {
      let i = at;
      forEachValue(d, (x) => (out[i++] = dict.code(x)));
    }
    at += d.length;
  }
  return out;
}

/** Every value of one chunk as Arrow JS returns it. */
function forEachValue(d: Data, f: (v: unknown) => void): void {
  if (d.typeId === Type.Utf8) {
    const strings = decodeStrings(d);
    for (let i = 0; i < d.length; i++) f(strings(i));
    return;
  }
  // One chunk as a vector: Arrow's own getter per value.
  const vec = vectorOf(d);
  for (let i = 0; i < d.length; i++) f(vec.get(i));
}

function vectorOf(d: Data): Vector {
  return makeVector(d) as Vector;
}

/** Whether an Int32Array reads bytes in the order ByteIndex builds its words (little-endian, as on x86 and arm64). */
const LITTLE_ENDIAN = new Uint8Array(Int32Array.of(1).buffer)[0] === 1;

function stringCodes(d: Data, dict: ColumnDict, out: Int32Array, at: number): void {
  const offsets = d.valueOffsets as Int32Array;
  const bytes = d.values as Uint8Array;
  const index = dict.bytes;
  const nulls = d.nullCount > 0;
  // 8-byte values at 4-aligned positions (fixed-width identifiers such as tickers) are read as two words at once.
  const words = LITTLE_ENDIAN && bytes.byteOffset % 4 === 0 ? new Int32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength >> 2) : null;
  let slots = index.table;
  let mask = (slots.length >> 2) - 1;
  for (let i = 0; i < d.length; i++) {
    if (nulls && !d.getValid(i)) {
      out[at + i] = dict.code(null);
      continue;
    }
    const from = offsets[i] as number;
    const to = offsets[i + 1] as number;
    let c = -1;
    if (words !== null && to - from === 8 && (from & 3) === 0) {
      // ByteIndex.findWords, written out here: workers inline little (worker/v8-tuning.ts), and as a call per row
      // the lookup cost 30 % more (bench/FINDINGS.md §8c).
      const w0 = words[from >> 2] as number;
      const w1 = words[(from >> 2) + 1] as number;
      for (let s = shortHash(w0, w1, 8) & mask; ; s = (s + 1) & mask) {
        const m = slots[4 * s + 2] as number;
        if (m === 9 && slots[4 * s] === w0 && slots[4 * s + 1] === w1) {
          c = slots[4 * s + 3] as number;
          break;
        }
        if (m === 0) break;
      }
      if (c < 0) c = index.findWords(w0, w1, 8);
    } else {
      c = index.find(bytes, from, to);
    }
    if (c < 0) {
      c = newStringCode(dict, bytes, from, to);
      slots = index.table;
      mask = (slots.length >> 2) - 1;
    }
    out[at + i] = c;
  }
}

/** A value ByteIndex has not seen (just looked up, so `add` knows its slot): decoded once and given its code. */
function newStringCode(dict: ColumnDict, bytes: Uint8Array, from: number, to: number): number {
  const known = dict.values.length;
  const c = dict.codeOfString(utf8.decode(bytes.subarray(from, to)));
  if (c < known) dict.merged = true;
  dict.bytes.add(bytes, from, to, c);
  return c;
}

/**
 * Codes of UTF-8 byte strings, found without making JS strings: an
 * open-addressing table over a byte arena holding one copy of each distinct
 * long value. A value is decoded only the first time it is seen.
 *
 * Values of up to 8 bytes (tickers, dates, short codes: most key columns) are
 * read as two 32-bit words, hashed from them and compared by them, never byte
 * by byte: 2× faster per row than FNV-1a and a byte compare (bench/micro-kernels.ts).
 * Longer values take FNV-1a and the arena. An entry is hashed the way its
 * length says, so both paths share one table.
 *
 * Each slot holds its entry inline, four int32s: a short value's two words,
 * its length + 1 and its code; a long value's hash, arena offset, -length and
 * code (0 in the third: empty). A lookup reads one slot's 16 bytes, not a slot
 * and then four arrays indexed by it; the table is kept at most a quarter
 * full. Encoding the 2,000-key security column of a 250k-row trades
 * partition went from 28-30 to 19-20.5 ns per row (bench/FINDINGS.md §8c).
 */
export class ByteIndex {
  /** Slots × [w0 | hash, w1 | arena offset, len + 1 | -len, code]. */
  private slots = new Int32Array(4 * 1024);

  private mask = 1023;
  private arena = new Uint8Array(4096);
  private used = 0;
  private size = 0;
  /** Where the last failed lookup ended (an empty slot) and what it hashed: add() fills that slot. */
  private lastSlot = 0;
  private lastHash = 0;
  private lastW0 = 0;
  private lastW1 = 0;

  /** The slots, for callers that probe short values themselves (stringCodes); replaced when the table grows. */
  get table(): Int32Array {
    return this.slots;
  }

  find(bytes: Uint8Array, from: number, to: number): number {
    const len = to - from;
    if (len <= 8) return this.findShort(bytes, from, len);
    let h = 0x811c9dc5;
    for (let b = from; b < to; b++) h = Math.imul(h ^ (bytes[b] as number), 0x01000193);
    this.lastHash = h;
    const slots = this.slots;
    const mask = this.mask;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const m = slots[4 * s + 2] as number;
      if (m === 0) {
        this.lastSlot = s;
        return -1;
      }
      if (m !== -len || slots[4 * s] !== h) continue;
      const at = slots[4 * s + 1] as number;
      let same = true;
      for (let k = 0; k < len; k++) {
        if (this.arena[at + k] !== bytes[from + k]) {
          same = false;
          break;
        }
      }
      if (same) return slots[4 * s + 3] as number;
    }
  }

  private findShort(bytes: Uint8Array, from: number, len: number): number {
    let w0 = 0;
    let w1 = 0;
    if (len === 8) {
      w0 = (bytes[from] as number) | ((bytes[from + 1] as number) << 8) | ((bytes[from + 2] as number) << 16) | ((bytes[from + 3] as number) << 24);
      w1 = (bytes[from + 4] as number) | ((bytes[from + 5] as number) << 8) | ((bytes[from + 6] as number) << 16) | ((bytes[from + 7] as number) << 24);
    } else {
      for (let k = 0; k < len; k++) {
        const x = bytes[from + k] as number;
        if (k < 4) w0 |= x << (8 * k);
        else w1 |= x << (8 * (k - 4));
      }
    }
    return this.findWords(w0, w1, len);
  }

  /**
   * The code of a value of `len` ≤ 8 bytes given as two little-endian words (zero-padded), or -1. Callers that
   * can read the words at once (stringCodes, for 8-byte values at 4-aligned positions) skip the byte loads.
   */
  findWords(w0: number, w1: number, len: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const meta = len + 1;
    for (let s = shortHash(w0, w1, len) & mask; ; s = (s + 1) & mask) {
      const m = slots[4 * s + 2] as number;
      if (m === meta && slots[4 * s] === w0 && slots[4 * s + 1] === w1) return slots[4 * s + 3] as number;
      if (m === 0) {
        this.lastSlot = s;
        this.lastW0 = w0;
        this.lastW1 = w1;
        return -1;
      }
    }
  }

  /** Add the bytes just looked up (and not found) with code `code`. */
  add(bytes: Uint8Array, from: number, to: number, code: number): void {
    const len = to - from;
    const s = this.lastSlot;
    if (len <= 8) {
      this.put(s, this.lastW0, this.lastW1, len + 1, code);
    } else {
      while (this.used + len > this.arena.length) {
        const a = new Uint8Array(this.arena.length * 2);
        a.set(this.arena);
        this.arena = a;
      }
      this.arena.set(bytes.subarray(from, to), this.used);
      this.put(s, this.lastHash, this.used, -len, code);
      this.used += len;
    }
    // At most a quarter full: probes stay short (a probe that runs on costs a mispredicted branch per row).
    if (++this.size * 4 > this.mask + 1) this.rehash();
  }

  private put(s: number, a: number, b: number, meta: number, code: number): void {
    this.slots[4 * s] = a;
    this.slots[4 * s + 1] = b;
    this.slots[4 * s + 2] = meta;
    this.slots[4 * s + 3] = code;
  }

  private rehash(): void {
    const old = this.slots;
    this.slots = new Int32Array(old.length * 2);
    this.mask = this.mask * 2 + 1;
    for (let e = 0; e < old.length; e += 4) {
      const meta = old[e + 2] as number;
      if (meta === 0) continue;
      const a = old[e] as number;
      const b = old[e + 1] as number;
      let s = (meta > 0 ? shortHash(a, b, meta - 1) : a) & this.mask;
      while (this.slots[4 * s + 2] !== 0) s = (s + 1) & this.mask;
      this.put(s, a, b, meta, old[e + 3] as number);
    }
  }
}

/** murmur3's 32-bit finalizer over two words and a length: every input bit reaches the low bits the slots use. */
function shortHash(w0: number, w1: number, len: number): number {
  let h = Math.imul(w0, 0xcc9e2d51) ^ Math.imul(w1 ^ (len << 24), 0x1b873593);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h;
}

/**
 * The strings of a Utf8 chunk: its bytes decoded in one call, then each
 * value is a substring. UTF-16 positions come from the UTF-8 lead bytes; if
 * the bytes are not valid UTF-8 (the lengths disagree) each value is decoded
 * on its own, exactly as Arrow would.
 */
export function decodeStrings(d: Data): (i: number) => string | null {
  const offsets = d.valueOffsets as Int32Array;
  const bytes = d.values as Uint8Array;
  const n = d.length;
  const start = offsets[0] as number;
  const end = offsets[n] as number;
  const nulls = d.nullCount > 0;
  const valid = (i: number) => !nulls || d.getValid(i);
  let ascii = true;
  for (let b = start; b < end; b++) {
    if ((bytes[b] as number) >= 0x80) {
      ascii = false;
      break;
    }
  }
  const all = utf8.decode(bytes.subarray(start, end));
  if (ascii) return (i) => (valid(i) ? all.substring((offsets[i] as number) - start, (offsets[i + 1] as number) - start) : null);
  // UTF-16 offset of every value: lead bytes count one unit, 4-byte sequences two.
  const units = new Int32Array(n + 1);
  let u = 0;
  let b = start;
  for (let i = 0; i < n; i++) {
    units[i] = u;
    const e = offsets[i + 1] as number;
    for (; b < e; b++) {
      const x = bytes[b] as number;
      if ((x & 0xc0) !== 0x80) u += x >= 0xf0 ? 2 : 1;
    }
  }
  units[n] = u;
  if (u !== all.length) return (i) => (valid(i) ? utf8.decode(bytes.subarray(offsets[i] as number, offsets[i + 1] as number)) : null);
  return (i) => (valid(i) ? all.substring(units[i] as number, units[i + 1] as number) : null);
}

// ------------------------------------------------------------ uses

/** Rows grouped by code: `order` lists row indices code by code (rows in order within a code), `starts[c]..starts[c+1]` is code c's run. */
export function bucketRows(codes: Int32Array, ncodes: number): { order: Int32Array; starts: Int32Array } {
  const starts = new Int32Array(ncodes + 1);
  for (let i = 0; i < codes.length; i++) (starts[(codes[i] as number) + 1] as number)++;
  for (let c = 0; c < ncodes; c++) starts[c + 1] = (starts[c + 1] as number) + (starts[c] as number);
  const fill = starts.slice(0, ncodes);
  const order = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) {
    const c = codes[i] as number;
    order[(fill[c] as number)++] = i;
  }
  return { order, starts };
}

/**
 * bucketRows kept as positions: row i's place `pos[i]` in the rows ordered
 * by code (stable), each code's run `starts[c]..starts[c+1]`, and its first
 * row `firsts[c]` (-1 for a code no row has). What a scatter needs
 * (kernels.ts, scatterVector), without the order itself.
 */
export function bucketPositions(codes: Int32Array, ncodes: number): { pos: Int32Array; starts: Int32Array; firsts: Int32Array } {
  const n = codes.length;
  const starts = new Int32Array(ncodes + 1);
  for (let i = 0; i < n; i++) (starts[(codes[i] as number) + 1] as number)++;
  for (let c = 0; c < ncodes; c++) starts[c + 1] = (starts[c + 1] as number) + (starts[c] as number);
  const fill = starts.slice(0, ncodes);
  const pos = new Int32Array(n);
  const firsts = new Int32Array(ncodes).fill(-1);
  for (let i = 0; i < n; i++) {
    const c = codes[i] as number;
    if (firsts[c] === -1) firsts[c] = i;
    pos[i] = (fill[c] as number)++;
  }
  return { pos, starts, firsts };
}

/** Per row, its output partition among `m` by the hash of its key (shared/shuffle/hash.ts: the same for any form of the key). */
export function hashParts(t: Table, cols: readonly string[], m: number): Int32Array {
  const dict = new KeyDict(cols.length);
  const codes = dict.encode(t, cols);
  const partOf = Int32Array.from(dict.keys, (k) => hashPartition(hashKey(k), m));
  return mapCodes(codes, partOf);
}

/**
 * A hash split whose shards come key by key: row i goes to position `pos[i]`
 * of the rows in (output, key) order, keys in order of first appearance and
 * rows in their order within a key. Output j is positions
 * `rowStarts[j]..rowStarts[j+1]`, made of runs of one key each, of lengths
 * `runLengths[j]`; runs are numbered output by output, and `runFirstRow[r]`
 * is run r's first row. The receiver groups by run instead of hashing every
 * row again, in the same group order and row order as grouping the
 * concatenated shards would give (groupRuns).
 */
export function hashRuns(t: Table, cols: readonly string[], m: number): { pos: Int32Array; rowStarts: Int32Array; runLengths: Int32Array[]; runFirstRow: Int32Array; exact: boolean } {
  const dict = new KeyDict(cols.length);
  const codes = dict.encode(t, cols);
  const nkeys = dict.keys.length;
  const partOf = Int32Array.from(dict.keys, (k) => hashPartition(hashKey(k), m));
  // Keys ranked by (output, code): a counting sort of the codes by output, codes ascending within one. A key's
  // rank is its run's number.
  const byOutput = bucketRows(partOf, m);
  const rank = new Int32Array(nkeys);
  for (let r = 0; r < nkeys; r++) rank[byOutput.order[r] as number] = r;
  // Each row's position among the rows ordered by run.
  const { pos, starts, firsts: runFirstRow } = bucketPositions(mapCodes(codes, rank), nkeys);
  const rowStarts = new Int32Array(m + 1);
  const runLengths: Int32Array[] = [];
  for (let j = 0; j < m; j++) {
    const first = byOutput.starts[j] as number;
    const end = byOutput.starts[j + 1] as number;
    rowStarts[j + 1] = starts[end] as number;
    const lengths = new Int32Array(end - first);
    for (let r = first; r < end; r++) lengths[r - first] = (starts[r + 1] as number) - (starts[r] as number);
    runLengths.push(lengths);
  }
  return { pos, rowStarts, runLengths, runFirstRow, exact: dict.exact };
}

/**
 * Codes of key tuples given as values (a run's key, read from its first
 * row), with KeyDict.encode's equality: the same per-column dictionaries, so
 * a group here is a group there. Keys in order of first appearance.
 */
export class TupleCodes {
  readonly keys: unknown[][] = [];
  private readonly cols: ColumnDict[];
  /** Multi-column keys: their per-column codes joined → tuple code. */
  private readonly tuples = new Map<string, number>();

  constructor(readonly width: number) {
    this.cols = Array.from({ length: width }, () => new ColumnDict());
  }

  code(values: readonly unknown[]): number {
    if (this.width === 1) {
      const col = this.cols[0] as ColumnDict;
      const c = col.code(values[0]);
      if (c === this.keys.length) this.keys.push([col.values[c]]);
      return c;
    }
    const per = this.cols.map((col, c) => col.code(values[c]));
    const id = per.join(',');
    let code = this.tuples.get(id);
    if (code === undefined) {
      code = this.keys.length;
      this.tuples.set(id, code);
      this.keys.push(per.map((x, c) => (this.cols[c] as ColumnDict).values[x]));
    }
    return code;
  }
}

/** Per row, its output partition by `divisions` (shared/shuffle/ranges.ts), clamped below `m`. */
export function rangeParts(t: Table, col: string, divisions: readonly unknown[], m: number): Int32Array {
  const dict = new KeyDict(1);
  const codes = dict.encode(t, [col]);
  const partOf = Int32Array.from(dict.keys, (k) => Math.min(m - 1, rangePartition(k[0], divisions)));
  return mapCodes(codes, partOf);
}

function mapCodes(codes: Int32Array, table: Int32Array): Int32Array {
  const out = new Int32Array(codes.length);
  for (let i = 0; i < codes.length; i++) out[i] = table[codes[i] as number] as number;
  return out;
}

/** Row indices ordered by the key columns (stable; nulls first; compareValues order). */
export function sortIndices(t: Table, cols: readonly string[]): Int32Array {
  const dict = new KeyDict(cols.length);
  const codes = dict.encode(t, cols);
  const byKey = Array.from(dict.keys, (_, c) => c).sort((a, b) => compareTuples(dict.keys[a] as unknown[], dict.keys[b] as unknown[]) || a - b);
  const rank = new Int32Array(dict.keys.length);
  byKey.forEach((c, r) => (rank[c] = r));
  return bucketRows(mapCodes(codes, rank), rank.length).order;
}

export function compareTuples(x: readonly unknown[], y: readonly unknown[]): number {
  for (let c = 0; c < x.length; c++) {
    const d = compareValues(x[c], y[c]);
    if (d !== 0) return d;
  }
  return 0;
}

/** Groups of rows with equal keys, in order of first appearance: each group's key values and its run in `order`. */
export function groupRuns(t: Table, cols: readonly string[]): { keys: unknown[][]; order: Int32Array; starts: Int32Array } {
  const dict = new KeyDict(cols.length);
  const codes = dict.encode(t, cols);
  const { order, starts } = bucketRows(codes, dict.keys.length);
  return { keys: dict.keys, order, starts };
}
