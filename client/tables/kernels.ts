/**
 * Arrow table kernels the partition operations need and Arrow JS lacks:
 * take (gather rows by index, typed-array fast path for fixed-width
 * columns), concatenation into one batch, key extraction, grouping and
 * sorting. They run in task threads (bundled into the ops module) and in the
 * client (the single-process reference, meta inference).
 */
import {
  Precision, RecordBatch, Struct, Table, Type, makeBuilder, makeData, tableFromIPC, tableToIPC,
  type Data, type DataType, type Schema, type Vector,
} from 'apache-arrow';

export function fromIPC(bytes: Uint8Array): Table {
  return tableFromIPC(bytes);
}

export function toIPC(t: Table): Uint8Array {
  return tableToIPC(t, 'stream');
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

/** Rows `idx` of a column, as one chunk: typed-array copies for fixed-width, string, binary and boolean columns. */
export function takeVector(v: Vector, idx: ArrayLike<number>): Data {
  const type = v.type as DataType;
  const n = idx.length;
  const chunks = v.data as Data[];
  if (chunks.length === 0) return buildData(type, n, (k) => v.get(idx[k] as number));
  const at = locate(chunks, idx);
  const cs = at.chunk;
  const local = at.local;
  const d0 = chunks[0] as Data;
  if (isFixed(type)) {
    const stride = d0.stride;
    const ArrayType = d0.values.constructor as new (n: number) => Typed;
    const out = new ArrayType(n * stride);
    if (cs === null && stride === 1) {
      const values = d0.values as unknown as Typed;
      for (let k = 0; k < n; k++) out[k] = values[local[k] as number] as number;
    } else {
      for (let k = 0; k < n; k++) {
        const i = local[k] as number;
        const values = (cs === null ? d0 : (chunks[cs[k] as number] as Data)).values as unknown as Typed;
        if (stride === 1) out[k] = values[i] as number;
        else for (let s = 0; s < stride; s++) out[k * stride + s] = values[i * stride + s] as number;
      }
    }
    const { bitmap, nullCount } = takeValidity(chunks, at, n);
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) {
    const offsets = new Int32Array(n + 1);
    let total = 0;
    for (let k = 0; k < n; k++) {
      const o = (cs === null ? d0 : (chunks[cs[k] as number] as Data)).valueOffsets as Int32Array;
      const i = local[k] as number;
      total += (o[i + 1] as number) - (o[i] as number);
      offsets[k + 1] = total;
    }
    const out = new Uint8Array(total);
    for (let k = 0; k < n; k++) {
      const d = cs === null ? d0 : (chunks[cs[k] as number] as Data);
      const o = d.valueOffsets as Int32Array;
      const bytes = d.values as Uint8Array;
      const i = local[k] as number;
      let from = o[i] as number;
      const to = o[i + 1] as number;
      let pos = offsets[k] as number;
      if (to - from > 32) out.set(bytes.subarray(from, to), pos);
      else while (from < to) out[pos++] = bytes[from++] as number;
    }
    const { bitmap, nullCount } = takeValidity(chunks, at, n);
    return makeData({ type, length: n, nullCount, valueOffsets: offsets, data: out, nullBitmap: bitmap } as never) as Data;
  }
  if (type.typeId === Type.Bool) {
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
