import { Type, Utf8, type DataType, type Table } from 'apache-arrow';
import { CorruptDataError, DatastoreError } from '../../shared/datastores/errors.ts';
import type { Datastore } from '../../shared/datastores/port.ts';
import { TableOptionsError, UnsupportedColumnTypeError } from '../../shared/tables/errors.ts';
import { resolveFormat, type TableFormat } from '../../shared/tables/formats.ts';
import type { ErrorDetail } from '../../shared/core/errors.ts';
import type { ColumnSchema } from '../../shared/tables/schema.ts';
import { coerceCondition, domainOfType, parseWhere, type ColumnCondition, type Where } from '../../shared/tables/where.ts';
import { buildBatch, columnSchemaOf, matchingRows, schemaOf, tableOf, takeValues } from './columns.ts';
import { decodeIpc } from './ipc.ts';
import { columnValues, parquetColumns, planParquetRead, readParquetGroups, readParquetMetadata, selectRowGroups } from './parquet.ts';
import { resolveStore, type StoreRef } from './stores.ts';
import { storeBuffer, type StoreBuffer } from './store-buffer.ts';
import { decodeText } from './text.ts';

export interface ReadTableOptions {
  /** Default: from the key's extension. */
  format?: TableFormat;
  /** Only these columns, in this order (Parquet reads only their bytes). */
  columns?: string[];
  /** Keep only matching rows; Parquet skips row groups whose statistics rule them out. */
  where?: Where;
  /** Another name for `where`. */
  filter?: Where;
  /** Parquet only: read just these row groups (by index). */
  rowGroups?: number[];
  /** Parquet row groups decoded at once (each is a few ranged reads). @default 4 */
  concurrency?: number;
  /**
   * Parquet: how long one row group may take to decode before the file is
   * declared corrupt (a damaged page can make the decoder run away).
   * @default 20 s + 4 s per MB of the row group's column chunks
   */
  decodeTimeoutMs?: number;
}

export interface ReadTableInfo {
  table: Table;
  format: TableFormat;
  /** Requests and bytes fetched from the store. */
  fetched: { requests: number; bytes: number };
  /** Parquet: row groups in the file and row groups read after pruning. */
  rowGroups?: { total: number; read: number };
}

const READ_KEYS = ['format', 'columns', 'where', 'filter', 'rowGroups', 'concurrency', 'decodeTimeoutMs'];

