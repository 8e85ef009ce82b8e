import { isMarkedArrowTable } from '../../comm/table-adopt.ts';
import type { ObjectStat } from '../../shared/datastores/port.ts';
import type { ErrorDetail } from '../../shared/core/errors.ts';
import { TableOptionsError } from '../../shared/tables/errors.ts';
import { resolveFormat, type TableFormat } from '../../shared/tables/formats.ts';
import { encodeIpcFile } from './ipc.ts';
import { writeParquetBytes } from './parquet.ts';
import { resolveStore, type StoreRef } from './stores.ts';
import { encodeText } from './text.ts';
import { toArrowTable, type TableLike } from './convert.ts';

export interface WriteTableOptions {
  /** Default: from the key's extension. */
  format?: TableFormat;
  /** Parquet: rows per row group (the unit of predicate pushdown). @default 100_000 */
  rowGroupSize?: number;
  /** Parquet: @default 'SNAPPY' */
  compression?: 'SNAPPY' | 'UNCOMPRESSED';
}

const WRITE_KEYS = ['format', 'rowGroupSize', 'compression'];

function checkWriteOptions(key: string, options: WriteTableOptions): void {
  const problems: ErrorDetail[] = [];
  if (options === null || typeof options !== 'object') throw new TableOptionsError(`invalid options for "${key}"`, [{ path: 'options', message: 'expected an object' }]);
  for (const k of Object.keys(options)) if (!WRITE_KEYS.includes(k)) problems.push({ path: k, message: `unknown option "${k}" (known: ${WRITE_KEYS.join(', ')})` });
  if (options.rowGroupSize !== undefined && !(Number.isInteger(options.rowGroupSize) && options.rowGroupSize >= 1)) problems.push({ path: 'rowGroupSize', message: 'expected an integer ≥ 1' });
  if (options.compression !== undefined && !['SNAPPY', 'UNCOMPRESSED'].includes(options.compression)) problems.push({ path: 'compression', message: "expected 'SNAPPY' or 'UNCOMPRESSED'" });
  if (problems.length > 0) throw new TableOptionsError(`invalid options for writing "${key}": ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
}

/** Encodes a table in a format (no store involved): Parquet, Arrow IPC file, CSV or JSON lines. */
export async function encodeTable(table: TableLike, format: TableFormat, options: Omit<WriteTableOptions, 'format'> = {}): Promise<Uint8Array> {
  const t = toArrowTable(table);
  switch (format) {
    case 'parquet':
      return writeParquetBytes(t, options);
    case 'arrow':
      return encodeIpcFile(t);
    default:
      return encodeText(format, t);
  }
}

/**
 * Writes an Arrow Table (or an engine DataFrame) to a datastore, atomically
 * (readers see the old object or the whole new one).
 */
export async function writeTable(store: StoreRef, key: string, table: TableLike, options: WriteTableOptions = {}): Promise<ObjectStat> {
  const target = resolveStore(store);
  checkWriteOptions(key, options);
  if (!isMarkedArrowTable(table) && !isDataFrameLike(table)) {
    throw new TableOptionsError(`cannot write "${key}": expected an Apache Arrow Table or a DataFrame`, [{ path: 'table', message: 'expected an Apache Arrow Table (apache-arrow) or a nodejs-polars DataFrame' }]);
  }
  const format = resolveFormat(key, options.format);
  const { format: _f, ...rest } = options;
  const bytes = await encodeTable(table, format, rest);
  return target.write(key, bytes);
}

function isDataFrameLike(v: unknown): boolean {
  return v !== null && typeof v === 'object' && typeof (v as { writeIPC?: unknown }).writeIPC === 'function';
}
