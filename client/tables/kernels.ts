/**
 * Arrow table kernels the partition operations need and Arrow JS lacks:
 * take (gather rows by index, typed-array fast path for fixed-width
 * columns), concatenation into one batch, key extraction, grouping and
 * sorting. They run in task threads (bundled into the ops module) and in the
 * client (the single-process reference, meta inference).
 */
import { headedBytes } from '../../comm/raw-result.ts';
import { joinPieces, piecesLength, writePieces } from '../../shared/shuffle/frames.ts';
import { readStream, streamPieces } from './ipc-stream.ts';
import {
  Precision, RecordBatch, Struct, Table, Type, makeBuilder, makeData, makeVector,
  type Data, type DataType, type Schema, type Vector,
} from 'apache-arrow';

/** The table of Arrow IPC stream bytes (bodies are views of `bytes`): ipc-stream.ts, Arrow's reader for anything unusual. */
export function fromIPC(bytes: Uint8Array): Table {
  return readStream(bytes);
}

export function toIPC(t: Table): Uint8Array {
  return joinPieces(streamPieces(t));
}

/**
 * The Arrow IPC stream of `t` as pieces (metadata and the columns' own
 * buffers), not yet joined: a caller writes them once into the memory they
 * travel in (`toHeadedIPC`, shard frames) instead of joining them first and
 * copying the join again.
 */
export function ipcPieces(t: Table): Uint8Array[] {
  return streamPieces(t);
}

/** Arrow IPC of `t` written once into shared memory behind its bin32 header (comm/raw-result.ts): a task result sent without another copy. */
export function toHeadedIPC(t: Table): Uint8Array {
  const pieces = ipcPieces(t);
  const out = headedBytes(piecesLength(pieces));
  writePieces(pieces, out);
  return out;
}

const FIXED: ReadonlySet<Type> = new Set([Type.Int, Type.Float, Type.Date, Type.Timestamp, Type.Time, Type.Duration, Type.Interval, Type.Decimal, Type.FixedSizeBinary]);

function isFixed(type: DataType): boolean {
  return FIXED.has(type.typeId) && !(type.typeId === Type.Float && (type as unknown as { precision: Precision }).precision === Precision.HALF);
}

type Typed = { length: number; [i: number]: number | bigint; set(a: ArrayLike<number | bigint>, offset?: number): void };

/** Where each taken row lives: its chunk (null: all in chunk 0) and its index there. */
interface Located {
  chunk: Int32Array | null;
  local: ArrayLike<number>;
}

function locate(chunks: readonly Data[], idx: ArrayLike<number>): Located {
  if (chunks.length <= 1) return { chunk: null, local: idx };
  const starts: number[] = [];
  let total = 0;
  for (const d of chunks) {
    starts.push(total);
    total += d.length;
  }
  const n = idx.length;
  const chunk = new Int32Array(n);
  const local = new Int32Array(n);
  let c = 0;
  for (let k = 0; k < n; k++) {
    const row = idx[k] as number;
    // Indices are mostly ascending: move from the last chunk, search otherwise.
    if (row < (starts[c] as number) || (c + 1 < starts.length && row >= (starts[c + 1] as number))) c = findChunk(starts, row);
    chunk[k] = c;
    local[k] = row - (starts[c] as number);
  }
  return { chunk, local };
}

/** The validity bitmap of the taken rows (empty when none is null) and the null count. */
function takeValidity(chunks: readonly Data[], at: Located, n: number): { bitmap: Uint8Array; nullCount: number } {
  if (!chunks.some((d) => d.nullCount > 0)) return { bitmap: new Uint8Array(0), nullCount: 0 };
  const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
  let nullCount = 0;
  for (let k = 0; k < n; k++) {
    const d = chunks[at.chunk ? (at.chunk[k] as number) : 0] as Data;
    if (d.nullCount > 0 && !d.getValid(at.local[k] as number)) nullCount++;
    else bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
  }
  return { bitmap: nullCount > 0 ? bitmap : new Uint8Array(0), nullCount };
}

