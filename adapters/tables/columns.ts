import {
  Binary, Bool, DataType, DateDay, Field, Float32, Float64, Int16, Int32, Int64, Int8, makeData, makeVector, RecordBatch, Schema, Struct, Table, Type,
  Uint16, Uint32, Uint64, Uint8, Utf8, type Data,
} from 'apache-arrow';
import type { ColumnSchema } from '../../shared/tables/schema.ts';
import { domainOfType, valueMatches, type ColumnCondition } from '../../shared/tables/where.ts';

/**
 * Columns between decoders and Apache Arrow. A column's values are a typed
 * array when it has no nulls (numbers, days, bigints), or a plain array with
 * nulls; strings and binaries are Uint8Array slices of UTF-8 (decoding them
 * to JS strings and back would cost more than the whole Parquet decode).
 */
export type RawValues = ArrayLike<unknown>;

export interface RawColumn {
  name: string;
  type: DataType;
  values: RawValues;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function bitmap(values: RawValues): { nullBitmap: Uint8Array | undefined; nullCount: number } {
  let nullCount = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === null || values[i] === undefined) nullCount++;
  if (nullCount === 0) return { nullBitmap: undefined, nullCount };
  const bits = new Uint8Array((values.length + 7) >> 3);
  for (let i = 0; i < values.length; i++) if (values[i] !== null && values[i] !== undefined) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
  return { nullBitmap: bits, nullCount };
}

function isTyped(v: RawValues): v is ArrayLike<number> & ArrayBufferView {
  return ArrayBuffer.isView(v);
}

/** One Arrow Data of `type` holding `values` (see RawValues). */
export function buildData(type: DataType, values: RawValues): Data {
  const length = values.length;
  switch (type.typeId) {
    case Type.Utf8:
    case Type.Binary: {
      const { nullBitmap, nullCount } = bitmap(values);
      const parts: Uint8Array[] = new Array(length);
      let total = 0;
      for (let i = 0; i < length; i++) {
        const v = values[i];
        const b = v === null || v === undefined ? EMPTY : typeof v === 'string' ? encoder.encode(v) : (v as Uint8Array);
        parts[i] = b;
        total += b.byteLength;
      }
      const offsets = new Int32Array(length + 1);
      const data = new Uint8Array(total);
      let at = 0;
      for (let i = 0; i < length; i++) {
        const b = parts[i] as Uint8Array;
        if (b.byteLength === 1) data[at] = b[0] as number;
        else if (b.byteLength > 0) data.set(b, at);
        at += b.byteLength;
        offsets[i + 1] = at;
      }
      return makeData({ type: type as Utf8, length, nullCount, nullBitmap, valueOffsets: offsets, data });
    }
    case Type.Bool: {
      const { nullBitmap, nullCount } = bitmap(values);
      const bits = new Uint8Array((length + 7) >> 3);
      for (let i = 0; i < length; i++) if (values[i]) bits[i >> 3] = (bits[i >> 3] as number) | (1 << (i & 7));
      return makeData({ type: type as Bool, length, nullCount, nullBitmap, data: bits });
    }
    default: {
      const ArrayType = (type as unknown as { ArrayType: new (n: number | ArrayLike<unknown>) => ArrayLike<unknown> }).ArrayType;
      if (isTyped(values) && values.constructor === ArrayType) {
        return makeData({ type: type as Float64, length, nullCount: 0, data: values as unknown as Float64Array });
      }
      const { nullBitmap, nullCount } = bitmap(values);
      const big = ArrayType === BigInt64Array || ArrayType === BigUint64Array;
      const out = new ArrayType(length) as unknown as { [i: number]: unknown };
      for (let i = 0; i < length; i++) {
        const v = values[i];
        if (v === null || v === undefined) continue;
        out[i] = big ? (typeof v === 'bigint' ? v : BigInt(v as number)) : typeof v === 'bigint' ? Number(v) : v;
      }
      return makeData({ type: type as Float64, length, nullCount, nullBitmap, data: out as unknown as Float64Array });
    }
  }
}

const EMPTY = new Uint8Array(0);

/** A record batch of the given columns (all of one length). */
export function buildBatch(schema: Schema, columns: RawColumn[], length: number): RecordBatch {
  const children = columns.map((c) => buildData(c.type, c.values));
  return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }));
}

