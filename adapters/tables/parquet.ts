import {
  Binary, Bool, DataType, DateDay, Float32, Float64, Int16, Int32, Int64, Int8, RecordBatch, Struct, Timestamp, TimeUnit, Type, Uint16, Uint32, Uint64, Uint8, Utf8,
  makeData, type Data, type Schema, type Table,
} from 'apache-arrow';
import { parquetMetadataAsync, type AsyncBuffer, type FileMetaData, type ParquetParsers, type SchemaElement } from 'hyparquet';
import { parquetWriteBuffer, type ColumnSource } from 'hyparquet-writer';
import type { ErrorDetail } from '../../shared/core/errors.ts';
import { TableOptionsError, UnsupportedColumnTypeError } from '../../shared/tables/errors.ts';
import { coerceCondition, domainOfType, rangeMayMatch, type ColumnCondition } from '../../shared/tables/where.ts';
import { buildBatch, matchingRows, rawValuesOfData, schemaOf, tableOf, takeValues, type RawColumn, type RawValues } from './columns.ts';
import { chunkRanges, decodeRowGroup, type ColumnKind, type DecodedColumn } from './parquet-guard.ts';

/**
 * Parquet through hyparquet (read) and hyparquet-writer (write), pure
 * JavaScript, chosen by measurement (docs/data-engine.md). Reads take only
 * the footer and the column chunks of the row groups they need, so a
 * projected or filtered read over S3 fetches a fraction of the file.
 */

/** Parsers for statistics: dates as days, timestamps as raw bigints, strings as strings (to compare with a where's values). */
const STAT_PARSERS: Partial<ParquetParsers> = {
  dateFromDays: (d: number) => d,
  timestampFromMilliseconds: (v: bigint) => v,
  timestampFromMicroseconds: (v: bigint) => v,
  timestampFromNanoseconds: (v: bigint) => v,
  stringFromBytes: (b: Uint8Array) => (b ? new TextDecoder().decode(b) : b),
};

export interface ParquetColumnInfo {
  name: string;
  type: DataType | undefined;
  /** Why the column cannot be read, when `type` is undefined. */
  unsupported?: string;
  nullable: boolean;
}

/** The Arrow type recc reads a Parquet column as; undefined for what it cannot map (nested, INT96, intervals). */
export function arrowTypeOfElement(el: SchemaElement): DataType | undefined {
  const lt = el.logical_type;
  const ct = el.converted_type;
  switch (el.type) {
    case 'BOOLEAN':
      return new Bool();
    case 'FLOAT':
      return new Float32();
    case 'DOUBLE':
      return new Float64();
    case 'INT32': {
      if (lt?.type === 'DATE' || ct === 'DATE') return new DateDay();
      if (lt?.type === 'DECIMAL' || ct === 'DECIMAL') return new Float64();
      if (lt?.type === 'TIME' || ct === 'TIME_MILLIS') return undefined;
      const bits = lt?.type === 'INTEGER' ? lt.bitWidth : ct === 'INT_8' || ct === 'UINT_8' ? 8 : ct === 'INT_16' || ct === 'UINT_16' ? 16 : 32;
      const signed = lt?.type === 'INTEGER' ? lt.isSigned : !(ct === 'UINT_8' || ct === 'UINT_16' || ct === 'UINT_32');
      if (bits === 8) return signed ? new Int8() : new Uint8();
      if (bits === 16) return signed ? new Int16() : new Uint16();
      return signed ? new Int32() : new Uint32();
    }
    case 'INT64': {
      if (lt?.type === 'TIMESTAMP') return new Timestamp(lt.unit === 'MILLIS' ? TimeUnit.MILLISECOND : lt.unit === 'MICROS' ? TimeUnit.MICROSECOND : TimeUnit.NANOSECOND, lt.isAdjustedToUTC ? 'UTC' : null);
      if (ct === 'TIMESTAMP_MILLIS') return new Timestamp(TimeUnit.MILLISECOND, 'UTC');
      if (ct === 'TIMESTAMP_MICROS') return new Timestamp(TimeUnit.MICROSECOND, 'UTC');
      if (lt?.type === 'DECIMAL' || ct === 'DECIMAL') return new Float64();
      if (lt?.type === 'TIME' || ct === 'TIME_MICROS') return undefined;
      if ((lt?.type === 'INTEGER' && !lt.isSigned) || ct === 'UINT_64') return new Uint64();
      return new Int64();
    }
    case 'BYTE_ARRAY':
      if (lt?.type === 'STRING' || lt?.type === 'ENUM' || lt?.type === 'JSON' || ct === 'UTF8' || ct === 'ENUM' || ct === 'JSON') return new Utf8();
      if (lt?.type === 'DECIMAL' || ct === 'DECIMAL' || lt?.type === 'GEOMETRY' || lt?.type === 'GEOGRAPHY' || lt?.type === 'VARIANT') return undefined;
      return new Binary();
    default:
      return undefined;
  }
}