function checkReadOptions(key: string, options: ReadTableOptions): ColumnCondition[] {
  const problems: ErrorDetail[] = [];
  if (options === null || typeof options !== 'object') throw new TableOptionsError(`invalid options for "${key}"`, [{ path: 'options', message: 'expected an object' }]);
  for (const k of Object.keys(options)) if (!READ_KEYS.includes(k)) problems.push({ path: k, message: `unknown option "${k}" (known: ${READ_KEYS.join(', ')})` });
  const { columns, rowGroups, concurrency } = options;
  if (columns !== undefined && !(Array.isArray(columns) && columns.every((c) => typeof c === 'string' && c.length > 0))) problems.push({ path: 'columns', message: 'expected an array of column names' });
  else if (columns && new Set(columns).size !== columns.length) problems.push({ path: 'columns', message: 'expected each column once' });
  if (rowGroups !== undefined && !(Array.isArray(rowGroups) && rowGroups.every((g) => Number.isInteger(g) && g >= 0))) problems.push({ path: 'rowGroups', message: 'expected an array of row group indexes (integers ≥ 0)' });
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && concurrency >= 1 && concurrency <= 64)) problems.push({ path: 'concurrency', message: 'expected an integer from 1 to 64' });
  if (options.decodeTimeoutMs !== undefined && !(Number.isFinite(options.decodeTimeoutMs) && options.decodeTimeoutMs > 0)) problems.push({ path: 'decodeTimeoutMs', message: 'expected a positive number of milliseconds' });
  let where: ColumnCondition[] = [];
  if (options.where !== undefined && options.filter !== undefined) problems.push({ path: 'filter', message: 'give where or filter (the same thing), not both' });
  try {
    where = parseWhere(options.where ?? options.filter, options.where === undefined && options.filter !== undefined ? 'filter' : 'where');
  } catch (err) {
    if (!(err instanceof TableOptionsError)) throw err;
    problems.push(...err.details);
  }
  if (problems.length > 0) throw new TableOptionsError(`invalid options for reading "${key}": ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  return where;
}

/** Errors the table layer raises on purpose pass through; anything else thrown while decoding means the bytes are bad. */
function passThrough(err: unknown): boolean {
  return err instanceof DatastoreError || err instanceof TableOptionsError || err instanceof UnsupportedColumnTypeError;
}

/**
 * Reads a table (Parquet, Arrow IPC, CSV or JSON lines) from a datastore
 * into an Apache Arrow Table. Parquet is read through ranged reads: the
 * footer, then only the column chunks of the selected row groups. A file
 * that does not decode is CorruptDataError naming the store and key.
 */
export async function readTable(store: StoreRef, key: string, options: ReadTableOptions = {}): Promise<Table> {
  return (await readTableInfo(store, key, options)).table;
}

export async function readTableInfo(storeRef: StoreRef, key: string, options: ReadTableOptions = {}): Promise<ReadTableInfo> {
  return readTableChecked(storeRef, key, options, undefined);
}

/**
 * readTableInfo with `check` called on the file's full schema before any
 * column is decoded (datasets compare it with their manifest).
 */
export async function readTableChecked(storeRef: StoreRef, key: string, options: ReadTableOptions, check: ((columns: ColumnSchema[]) => void) | undefined): Promise<ReadTableInfo> {
  const store = resolveStore(storeRef);
  const where = checkReadOptions(key, options);
  const format = resolveFormat(key, options.format);
  if (format === 'parquet') return readParquet(store, key, options, where, check);
  if (options.rowGroups !== undefined) {
    throw new TableOptionsError(`rowGroups applies to Parquet only; "${key}" is ${format}`, [{ path: 'rowGroups', message: 'only for Parquet files' }]);
  }
  const bytes = await store.read(key);
  let table: Table;
  try {
    table = format === 'arrow' ? decodeIpc(bytes) : await decodeText(format, bytes);
  } catch (err) {
    if (passThrough(err)) throw err;
    throw new CorruptDataError(store.name, key, `not valid ${format === 'arrow' ? 'Arrow IPC' : format === 'csv' ? 'CSV' : 'JSON lines'}: ${(err as Error).message}`, { cause: err });
  }
  check?.(columnSchemaOf(table.schema));
  return { table: selectAndFilter(table, key, options.columns, where), format, fetched: { requests: 1, bytes: bytes.byteLength } };
}

async function readParquet(store: Datastore, key: string, options: ReadTableOptions, where: ColumnCondition[], check: ((columns: ColumnSchema[]) => void) | undefined): Promise<ReadTableInfo> {
  const file: StoreBuffer = await storeBuffer(store, key);
  const problem = (m: string, cause?: unknown) => new CorruptDataError(store.name, key, `not valid Parquet: ${m}`, cause === undefined ? {} : { cause });
  let metadata;
  try {
    metadata = await readParquetMetadata(file);
  } catch (err) {
    if (passThrough(err)) throw err;
    throw problem((err as Error).message, err);
  }
  const info = parquetColumns(metadata);
  check?.(info.map((c) => ({ name: c.name, type: c.type ? String(c.type) : `unsupported (${c.unsupported ?? '?'})`, nullable: c.nullable })));
  const plan = planParquetRead(`${store.name}:${key}`, info, { columns: options.columns, where, rowGroups: options.rowGroups }, metadata.row_groups.length);
  const groups = selectRowGroups(metadata, plan.conditions, options.rowGroups);
  let table: Table;
  try {
    table = await readParquetGroups(file, metadata, info, plan, groups, problem, options.concurrency, options.decodeTimeoutMs);
  } catch (err) {
    if (passThrough(err) || err instanceof CorruptDataError) throw err;
    throw problem((err as Error).message, err);
  }
  const expected = groups.reduce((n, g) => n + Number(metadata.row_groups[g]?.num_rows ?? 0), 0);
  if (where.length === 0 && table.numRows !== expected) throw problem(`decoded ${table.numRows} rows, the footer says ${expected}`);
  return { table, format: 'parquet', fetched: { ...file.fetched }, rowGroups: { total: metadata.row_groups.length, read: groups.length } };
}

/** Projection and row filter on a decoded table (formats without pushdown). */
export function selectAndFilter(table: Table, key: string, columns: string[] | undefined, where: ColumnCondition[]): Table {
  const names = table.schema.fields.map((f) => f.name);
  const problems: ErrorDetail[] = [];
  (columns ?? []).forEach((c, i) => {
    if (!names.includes(c)) problems.push({ path: `columns[${i}]`, message: `no column "${c}" in ${key} (columns: ${names.join(', ')})` });
  });
  const conditions = [];
  for (const w of where) {
    const field = table.schema.fields.find((f) => f.name === w.column);
    if (!field) {
      problems.push({ path: `where.${w.column}`, message: `no column "${w.column}" in ${key} (columns: ${names.join(', ')})` });
      continue;
    }
    const coerced = coerceCondition(w.column, w.condition, domainOfType(String(field.type)));
    problems.push(...coerced.problems);
    conditions.push({ column: w.column, condition: coerced.condition, type: field.type });
  }
  if (problems.length > 0) throw new TableOptionsError(`cannot read ${key}: ${problems.map((p) => p.message).join('; ')}`, problems);
  const out = columns ? table.select(columns) : table;
  if (conditions.length === 0) return out;
  const valuesOf = (name: string) => columnValues(table, names.indexOf(name));
  const keep = matchingRows(table.numRows, conditions, valuesOf) as Uint32Array;
  const fields = out.schema.fields;
  // Dictionary columns come back as their values (Utf8).
  const typeOf = (t: DataType) => (t.typeId === Type.Dictionary ? new Utf8() : t);
  const schema = schemaOf(fields.map((f) => ({ name: f.name, type: typeOf(f.type), nullable: f.nullable })));
  const cols = fields.map((f) => ({ name: f.name, type: typeOf(f.type), values: takeValues(valuesOf(f.name), keep) }));
  return tableOf(schema, [buildBatch(schema, cols, keep.length)]);
}


/** One object's bytes already in memory, as a Datastore (for decodeTable). */
function bytesStore(name: string, key: string, bytes: Uint8Array): Datastore {
  const stat = { key, size: bytes.byteLength, mtimeMs: 0 };
  const missing = async (): Promise<never> => {
    throw new TableOptionsError('decodeTable holds one object only', []);
  };
  return {
    name,
    location: `memory:${name}`,
    exists: async (k) => k === key,
    stat: async () => ({ ...stat }),
    list: async () => ({ entries: [{ ...stat }] }),
    read: async (_k, range) => (range ? bytes.subarray(range.offset, range.length === undefined ? undefined : range.offset + range.length) : bytes),
    write: missing,
    delete: missing,
  };
}

/**
 * Decodes a table from bytes already fetched (e.g. by a fall-through read),
 * with the same options and errors as readTable; `key` names the object in
 * errors (with `storeName`, the store that served the bytes) and gives the
 * format by its extension.
 */
export async function decodeTable(bytes: Uint8Array, key: string, options: ReadTableOptions = {}, storeName = 'bytes'): Promise<Table> {
  return readTable(bytesStore(storeName, key, bytes), key, options);
}