/** A row-moving loop: `gather` reads row idx[k] into place k, `scatter` writes row i into place idx[i]. */
type Move = (out: Typed, values: Typed, idx: ArrayLike<number>, n: number, stride: number) => void;
type MoveKind = 'gather' | 'scatter';
const MOVE_BODIES: Record<MoveKind, string> = {
  gather: `
    if (stride === 1) { for (let k = 0; k < n; k++) out[k] = values[idx[k]]; return; }
    for (let k = 0; k < n; k++) { const i = idx[k] * stride; const o = k * stride; for (let s = 0; s < stride; s++) out[o + s] = values[i + s]; }`,
  scatter: `
    if (stride === 1) { for (let i = 0; i < n; i++) out[idx[i]] = values[i]; return; }
    for (let i = 0; i < n; i++) { const o = idx[i] * stride; const v = i * stride; for (let s = 0; s < stride; s++) out[o + s] = values[v + s]; }`,
};
const moves: Record<MoveKind, Map<unknown, Move>> = { gather: new Map(), scatter: new Map() };

/**
 * The gather or scatter loop for one typed-array class. One loop shared by
 * every column type sees Float64Array, Int32Array, Uint8Array… and its
 * element loads and stores go megamorphic: ~100 ns per value against ~7 ns
 * for a loop that only ever sees one class (bench/micro-take.ts). A
 * `new Function` body has its own type feedback, so each class gets a
 * monomorphic loop.
 */
function moveFor(kind: MoveKind, ctor: unknown): Move {
  let f = moves[kind].get(ctor);
  if (!f) {
    // A fixed body (no input in it), compiled once per class and kind: see above.
    f = new Function('out', 'values', 'idx', 'n', 'stride', MOVE_BODIES[kind]) as Move;
    moves[kind].set(ctor, f);
  }
  return f;
}

const gatherFor = (ctor: unknown): Move => moveFor('gather', ctor);

/** Moved fixed-width values as the column's own array class (64-bit integers move as pairs of Int32s). */
function asColumnValues(d0: Data, moved: Typed, n: number): unknown {
  const v0 = d0.values as unknown as ArrayBufferView;
  const BigCtor = v0 instanceof BigInt64Array ? BigInt64Array : v0 instanceof BigUint64Array ? BigUint64Array : null;
  return BigCtor ? new BigCtor((moved as unknown as Int32Array).buffer as ArrayBuffer, 0, n * d0.stride) : moved;
}

/**
 * The values of fixed-width chunks as one typed array, viewed so that a gather
 * never makes a BigInt per value (64-bit integers move as pairs of Int32s).
 */
function flatValues(chunks: readonly Data[], stride: number): { values: Typed; stride: number } {
  const d0 = chunks[0] as Data;
  const v0 = d0.values as unknown as Typed & ArrayBufferView;
  const wide = v0 instanceof BigInt64Array || v0 instanceof BigUint64Array;
  const view = (v: ArrayBufferView, len: number): Typed => (wide ? (new Int32Array(v.buffer, v.byteOffset, len * 2) as unknown as Typed) : ((v as unknown as { subarray(a: number, b: number): Typed }).subarray(0, len)));
  const s = wide ? stride * 2 : stride;
  if (chunks.length === 1) return { values: view(v0, d0.length * stride), stride: s };
  let total = 0;
  for (const d of chunks) total += d.length;
  const Ctor = (wide ? Int32Array : v0.constructor) as new (n: number) => Typed;
  const flat = new Ctor(total * s);
  let at = 0;
  for (const d of chunks) {
    flat.set(view(d.values as unknown as ArrayBufferView, d.length * stride) as unknown as ArrayLike<number>, at);
    at += d.length * s;
  }
  return { values: flat, stride: s };
}