/** The top-level columns of a Parquet file and how recc reads each. */
export function parquetColumns(metadata: FileMetaData): ParquetColumnInfo[] {
  const out: ParquetColumnInfo[] = [];
  const schema = metadata.schema;
  let i = 1;
  const root = schema[0]?.num_children ?? 0;
  for (let c = 0; c < root && i < schema.length; c++) {
    const el = schema[i] as SchemaElement;
    // Skip the whole subtree of a nested column.
    let end = i + 1;
    let pending = el.num_children ?? 0;
    while (pending > 0 && end < schema.length) {
      pending += (schema[end]?.num_children ?? 0) - 1;
      end++;
    }
    const nested = (el.num_children ?? 0) > 0 || el.repetition_type === 'REPEATED';
    const type = nested ? undefined : arrowTypeOfElement(el);
    out.push({
      name: el.name,
      type,
      nullable: el.repetition_type !== 'REQUIRED',
      ...(type ? {} : { unsupported: nested ? 'a nested (list/struct/map) column' : `Parquet type ${el.type}${el.logical_type ? `/${el.logical_type.type}` : el.converted_type ? `/${el.converted_type}` : ''}` }),
    });
    i = end;
  }
  return out;
}

export async function readParquetMetadata(file: AsyncBuffer): Promise<FileMetaData> {
  // The footer is usually a few KiB: fetch 64 KiB from the end, not hyparquet's default 512 KiB (a second read covers a larger footer).
  return parquetMetadataAsync(file, { parsers: STAT_PARSERS, initialFetchSize: 1 << 16 });
}

export interface ParquetReadPlan {
  columns?: string[] | undefined;
  where: ColumnCondition[];
  rowGroups?: number[] | undefined;
}

/** Problems with a read's columns and where against the file's columns (TableOptionsError / UnsupportedColumnTypeError). */
export function planParquetRead(file: string, info: ParquetColumnInfo[], plan: ParquetReadPlan, groupCount: number) {
  const problems: ErrorDetail[] = [];
  const byName = new Map(info.map((c) => [c.name, c]));
  const known = info.map((c) => c.name).join(', ');
  const output = plan.columns ?? info.map((c) => c.name);
  (plan.columns ?? []).forEach((c, i) => {
    if (!byName.has(c)) problems.push({ path: `columns[${i}]`, message: `no column "${c}" in ${file} (columns: ${known})` });
  });
  const conditions: Array<ColumnCondition & { type: DataType }> = [];
  for (const w of plan.where) {
    const col = byName.get(w.column);
    if (!col) {
      problems.push({ path: `where.${w.column}`, message: `no column "${w.column}" in ${file} (columns: ${known})` });
      continue;
    }
    if (!col.type) continue;
    const coerced = coerceCondition(w.column, w.condition, domainOfType(String(col.type)));
    problems.push(...coerced.problems);
    conditions.push({ column: w.column, condition: coerced.condition, type: col.type });
  }
  (plan.rowGroups ?? []).forEach((g, i) => {
    if (!Number.isInteger(g) || g < 0 || g >= groupCount) problems.push({ path: `rowGroups[${i}]`, message: `expected a row group index in 0..${groupCount - 1}, got ${String(g)}` });
  });
  if (problems.length > 0) throw new TableOptionsError(`cannot read ${file}: ${problems.map((p) => p.message).join('; ')}`, problems);
  const needed = [...new Set([...output, ...conditions.map((c) => c.column)])];
  const unsupported = needed.map((n) => byName.get(n) as ParquetColumnInfo).filter((c) => !c.type);
  if (unsupported.length > 0) {
    throw new UnsupportedColumnTypeError(
      `cannot read ${unsupported.map((c) => `"${c.name}" (${c.unsupported})`).join(', ')} from ${file}; leave ${unsupported.length > 1 ? 'them' : 'it'} out with { columns }`,
      unsupported.map((c) => ({ path: c.name, message: c.unsupported ?? 'unsupported' })),
    );
  }
  return { output, needed, conditions, byName };
}