export function schemaOf(columns: ReadonlyArray<{ name: string; type: DataType; nullable?: boolean }>): Schema {
  return new Schema(columns.map((c) => new Field(c.name, c.type, c.nullable ?? true)));
}

/** A table from batches; an empty list still carries the schema. */
export function tableOf(schema: Schema, batches: RecordBatch[]): Table {
  return new Table(schema, batches);
}

/** The values of one Data chunk as RawValues (typed array views when there are no nulls). */
export function rawValuesOfData(data: Data): RawValues {
  const n = data.length;
  const typeId = data.type.typeId;
  const valid = (i: number) => data.nullCount === 0 || data.getValid(i);
  if (typeId === Type.Utf8 || typeId === Type.Binary) {
    const offsets = data.valueOffsets as Int32Array;
    const bytes = data.values as Uint8Array;
    const out: Array<Uint8Array | null> = new Array(n);
    for (let i = 0; i < n; i++) out[i] = valid(i) ? bytes.subarray(offsets[i] as number, offsets[i + 1] as number) : null;
    return out;
  }
  if (typeId === Type.Bool || typeId === Type.Dictionary || typeId === Type.LargeUtf8) {
    const v = makeVector(data);
    const out: unknown[] = new Array(n);
    for (let i = 0; i < n; i++) out[i] = v.get(i);
    return out;
  }
  const stride = (data as unknown as { stride: number }).stride ?? 1;
  const values = data.values as unknown as ArrayLike<unknown> & { subarray(a: number, b: number): ArrayLike<unknown> };
  if (stride !== 1) {
    const v = makeVector(data);
    return Array.from({ length: n }, (_, i) => v.get(i));
  }
  const view = values.subarray(0, n);
  if (data.nullCount === 0) return view;
  const out: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) out[i] = valid(i) ? view[i] : null;
  return out;
}

/** Arrow type name as recc records it (see shared/tables/schema.ts). */
export function columnSchemaOf(schema: Schema): ColumnSchema[] {
  return schema.fields.map((f) => ({ name: f.name, type: String(f.type), nullable: f.nullable }));
}

/** Per column of a where: a getter of row i's value in the condition's domain. */
export function valueGetter(type: DataType, values: RawValues): (i: number) => unknown {
  const domain = domainOfType(String(type));
  if (type.typeId === Type.Utf8) return (i) => {
    const v = values[i];
    return v === null || v === undefined ? null : typeof v === 'string' ? v : decoder.decode(v as Uint8Array);
  };
  if (type.typeId === Type.Timestamp) {
    const unit = (type as unknown as { unit: number }).unit;
    const perMs = [1 / 1000, 1, 1000, 1_000_000][unit] ?? 1;
    return (i) => {
      const v = values[i];
      return v === null || v === undefined ? null : Number(v) / perMs;
    };
  }
  if (domain === 'days') return (i) => values[i] ?? null;
  return (i) => values[i] ?? null;
}

/** Indexes of the rows of a batch (columns by name) that satisfy every condition; undefined = all rows. */
export function matchingRows(length: number, conditions: ReadonlyArray<ColumnCondition & { type: DataType }>, valuesOf: (column: string) => RawValues): Uint32Array | undefined {
  if (conditions.length === 0) return undefined;
  const getters = conditions.map((c) => ({ get: valueGetter(c.type, valuesOf(c.column)), condition: c.condition }));
  const keep = new Uint32Array(length);
  let n = 0;
  outer: for (let i = 0; i < length; i++) {
    for (const g of getters) if (!valueMatches(g.condition, g.get(i))) continue outer;
    keep[n++] = i;
  }
  return keep.subarray(0, n);
}

/** The values at `rows` (a typed array stays typed). */
export function takeValues(values: RawValues, rows: Uint32Array): RawValues {
  if (isTyped(values)) {
    const Ctor = values.constructor as new (n: number) => { [i: number]: unknown };
    const out = new Ctor(rows.length);
    for (let i = 0; i < rows.length; i++) out[i] = values[rows[i] as number];
    return out as unknown as RawValues;
  }
  const out: unknown[] = new Array(rows.length);
  for (let i = 0; i < rows.length; i++) out[i] = values[rows[i] as number];
  return out;
}

/** Arrow types recc reads and writes in every format. */
export const ARROW_TYPES = { Binary, Bool, DateDay, Float32, Float64, Int8, Int16, Int32, Int64, Uint8, Uint16, Uint32, Uint64, Utf8 };