/** Offsets and bytes of string or binary chunks as one chunk's (offsets rebased to one byte buffer). */
function flatStrings(chunks: readonly Data[]): { offsets: Int32Array; bytes: Uint8Array } {
  if (chunks.length === 1) {
    const d = chunks[0] as Data;
    return { offsets: d.valueOffsets as Int32Array, bytes: d.values as Uint8Array };
  }
  let rows = 0;
  let size = 0;
  for (const d of chunks) {
    const o = d.valueOffsets as Int32Array;
    rows += d.length;
    size += (o[d.length] as number) - (o[0] as number);
  }
  const offsets = new Int32Array(rows + 1);
  const bytes = new Uint8Array(size);
  let r = 0;
  let pos = 0;
  for (const d of chunks) {
    const o = d.valueOffsets as Int32Array;
    const base = o[0] as number;
    const end = o[d.length] as number;
    bytes.set((d.values as Uint8Array).subarray(base, end), pos);
    for (let i = 1; i <= d.length; i++) offsets[r + i] = (o[i] as number) - base + pos;
    r += d.length;
    pos += end - base;
  }
  return { offsets, bytes };
}

/** Rows `idx` of a column, as one chunk: typed-array copies for fixed-width, string, binary and boolean columns. */
export function takeVector(v: Vector, idx: ArrayLike<number>): Data {
  const type = v.type as DataType;
  const n = idx.length;
  const chunks = v.data as Data[];
  if (chunks.length === 0) return buildData(type, n, (k) => v.get(idx[k] as number));
  const d0 = chunks[0] as Data;
  // Where each row lives, per chunk: needed only for nulls and booleans (values are flattened into one array first).
  const located = (): Located => locate(chunks, idx);
  const validity = () => (chunks.some((d) => d.nullCount > 0) ? takeValidity(chunks, located(), n) : { bitmap: new Uint8Array(0), nullCount: 0 });
  if (isFixed(type)) {
    const { values, stride } = flatValues(chunks, d0.stride);
    const ArrayType = values.constructor as new (n: number) => Typed;
    const gathered = new ArrayType(n * stride);
    gatherFor(ArrayType)(gathered, values, idx, n, stride);
    const out = asColumnValues(d0, gathered, n);
    const { bitmap, nullCount } = validity();
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) {
    const { offsets: o, bytes } = flatStrings(chunks);
    const width = pickedWidth(o, idx, n);
    if (width > 0) {
      const { bitmap, nullCount } = validity();
      return makeData({ type, length: n, nullCount, valueOffsets: stepOffsets(n, width), data: gatherRecords(bytes, o[0] as number, width, idx, n), nullBitmap: bitmap } as never) as Data;
    }
    const offsets = new Int32Array(n + 1);
    let total = 0;
    for (let k = 0; k < n; k++) {
      const i = idx[k] as number;
      total += (o[i + 1] as number) - (o[i] as number);
      offsets[k + 1] = total;
    }
    const out = new Uint8Array(total);
    for (let k = 0; k < n; k++) {
      const i = idx[k] as number;
      let from = o[i] as number;
      const to = o[i + 1] as number;
      let pos = offsets[k] as number;
      if (to - from > 32) out.set(bytes.subarray(from, to), pos);
      else while (from < to) out[pos++] = bytes[from++] as number;
    }
    const { bitmap, nullCount } = validity();
    return makeData({ type, length: n, nullCount, valueOffsets: offsets, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Bool) {
    const at = located();
    const cs = at.chunk;
    const local = at.local;
    const out = new Uint8Array(((n + 63) & ~63) >> 3);
    for (let k = 0; k < n; k++) {
      const d = cs === null ? d0 : (chunks[cs[k] as number] as Data);
      const bit = d.offset + (local[k] as number);
      if (((d.values as Uint8Array)[bit >> 3] as number) & (1 << (bit & 7))) out[k >> 3] = (out[k >> 3] as number) | (1 << (k & 7));
    }
    const { bitmap, nullCount } = takeValidity(chunks, at, n);
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: bitmap } as never) as Data;
  }
  return buildData(type, n, (k) => v.get(idx[k] as number));
}

/**
 * A column with its rows moved: row i to position `pos[i]` (a permutation).
 * The same result as takeVector with the inverse permutation (`order`, made
 * only when needed), but reading the column in order and writing out of order,
 * which is twice as fast when the writes go to a few thousand places at once
 * (a shuffle's runs: bench/FINDINGS.md §8b) instead of the reads coming from
 * anywhere. Fixed-width columns and strings of one width; others gather.
 */