/** Row groups whose min/max statistics may hold matching rows. */
export function selectRowGroups(metadata: FileMetaData, conditions: ReadonlyArray<ColumnCondition & { type: DataType }>, only?: number[]): number[] {
  const groups = only ?? metadata.row_groups.map((_, i) => i);
  return groups.filter((g) => {
    const rg = metadata.row_groups[g];
    if (!rg) return false;
    return conditions.every(({ column, condition, type }) => {
      const chunk = rg.columns.find((c) => c.meta_data?.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === column);
      const stats = chunk?.meta_data?.statistics;
      if (!stats) return true;
      if (stats.null_count !== undefined && stats.null_count === rg.num_rows) return false; // all null: matches nothing
      let min: unknown = stats.min_value ?? stats.min;
      let max: unknown = stats.max_value ?? stats.max;
      if (type.typeId === Type.Timestamp) {
        const perMs = [1 / 1000, 1, 1000, 1_000_000][(type as Timestamp).unit] ?? 1;
        min = typeof min === 'bigint' ? Number(min) / perMs : min;
        max = typeof max === 'bigint' ? Number(max) / perMs : max;
      }
      if (min instanceof Date) min = type.typeId === Type.Date ? Math.floor(min.getTime() / 86_400_000) : min.getTime();
      if (max instanceof Date) max = type.typeId === Type.Date ? Math.floor(max.getTime() / 86_400_000) : max.getTime();
      return rangeMayMatch(condition, min, max);
    });
  });
}

/**
 * Reads the planned columns of the selected row groups into an Arrow table.
 * `problem` turns a decoding failure into the caller's CorruptDataError.
 */
export async function readParquetGroups(
  file: AsyncBuffer,
  metadata: FileMetaData,
  info: ParquetColumnInfo[],
  plan: ReturnType<typeof planParquetRead>,
  groups: number[],
  problem: (m: string, cause?: unknown) => Error,
  concurrency = 4,
  decodeTimeoutMs?: number,
): Promise<Table> {
  const outSchema: Schema = schemaOf(plan.output.map((n) => {
    const c = plan.byName.get(n) as ParquetColumnInfo;
    return { name: n, type: c.type as DataType, nullable: c.nullable };
  }));
  const starts: number[] = [];
  let at = 0;
  for (const rg of metadata.row_groups) {
    starts.push(at);
    at += Number(rg.num_rows);
  }
  const batches = new Array(groups.length);
  let next = 0;
  const readOne = async (slot: number) => {
    const g = groups[slot] as number;
    const rows = Number((metadata.row_groups[g] as FileMetaData['row_groups'][number]).num_rows);
    const rowStart = starts[g] as number;
    const typeOf = (n: string) => (plan.byName.get(n) as ParquetColumnInfo).type as DataType;
    const ranges = chunkRanges(metadata, g, plan.needed, file.byteLength);
    if (typeof ranges === 'string') throw problem(ranges);
    const fetched = await Promise.all(ranges.map(async (r) => ({ start: r.start, bytes: new Uint8Array(await file.slice(r.start, r.end)) })));
    const kinds = Object.fromEntries(plan.needed.map((n) => [n, kindOf(typeOf(n))]));
    let decoded: Record<string, DecodedColumn>;
    try {
      decoded = await decodeRowGroup({ byteLength: file.byteLength, ranges: fetched, metadata, columns: plan.needed, rowStart, rows, kinds, group: g }, decodeTimeoutMs);
    } catch (err) {
      throw problem(`row group ${g}: ${(err as Error).message}`, err);
    }
    const data = new Map<string, Data>(plan.needed.map((n) => [n, dataOf(typeOf(n), decoded[n] as DecodedColumn)]));
    if (plan.conditions.length === 0) {
      batches[slot] = new RecordBatch(outSchema, makeData({ type: new Struct(outSchema.fields), length: rows, nullCount: 0, children: plan.output.map((n) => data.get(n) as Data) }));
      return;
    }
    const values = new Map<string, RawValues>();
    const valuesOf = (n: string): RawValues => {
      let v = values.get(n);
      if (!v) values.set(n, (v = rawValuesOfData(data.get(n) as Data)));
      return v;
    };
    const keep = matchingRows(rows, plan.conditions, valuesOf) as Uint32Array;
    const columns: RawColumn[] = plan.output.map((n) => ({ name: n, type: typeOf(n), values: takeValues(valuesOf(n), keep) }));
    batches[slot] = buildBatch(outSchema, columns, keep.length);
  };
  const worker = async () => {
    while (next < groups.length) await readOne(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, groups.length)) }, worker));
  return tableOf(outSchema, batches);
}

/** How the decode thread hands a column back (see parquet-guard.ts). */
function kindOf(type: DataType): ColumnKind {
  if (type.typeId === Type.Utf8 || type.typeId === Type.Binary) return { kind: 'bytes' };
  if (type.typeId === Type.Bool) return { kind: 'bool' };
  return { kind: 'typed', ctor: (type as unknown as { ArrayType: { name: string } }).ArrayType.name };
}

function dataOf(type: DataType, c: DecodedColumn): Data {
  const common = { type: type as Float64, length: c.length, nullCount: c.nullCount, nullBitmap: c.validity };
  if (c.offsets) return makeData({ ...common, type: type as Utf8, valueOffsets: c.offsets, data: c.values as Uint8Array });
  return makeData({ ...common, data: c.values as Float64Array });
}

