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
import { compareValues } from '../../shared/shuffle/ranges.ts';

export function fromIPC(bytes: Uint8Array): Table {
  return tableFromIPC(bytes);
}

export function toIPC(t: Table): Uint8Array {
  return tableToIPC(t, 'stream');
}

const FIXED: ReadonlySet<Type> = new Set([Type.Int, Type.Float, Type.Date, Type.Timestamp, Type.Time, Type.Duration]);

function isFixed(type: DataType): boolean {
  return FIXED.has(type.typeId) && !(type.typeId === Type.Float && (type as unknown as { precision: Precision }).precision === Precision.HALF);
}

type Typed = { length: number; [i: number]: number | bigint; set(a: ArrayLike<number | bigint>, offset?: number): void };

/** Rows `idx` of a column, as one chunk. */
export function takeVector(v: Vector, idx: ArrayLike<number>): Data {
  const type = v.type as DataType;
  const n = idx.length;
  const chunks = v.data as Data[];
  if (isFixed(type) && chunks.length > 0) {
    const stride = (chunks[0] as Data).stride;
    const ArrayType = (chunks[0] as Data).values.constructor as new (n: number) => Typed;
    const out = new ArrayType(n * stride);
    const starts: number[] = [];
    let total = 0;
    for (const d of chunks) {
      starts.push(total);
      total += d.length;
    }
    const hasNulls = chunks.some((d) => d.nullCount > 0);
    const bitmap = hasNulls ? new Uint8Array(((n + 63) & ~63) >> 3) : undefined;
    let nullCount = 0;
    let c = 0;
    for (let k = 0; k < n; k++) {
      const row = idx[k] as number;
      // Indices are mostly ascending: move from the last chunk, search otherwise.
      if (row < (starts[c] as number) || (c + 1 < starts.length && row >= (starts[c + 1] as number))) c = findChunk(starts, row);
      const d = chunks[c] as Data;
      const i = row - (starts[c] as number);
      const values = d.values as unknown as Typed;
      if (stride === 1) out[k] = values[i] as number;
      else for (let s = 0; s < stride; s++) out[k * stride + s] = values[i * stride + s] as number;
      if (bitmap) {
        if (d.nullCount > 0 && !d.getValid(i)) nullCount++;
        else bitmap[k >> 3] = (bitmap[k >> 3] as number) | (1 << (k & 7));
      }
    }
    return makeData({ type, length: n, nullCount, data: out, nullBitmap: nullCount > 0 ? bitmap : new Uint8Array(0) } as never) as Data;
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

/** The key columns of a table (throws naming a missing one). */
export function keyColumns(t: Table, cols: readonly string[]): Vector[] {
  return cols.map((c) => {
    const v = t.getChild(c);
    if (!v) throw new RangeError(`column "${c}" is not in the table (columns: ${t.schema.fields.map((f) => f.name).join(', ')})`);
    return v as Vector;
  });
}

/** Plain JS value of row i of a key column (BigInt kept; Dates as epoch ms numbers come from Arrow as numbers). */
export function rowKey(keys: readonly Vector[], i: number): unknown[] {
  const out: unknown[] = new Array(keys.length);
  for (let c = 0; c < keys.length; c++) out[c] = (keys[c] as Vector).get(i);
  return out;
}

/** Row indices ordered by the key columns (stable; nulls first). */
export function sortIndices(t: Table, cols: readonly string[]): Int32Array {
  const keys = keyColumns(t, cols);
  const n = t.numRows;
  const values = keys.map((k) => {
    const a: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) a[i] = k.get(i);
    return a;
  });
  const idx = Array.from({ length: n }, (_, i) => i);
  idx.sort((a, b) => {
    for (const col of values) {
      const c = compareValues(col[a], col[b]);
      if (c !== 0) return c;
    }
    return a - b;
  });
  return Int32Array.from(idx);
}

/** Groups of rows with equal keys, in order of first appearance: [key values, row indices]. */
export function groupRows(t: Table, cols: readonly string[]): Array<[unknown[], number[]]> {
  const keys = keyColumns(t, cols);
  const groups = new Map<string, [unknown[], number[]]>();
  for (let i = 0; i < t.numRows; i++) {
    const k = rowKey(keys, i);
    const id = groupId(k);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = [k, []]));
    g[1].push(i);
  }
  return [...groups.values()];
}

/** A string identifying a key tuple (types kept apart: 1 and "1" differ). */
export function groupId(k: readonly unknown[]): string {
  return JSON.stringify(k.map((v) => (typeof v === 'bigint' ? `n:${v}` : v instanceof Date ? `d:${v.getTime()}` : typeof v === 'string' ? `s:${v}` : v)));
}