export function scatterVector(v: Vector, pos: Int32Array, order: () => Int32Array): Data {
  const type = v.type as DataType;
  const chunks = v.data as Data[];
  const d = chunks[0] as Data;
  const n = pos.length;
  if (chunks.length !== 1 || d.length !== n) return takeVector(v, order());
  if (isFixed(type)) {
    const { values, stride } = flatValues(chunks, d.stride);
    const ArrayType = values.constructor as new (n: number) => Typed;
    const scattered = new ArrayType(n * stride);
    moveFor('scatter', ArrayType)(scattered, values, pos, n, stride);
    const out = asColumnValues(d, scattered, n);
    const { bitmap, nullCount } = scatterValidity(d, pos);
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) {
    const o = d.valueOffsets as Int32Array;
    const base = o[0] as number;
    const w = n > 0 ? (o[1] as number) - base : 0;
    let same = w > 0;
    for (let i = 1; same && i <= n; i++) same = (o[i] as number) - base === i * w;
    if (!same) return takeVector(v, order());
    const bytes = d.values as Uint8Array;
    const out = new Uint8Array(n * w);
    const at = bytes.byteOffset + base;
    if (w % 4 === 0 && at % 4 === 0) moveFor('scatter', Int32Array)(new Int32Array(out.buffer) as unknown as Typed, new Int32Array(bytes.buffer as ArrayBuffer, at, n * (w / 4)) as unknown as Typed, pos, n, w / 4);
    else moveFor('scatter', Uint8Array)(out as unknown as Typed, bytes.subarray(base, base + n * w) as unknown as Typed, pos, n, w);
    const { bitmap, nullCount } = scatterValidity(d, pos);
    return makeData({ type, length: n, nullCount, valueOffsets: stepOffsets(n, w), data: out, nullBitmap: bitmap } as never) as Data;
  }
  return takeVector(v, order());
}

function scatterValidity(d: Data, pos: Int32Array): { bitmap: Uint8Array; nullCount: number } {
  if (d.nullCount === 0) return { bitmap: new Uint8Array(0), nullCount: 0 };
  const n = pos.length;
  const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
  let nullCount = 0;
  for (let i = 0; i < n; i++) {
    if (!d.getValid(i)) nullCount++;
    else {
      const k = pos[i] as number;
      bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
    }
  }
  return { bitmap: nullCount > 0 ? bitmap : new Uint8Array(0), nullCount };
}

/**
 * Runs of rows from several one-batch tables of one schema, as one table:
 * run q (in `runOrder`) is rows `runStart[r]..+runLen[r]` of table
 * `runTable[r]`. Fixed-width, string and binary columns move a run at a time
 * (one typed-array copy of its values, and its offsets rebased), not a row at
 * a time; other types go through takeVector.
 */
export function takeRuns(tables: readonly Table[], runTable: Int32Array, runStart: Int32Array, runLen: Int32Array, runOrder: Int32Array): Table {
  const schema = (tables[0] as Table).schema;
  let n = 0;
  for (let q = 0; q < runOrder.length; q++) n += runLen[runOrder[q] as number] as number;
  const cols = schema.fields.map((f, c) => {
    const chunks = tables.map((t) => (t.getChildAt(c) as Vector).data[0] as Data);
    return takeDataRuns(f.type, chunks, { runTable, runStart, runLen, runOrder }, n);
  });
  return tableOf(schema, cols, n);
}

interface Runs {
  runTable: Int32Array;
  runStart: Int32Array;
  runLen: Int32Array;
  runOrder: Int32Array;
}