export interface ParquetWriteOptions {
  /** Rows per row group (the unit of predicate pushdown). @default 100_000 */
  rowGroupSize?: number;
  /** @default 'SNAPPY' */
  compression?: 'SNAPPY' | 'UNCOMPRESSED';
}

function parquetElement(name: string, type: DataType, nullable: boolean): SchemaElement | undefined {
  const repetition_type = nullable ? 'OPTIONAL' : 'REQUIRED';
  switch (type.typeId) {
    case Type.Float:
      return { name, repetition_type, type: String(type) === 'Float32' ? 'FLOAT' : String(type) === 'Float64' ? 'DOUBLE' : undefined };
    case Type.Int: {
      const { bitWidth, isSigned } = type as unknown as { bitWidth: number; isSigned: boolean };
      if (bitWidth === 64) return isSigned ? { name, repetition_type, type: 'INT64' } : { name, repetition_type, type: 'INT64', converted_type: 'UINT_64', logical_type: { type: 'INTEGER', bitWidth: 64, isSigned: false } };
      if (bitWidth === 32 && isSigned) return { name, repetition_type, type: 'INT32' };
      return { name, repetition_type, type: 'INT32', converted_type: `${isSigned ? '' : 'U'}INT_${bitWidth}` as SchemaElement['converted_type'], logical_type: { type: 'INTEGER', bitWidth, isSigned } };
    }
    case Type.Date:
      return String(type) === 'Date32<DAY>' ? { name, repetition_type, type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } } : undefined;
    case Type.Timestamp: {
      const unit = (type as Timestamp).unit;
      if (unit === TimeUnit.SECOND) return undefined;
      const u = unit === TimeUnit.MILLISECOND ? 'MILLIS' : unit === TimeUnit.MICROSECOND ? 'MICROS' : 'NANOS';
      return { name, repetition_type, type: 'INT64', ...(u === 'NANOS' ? {} : { converted_type: `TIMESTAMP_${u}` as const }), logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: (type as Timestamp).timezone != null, unit: u } };
    }
    case Type.Utf8:
      return { name, repetition_type, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
    case Type.Binary:
      return { name, repetition_type, type: 'BYTE_ARRAY' };
    case Type.Bool:
      return { name, repetition_type, type: 'BOOLEAN' };
    default:
      return undefined;
  }
}

/** One column's values across all batches of a table. */
export function columnValues(table: Table, index: number): RawValues {
  const chunks = table.batches.map((b) => rawValuesOfData(b.data.children[index] as never));
  if (chunks.length === 1) return chunks[0] as RawValues;
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const first = chunks[0];
  if (first && ArrayBuffer.isView(first) && chunks.every((c) => ArrayBuffer.isView(c) && c.constructor === first.constructor)) {
    const Ctor = first.constructor as new (n: number) => { set(a: ArrayLike<unknown>, at: number): void };
    const out = new Ctor(total);
    let at = 0;
    for (const c of chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out as unknown as RawValues;
  }
  const out: unknown[] = new Array(total);
  let at = 0;
  for (const c of chunks) for (let i = 0; i < c.length; i++) out[at++] = c[i];
  return out;
}

/** Encodes an Arrow table as Parquet with min/max statistics per row group. */
export function writeParquetBytes(table: Table, options: ParquetWriteOptions = {}): Uint8Array {
  const problems: ErrorDetail[] = [];
  const elements: SchemaElement[] = [{ name: 'root', num_children: table.schema.fields.length }];
  const columnData: ColumnSource[] = [];
  table.schema.fields.forEach((f, i) => {
    // Dictionary columns are written as their values (Parquet dictionary-encodes them itself).
    const el = parquetElement(f.name, f.type.typeId === Type.Dictionary ? new Utf8() : f.type, f.nullable);
    if (!el || el.type === undefined) {
      problems.push({ path: f.name, message: `column "${f.name}" has type ${String(f.type)}, which recc does not write to Parquet` });
      return;
    }
    elements.push(el);
    let data = columnValues(table, i);
    if (f.type.typeId === Type.Dictionary) data = Array.from(data as unknown[], (v) => (v === null || v === undefined ? null : String(v)));
    columnData.push({ name: f.name, data: data as ColumnSource['data'] });
  });
  if (problems.length > 0) throw new UnsupportedColumnTypeError(`cannot write Parquet: ${problems.map((p) => p.message).join('; ')}`, problems);
  const rowGroupSize = options.rowGroupSize ?? 100_000;
  const buf = parquetWriteBuffer({ columnData, schema: elements, codec: options.compression ?? 'SNAPPY', rowGroupSize, statistics: true, createdBy: 'recc (hyparquet-writer)' });
  return new Uint8Array(buf);
}