function takeDataRuns(type: DataType, chunks: readonly Data[], runs: Runs, n: number): Data {
  const { runTable, runStart, runLen, runOrder } = runs;
  const nruns = runOrder.length;
  if (isFixed(type)) {
    const stride = (chunks[0] as Data).stride;
    const Ctor = ((chunks[0] as Data).values as unknown as ArrayBufferView).constructor as new (n: number) => Typed & { subarray(a: number, b: number): Typed };
    const out = new Ctor(n * stride);
    let pos = 0;
    for (let q = 0; q < nruns; q++) {
      const r = runOrder[q] as number;
      const from = (runStart[r] as number) * stride;
      const len = (runLen[r] as number) * stride;
      out.set(((chunks[runTable[r] as number] as Data).values as unknown as { subarray(a: number, b: number): Typed }).subarray(from, from + len) as unknown as ArrayLike<number>, pos);
      pos += len;
    }
    const { bitmap, nullCount } = runValidity(chunks, runs, n);
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) {
    let size = 0;
    for (let q = 0; q < nruns; q++) {
      const r = runOrder[q] as number;
      const o = (chunks[runTable[r] as number] as Data).valueOffsets as Int32Array;
      const from = runStart[r] as number;
      size += (o[from + (runLen[r] as number)] as number) - (o[from] as number);
    }
    const offsets = new Int32Array(n + 1);
    const bytes = new Uint8Array(size);
    let row = 0;
    let at = 0;
    for (let q = 0; q < nruns; q++) {
      const r = runOrder[q] as number;
      const d = chunks[runTable[r] as number] as Data;
      const o = d.valueOffsets as Int32Array;
      const from = runStart[r] as number;
      const len = runLen[r] as number;
      const b0 = o[from] as number;
      const b1 = o[from + len] as number;
      bytes.set((d.values as Uint8Array).subarray(b0, b1), at);
      const shift = at - b0;
      for (let i = 1; i <= len; i++) offsets[row + i] = (o[from + i] as number) + shift;
      row += len;
      at += b1 - b0;
    }
    const { bitmap, nullCount } = runValidity(chunks, runs, n);
    return makeData({ type, length: n, nullCount, valueOffsets: offsets, data: bytes, nullBitmap: bitmap } as never) as Data;
  }
  // Other types: row indices into the chunks as one vector.
  const base = new Int32Array(chunks.length);
  for (let t = 1; t < chunks.length; t++) base[t] = (base[t - 1] as number) + (chunks[t - 1] as Data).length;
  const idx = new Int32Array(n);
  let k = 0;
  for (let q = 0; q < nruns; q++) {
    const r = runOrder[q] as number;
    const first = (base[runTable[r] as number] as number) + (runStart[r] as number);
    for (let i = 0; i < (runLen[r] as number); i++) idx[k++] = first + i;
  }
  return takeVector(makeVector(chunks as Data[]) as Vector, idx);
}

/**
 * A column of runs of repeated values: run q is row `rowOf[q]` of `v` (rows
 * counted across its chunks) `len[q]` times. A run of a fixed-width value is
 * one fill, a run of a string its bytes doubled into place; other types go
 * through takeVector.
 */
export function repeatRows(v: Vector, rowOf: Int32Array, len: Int32Array): Data {
  const type = v.type as DataType;
  const chunks = v.data as Data[];
  let n = 0;
  for (let q = 0; q < len.length; q++) n += len[q] as number;
  if (chunks.length === 0) return buildData(type, 0, () => null);
  const validity = (): { bitmap: Uint8Array; nullCount: number } => {
    if (!chunks.some((d) => d.nullCount > 0)) return { bitmap: new Uint8Array(0), nullCount: 0 };
    const at = locate(chunks, rowOf);
    const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
    let nullCount = 0;
    let k = 0;
    for (let q = 0; q < rowOf.length; q++) {
      const d = chunks[at.chunk ? (at.chunk[q] as number) : 0] as Data;
      const l = len[q] as number;
      if (d.nullCount > 0 && !d.getValid(at.local[q] as number)) {
        nullCount += l;
        k += l;
      } else {
        for (let i = 0; i < l; i++, k++) bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
      }
    }
    return { bitmap: nullCount > 0 ? bitmap : new Uint8Array(0), nullCount };
  };
  if (isFixed(type)) {
    const d0 = chunks[0] as Data;
    const { values, stride } = flatValues(chunks, d0.stride);
    const ArrayType = values.constructor as new (n: number) => Typed & { fill(x: number, a: number, b: number): void };
    const out = new ArrayType(n * stride);
    let pos = 0;
    for (let q = 0; q < rowOf.length; q++) {
      const l = len[q] as number;
      const src = (rowOf[q] as number) * stride;
      if (stride === 1) out.fill(values[src] as number, pos, pos + l);
      else for (let i = 0; i < l; i++) for (let s = 0; s < stride; s++) out[pos + i * stride + s] = values[src + s] as number;
      pos += l * stride;
    }
    const data = asColumnValues(d0, out, n);
    const { bitmap, nullCount } = validity();
    return makeData({ type, length: n, nullCount, data, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) {
    const { offsets: o, bytes } = flatStrings(chunks);
    let size = 0;
    for (let q = 0; q < rowOf.length; q++) size += ((o[(rowOf[q] as number) + 1] as number) - (o[rowOf[q] as number] as number)) * (len[q] as number);
    const offsets = new Int32Array(n + 1);
    const out = new Uint8Array(size);
    let row = 0;
    let at = 0;
    for (let q = 0; q < rowOf.length; q++) {
      const r = rowOf[q] as number;
      const from = o[r] as number;
      const w = (o[r + 1] as number) - from;
      const l = len[q] as number;
      for (let i = 1; i <= l; i++) offsets[row + i] = at + i * w;
      const total = w * l;
      if (total > 0) {
        out.set(bytes.subarray(from, from + w), at);
        // Doubling: the run's bytes so far copied after themselves.
        for (let done = w; done < total; done *= 2) out.copyWithin(at + done, at, at + Math.min(done, total - done));
      }
      row += l;
      at += total;
    }
    const { bitmap, nullCount } = validity();
    return makeData({ type, length: n, nullCount, valueOffsets: offsets, data: out, nullBitmap: bitmap } as never) as Data;
  }
  const idx = new Int32Array(n);
  let k = 0;
  for (let q = 0; q < rowOf.length; q++) idx.fill(rowOf[q] as number, k, (k += len[q] as number));
  return takeVector(v, idx);
}

/** The validity bitmap of the runs' rows (empty when none is null) and the null count. */
function runValidity(chunks: readonly Data[], runs: Runs, n: number): { bitmap: Uint8Array; nullCount: number } {
  if (!chunks.some((d) => d.nullCount > 0)) return { bitmap: new Uint8Array(0), nullCount: 0 };
  const { runTable, runStart, runLen, runOrder } = runs;
  const bitmap = new Uint8Array(((n + 63) & ~63) >> 3);
  let nullCount = 0;
  let k = 0;
  for (let q = 0; q < runOrder.length; q++) {
    const r = runOrder[q] as number;
    const d = chunks[runTable[r] as number] as Data;
    const from = runStart[r] as number;
    const end = from + (runLen[r] as number);
    for (let i = from; i < end; i++, k++) {
      if (d.nullCount > 0 && !d.getValid(i)) nullCount++;
      else bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
    }
  }
  return { bitmap: nullCount > 0 ? bitmap : new Uint8Array(0), nullCount };
}

/**
 * The width the rows `idx` of string offsets `o` have, or 0 if they differ (or are empty), checking that each
 * sits where a record of that width would (o[i] = o[0] + i·w): only the picked rows, so a small take from a
 * large column costs no scan of the column. Identifier columns (tickers, ISINs, padded codes) usually have one
 * width; their rows then move as fixed-size records instead of byte by byte with an offset lookup each
 * (a take of the trades partition 32 → 20 ns per row; bench/micro-kernels.ts).
 */
function pickedWidth(o: Int32Array, idx: ArrayLike<number>, n: number): number {
  if (n < 1) return 0;
  const base = o[0] as number;
  const first = idx[0] as number;
  const w = (o[first + 1] as number) - (o[first] as number);
  if (w <= 0) return 0;
  for (let k = 0; k < n; k++) {
    const i = idx[k] as number;
    if ((o[i] as number) - base !== i * w || (o[i + 1] as number) - (o[i] as number) !== w) return 0;
  }
  return w;
}

/** Offsets 0, w, 2w, … nw. */
function stepOffsets(n: number, w: number): Int32Array {
  const out = new Int32Array(n + 1);
  for (let k = 1; k <= n; k++) out[k] = k * w;
  return out;
}

/**
 * Records `idx` of `w` bytes each, record i at `base + i·w` in `bytes` (pickedWidth checked every picked one):
 * as 32-bit words when aligned, else bytes.
 */
function gatherRecords(bytes: Uint8Array, base: number, w: number, idx: ArrayLike<number>, n: number): Uint8Array {
  const out = new Uint8Array(n * w);
  const at = bytes.byteOffset + base;
  if (w % 4 === 0 && at % 4 === 0) {
    const words = new Int32Array(bytes.buffer as ArrayBuffer, at, Math.floor((bytes.byteLength - base) / 4));
    gatherFor(Int32Array)(new Int32Array(out.buffer), words as unknown as Typed, idx, n, w / 4);
  } else {
    gatherFor(Uint8Array)(out, bytes.subarray(base) as unknown as Typed, idx, n, w);
  }
  return out;
}

function findChunk(starts: readonly number[], row: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if ((starts[mid] as number) <= row) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** One chunk of `n` values of `type` (the generic, per-value path). */
export function buildData(type: DataType, n: number, valueAt: (i: number) => unknown): Data {
  const b = makeBuilder({ type, nullValues: [null, undefined] });
  for (let i = 0; i < n; i++) b.append(valueAt(i));
  b.finish();
  return b.flush() as Data;
}

/** A table of one record batch from per-column data (all of `n` rows). */
export function tableOf(schema: Schema, columns: readonly Data[], n: number): Table {
  const data = makeData({ type: new Struct(schema.fields), length: n, nullCount: 0, children: columns as Data[] });
  return new Table([new RecordBatch(schema, data)]);
}

/** Rows `idx` of a table, in that order, as one batch. */
export function take(t: Table, idx: ArrayLike<number>): Table {
  const cols = t.schema.fields.map((_, c) => takeVector(t.getChildAt(c) as Vector, idx));
  return tableOf(t.schema, cols, idx.length);
}

/** A table with its rows moved: row i to position `pos[i]` (a permutation; see scatterVector). */
export function scatter(t: Table, pos: Int32Array): Table {
  let order: Int32Array | undefined;
  const inverse = (): Int32Array => {
    if (!order) {
      order = new Int32Array(pos.length);
      for (let i = 0; i < pos.length; i++) order[pos[i] as number] = i;
    }
    return order;
  };
  return tableOf(t.schema, t.schema.fields.map((_, c) => scatterVector(t.getChildAt(c) as Vector, pos, inverse)), pos.length);
}

/** An empty table of this schema. */
export function emptyOf(schema: Schema): Table {
  return tableOf(
    schema,
    schema.fields.map((f) => buildData(f.type, 0, () => null)),
    0,
  );
}

/** Concatenate tables of one schema (the first's); an empty list gives an empty table of `schema`. */
export function concatTables(tables: readonly Table[], schema: Schema): Table {
  const nonEmpty = tables.filter((t) => t.numRows > 0);
  if (nonEmpty.length === 0) return emptyOf(tables[0]?.schema ?? schema);
  if (nonEmpty.length === 1) return nonEmpty[0] as Table;
  const [first, ...rest] = nonEmpty as [Table, ...Table[]];
  return first.concat(...rest);
}

/** The table as one record batch (tables concatenated from many batches, such as group outputs, become one). */
export function compact(t: Table): Table {
  if (t.batches.length <= 1) return t;
  // Batches whose column types differ (a function that returned other types for some groups) stay as they are.
  const types = t.schema.fields.map((f) => String(f.type));
  if (!t.batches.every((b) => b.schema.fields.length === types.length && b.schema.fields.every((f, c) => String(f.type) === types[c]))) return t;
  const idx = new Int32Array(t.numRows);
  for (let i = 0; i < idx.length; i++) idx[i] = i;
  return take(t, idx);
}
