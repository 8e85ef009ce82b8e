import { Bool, DateDay, Float64, Int32, Int64, RecordBatch, Struct, Table, Type, Utf8, makeData, tableFromIPC, type DataType } from 'apache-arrow';
import { randomBytes } from 'node:crypto';
import type { ErrorDetail } from '../../shared/core/errors.ts';
import { DatastoreNotFoundError, SchemaMismatchError } from '../../shared/datastores/errors.ts';
import { listAll, type Datastore } from '../../shared/datastores/port.ts';
import { TableOptionsError } from '../../shared/tables/errors.ts';
import { extensionOf, formatOfKey, type TableFormat } from '../../shared/tables/formats.ts';
import { MANIFEST_FILE, parseManifest, serializeManifest, type Manifest, type PartitionKind } from '../../shared/tables/manifest.ts';
import { checkPartitionKeys, parsePartitionKey, partitionDir } from '../../shared/tables/partition-path.ts';
import { partitionFilter, partitionKindOfType, partitionMatches, type PartitionColumn } from '../../shared/tables/prune.ts';
import { describeSchema, schemaDifferences, type ColumnSchema } from '../../shared/tables/schema.ts';
import { daysFromIsoDate, isoDateFromDays, parseWhere, type ColumnCondition, type Where } from '../../shared/tables/where.ts';
import { buildBatch, columnSchemaOf, schemaOf, takeValues } from '../tables/columns.ts';
import { toArrowTable, type TableLike } from '../tables/convert.ts';
import { columnValues } from '../tables/parquet.ts';
import { readTableChecked } from '../tables/read.ts';
import { resolveStore, type StoreRef } from '../tables/stores.ts';
import { encodeTable } from '../tables/write.ts';
import type { StoreConfig } from '../../shared/datastores/config.ts';
import { openStore } from './open.ts';

/**
 * Partitioned datasets: Hive-style `key=value/…/part-….parquet` under a root
 * prefix, plus recc's manifest (shared/tables/manifest.ts). `partitions()`
 * prunes by the key values in the manifest (or, for a dataset some other tool
 * wrote, in the paths) and never opens a data file.
 */
export interface DatasetPartition {
  /** Directory relative to the dataset root, e.g. `date=2024-01-02` ('' when unpartitioned). */
  dir: string;
  /** Partition column → value as written in the path (null = Hive's default partition). */
  values: Record<string, string | null>;
  /** Object keys (relative to the store) of the partition's files. */
  files: Array<{ key: string; rows?: number; bytes: number }>;
  /** From the manifest; undefined for a dataset without one. */
  rows?: number;
}

export interface DatasetReadOptions {
  where?: Where;
  columns?: string[];
}

function joinKey(root: string, rel: string): string {
  return root === '' ? rel : rel === '' ? root : `${root}/${rel}`;
}

function normalizeRoot(path: string): string {
  if (typeof path !== 'string') throw new TableOptionsError('invalid dataset path', [{ path: 'path', message: 'expected a string such as "prices"' }]);
  return path.replace(/\/+$/, '');
}

/** The kind of a partition column of a dataset without a manifest, from its values. */
function inferKind(values: Array<string | null>): PartitionKind {
  const present = values.filter((v): v is string => v !== null);
  if (present.length > 0 && present.every((v) => daysFromIsoDate(v) !== undefined)) return 'date';
  if (present.length > 0 && present.every((v) => /^-?\d{1,15}$/.test(v))) return 'int';
  return 'string';
}

function typeOfName(name: string): DataType | undefined {
  switch (name) {
    case 'Date32<DAY>': return new DateDay();
    case 'Int32': return new Int32();
    case 'Int64': return new Int64();
    case 'Utf8': return new Utf8();
    case 'Bool': return new Bool();
    case 'Float64': return new Float64();
    default: return undefined;
  }
}

const KIND_TYPE: Record<PartitionKind, string> = { date: 'Date32<DAY>', int: 'Int64', string: 'Utf8' };

/** A column of `length` copies of one partition value. */
function constantColumn(type: DataType, raw: string | null, length: number): unknown[] | ArrayLike<unknown> {
  if (raw === null) return new Array(length).fill(null);
  switch (type.typeId) {
    case Type.Date: return new Int32Array(length).fill(daysFromIsoDate(raw) ?? 0);
    case Type.Int: return String(type) === 'Int64' ? new BigInt64Array(length).fill(BigInt(raw)) : new Int32Array(length).fill(Number(raw));
    case Type.Float: return new Float64Array(length).fill(Number(raw));
    case Type.Bool: return new Array(length).fill(raw === 'true');
    default: return new Array(length).fill(raw);
  }
}

export class Dataset {
  readonly store: Datastore;
  readonly root: string;
  private loaded: Promise<{ manifest: Manifest | undefined; partitionBy: PartitionColumn[]; partitions: DatasetPartition[]; format: TableFormat | undefined }> | undefined;

  constructor(store: StoreRef, path: string) {
    this.store = resolveStore(store);
    this.root = normalizeRoot(path);
  }

  /** A dataset whose layout (format, partition columns, schema) is known, e.g. sent with a task: reads no manifest. */
  static withLayout(store: StoreRef, path: string, layout: Pick<Manifest, 'format' | 'partitionBy' | 'schema'>): Dataset {
    const ds = new Dataset(store, path);
    const manifest: Manifest = { recc: 'dataset', version: 1, ...layout, partitions: [], updatedAt: '' };
    ds.loaded = Promise.resolve({ manifest, partitionBy: layout.partitionBy.map((c) => ({ name: c.name, kind: c.kind })), partitions: [], format: layout.format });
    return ds;
  }

  /** The manifest, or undefined for a dataset recc did not write. */
  async manifest(): Promise<Manifest | undefined> {
    return (await this.load()).manifest;
  }

  async partitionColumns(): Promise<PartitionColumn[]> {
    return (await this.load()).partitionBy;
  }

  /** The partitions that may hold rows matching `where` (pruned by key values; no data file is opened). */
  async partitions(options: { where?: Where } = {}): Promise<DatasetPartition[]> {
    const where = parseWhere(options.where);
    const { partitionBy, partitions } = await this.load();
    const filter = partitionFilter(partitionBy, where);
    return partitions.filter((p) => partitionMatches(filter, partitionBy.map((c) => p.values[c.name] ?? null)));
  }

  /** Every column (partition columns included), from the manifest or the first partition's first file. */
  async schema(): Promise<ColumnSchema[]> {
    const { manifest, partitions, partitionBy } = await this.load();
    if (manifest) return manifest.schema;
    const first = partitions[0];
    if (!first) return [];
    const key = (first.files[0] as { key: string }).key;
    const t = await readTableChecked(this.store, key, formatOfKey(key) === 'parquet' ? { rowGroups: [] } : {}, undefined);
    return [...columnSchemaOf(t.table.schema), ...partitionBy.map((c) => ({ name: c.name, type: KIND_TYPE[c.kind], nullable: true }))];
  }

  /**
   * One partition as an Arrow table: its files, with the partition columns
   * added back as constant columns. A file whose columns differ from the
   * dataset's schema is SchemaMismatchError naming the partition and columns.
   */
  async readPartition(partition: DatasetPartition, options: DatasetReadOptions = {}): Promise<Table> {
    const { manifest, partitionBy } = await this.load();
    const where = parseWhere(options.where);
    const partNames = new Set(partitionBy.map((c) => c.name));
    const expectedAll = manifest ? manifest.schema : undefined;
    const fileExpected = expectedAll?.filter((c) => !partNames.has(c.name));
    const known = expectedAll?.map((c) => c.name);
    if (options.columns && known) {
      const unknown = options.columns.filter((c) => !known.includes(c));
      if (unknown.length > 0) throw new TableOptionsError(`no column ${unknown.map((c) => `"${c}"`).join(', ')} in dataset ${this.store.name}:${this.root} (columns: ${known.join(', ')})`, unknown.map((c) => ({ path: 'columns', message: `unknown column "${c}"` })));
    }
    const fileWhere: ColumnCondition[] = where.filter((w) => !partNames.has(w.column));
    const fileColumns = options.columns?.filter((c) => !partNames.has(c));
    const tables: Table[] = [];
    for (const f of partition.files) {
      const check = (actual: ColumnSchema[]) => {
        const expected = fileExpected ?? this.firstSchema;
        if (!expected) {
          this.firstSchema = actual;
          this.firstSchemaFrom = partition.dir;
          return;
        }
        const diff = schemaDifferences(expected, actual);
        if (diff.length > 0) {
          const against = fileExpected ? 'the dataset manifest' : `partition ${this.firstSchemaFrom || '(root)'}`;
          throw new SchemaMismatchError(
            `partition ${partition.dir || '(root)'} of dataset ${this.store.name}:${this.root} (${f.key}) does not match ${against}: ${diff.map((d) => d.message).join('; ')}`,
            diff.map((d) => ({ path: `${partition.dir}.${d.path}`, message: d.message })),
          );
        }
      };
      // Only partition columns asked for: read one file column to learn the row count.
      const cols = fileColumns && fileColumns.length === 0 ? undefined : fileColumns;
      const read = await readTableChecked(this.store, f.key, { ...(cols ? { columns: cols } : {}), ...(fileWhere.length ? { where: Object.fromEntries(fileWhere.map((w) => [w.column, w.condition])) } : {}) }, check);
      tables.push(fileColumns && fileColumns.length === 0 ? read.table.select([]) : read.table);
    }
    const rows = tables.reduce((n, t) => n + t.numRows, 0);
    // The output schema: file columns, then partition columns (or the order asked for).
    const fileFields = tables[0]?.schema.fields ?? [];
    const partFields = partitionBy.map((c) => {
      const t = (expectedAll && typeOfName(expectedAll.find((x) => x.name === c.name)?.type ?? '')) ?? typeOfName(KIND_TYPE[c.kind]) ?? new Utf8();
      return { name: c.name, type: t, nullable: true };
    });
    const all = [...fileFields.map((f) => ({ name: f.name, type: f.type, nullable: f.nullable })), ...partFields];
    const order = options.columns ?? all.map((c) => c.name);
    const fields = order.map((n) => all.find((c) => c.name === n)).filter((c): c is (typeof all)[number] => c !== undefined);
    const schema = schemaOf(fields);
    const batches: RecordBatch[] = [];
    for (const t of tables) {
      for (const b of t.batches) {
        const children = fields.map((fld) => {
          const i = t.schema.fields.findIndex((x) => x.name === fld.name);
          if (i >= 0) return b.data.children[i];
          return buildBatch(schemaOf([fld]), [{ name: fld.name, type: fld.type, values: constantColumn(fld.type, partition.values[fld.name] ?? null, b.numRows) }], b.numRows).data.children[0];
        });
        batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.numRows, nullCount: 0, children: children as never })));
      }
    }
    void rows;
    return new Table(schema, batches);
  }

  /** All matching partitions as one table (partitions read one after another). */
  async read(options: DatasetReadOptions = {}): Promise<Table> {
    const parts = await this.partitions({ where: options.where });
    const tables: Table[] = [];
    for (const p of parts) tables.push(await this.readPartition(p, options));
    if (tables.length === 0) {
      const schema = await this.schema();
      const cols = (options.columns ?? schema.map((c) => c.name)).map((n) => schema.find((c) => c.name === n)).filter((c): c is ColumnSchema => !!c);
      return new Table(schemaOf(cols.map((c) => ({ name: c.name, type: typeOfName(c.type) ?? new Utf8(), nullable: c.nullable }))), []);
    }
    const schema = (tables[0] as Table).schema;
    return new Table(schema, tables.flatMap((t) => t.batches.map((b) => new RecordBatch(schema, b.data))));
  }

  private firstSchema: ColumnSchema[] | undefined;
  private firstSchemaFrom = '';

  private load() {
    this.loaded ??= this.discover();
    return this.loaded;
  }

  private async discover() {
    const manifestKey = joinKey(this.root, MANIFEST_FILE);
    let bytes: Uint8Array | undefined;
    try {
      bytes = await this.store.read(manifestKey);
    } catch (err) {
      if (!(err instanceof DatastoreNotFoundError)) throw err;
    }
    if (bytes) {
      const manifest = parseManifest(this.store.name, manifestKey, bytes);
      const partitions = manifest.partitions.map((p) => ({
        dir: p.dir,
        values: Object.fromEntries(manifest.partitionBy.map((c, i) => [c.name, p.values[i] ?? null])),
        files: p.files.map((f) => ({ key: joinKey(this.root, f.key), rows: f.rows, bytes: f.bytes })),
        rows: p.rows,
      }));
      return { manifest, partitionBy: manifest.partitionBy.map((c) => ({ name: c.name, kind: c.kind })), partitions, format: manifest.format };
    }
    // No manifest: a Hive layout some other tool wrote. Paths alone give partitions and their values.
    const byDir = new Map<string, DatasetPartition>();
    let keys: string[] | undefined;
    const prefix = this.root === '' ? '' : `${this.root}/`;
    for await (const o of listAll(this.store, prefix)) {
      const parsed = parsePartitionKey(o.key.slice(prefix.length));
      if (!parsed || !formatOfKey(parsed.file)) continue;
      const names = parsed.values.map(([k]) => k);
      if (!keys) keys = names;
      else if (names.join('/') !== keys.join('/')) {
        throw new SchemaMismatchError(`dataset ${this.store.name}:${this.root}: partition ${parsed.dir} is partitioned by ${names.join(', ') || '(nothing)'}, others by ${keys.join(', ') || '(nothing)'}`, [{ path: parsed.dir, message: `expected partition columns ${keys.join(', ')}` }]);
      }
      let p = byDir.get(parsed.dir);
      if (!p) {
        p = { dir: parsed.dir, values: Object.fromEntries(parsed.values), files: [] };
        byDir.set(parsed.dir, p);
      }
      p.files.push({ key: o.key, bytes: o.size });
    }
    if (byDir.size === 0) throw new DatastoreNotFoundError(this.store.name, `${prefix}${MANIFEST_FILE}`);
    const partitions = [...byDir.values()];
    const partitionBy = (keys ?? []).map((name) => ({ name, kind: inferKind(partitions.map((p) => p.values[name] ?? null)) }));
    return { manifest: undefined, partitionBy, partitions, format: formatOfKey((partitions[0] as DatasetPartition).files[0]?.key ?? '') };
  }
}

/** `openDataset(store, 'prices').partitions({ where: { date: { gte: '2024-01-01' } } })`. Lazy: nothing is read until a method is called. */
export function openDataset(store: StoreRef, path: string): Dataset {
  return new Dataset(store, path);
}

export interface WriteDatasetOptions {
  /** Partition columns, outermost first (`['date']` → `date=2024-01-02/`). */
  partitionBy: string[];
  /** @default 'parquet' */
  format?: TableFormat;
  /** 'overwrite' (default) replaces the dataset; 'append' adds files and partitions (the schema must match). */
  mode?: 'overwrite' | 'append';
  /** Parquet rows per row group. */
  rowGroupSize?: number;
  /** Files written at once. @default 8 */
  concurrency?: number;
}

function partitionValueText(type: DataType, v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (type.typeId === Type.Date && String(type) === 'Date32<DAY>') return isoDateFromDays(v as number);
  if (v instanceof Uint8Array) return new TextDecoder().decode(v);
  return String(v);
}

/** What one writer wrote: its files by partition, and the schema and layout they share (no manifest yet). */
export interface DatasetPieces {
  format: TableFormat;
  partitionBy: Array<{ name: string; kind: PartitionKind }>;
  schema: ColumnSchema[];
  partitions: Manifest['partitions'];
}

/**
 * Writes a table as a partitioned dataset: one file per partition, written
 * atomically, then the manifest (last, so readers never see a manifest that
 * names files not yet written). Overwrite deletes the previous files only
 * after the new manifest is in place.
 */
export async function writeDataset(storeRef: StoreRef, path: string, tableLike: TableLike, options: WriteDatasetOptions): Promise<Manifest> {
  const store = resolveStore(storeRef);
  const root = normalizeRoot(path);
  const table = toArrowTable(tableLike);
  const layout = datasetLayout(store, root, table, options);
  // An append that cannot succeed fails before any file is written.
  checkAppend(store, root, await previousManifest(store, root), [layout], options);
  const writeId = newWriteId();
  try {
    const pieces = await writeDatasetFiles(store, root, table, options, writeId, 0);
    return await commitDataset(store, root, [pieces], options);
  } catch (err) {
    await removeUnpublishedFiles(store, root, writeId).catch(() => undefined);
    throw err;
  }
}

export function newWriteId(): string {
  return `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
}

/**
 * After a failed write: delete the files of write `writeId` (`…/part-<writeId>-<i>.<ext>`) under `path`
 * that the dataset's current manifest does not name. Only this write's files are touched (the id is unique
 * per write), so the previous dataset and other writers' files are safe; a manifest that already names them
 * (the failure came after the commit) keeps them. Returns the deleted keys.
 */
export async function removeUnpublishedFiles(storeRef: StoreRef, path: string, writeId: string): Promise<string[]> {
  if (!/^[0-9a-z]+$/.test(writeId)) throw new TableOptionsError(`invalid write id "${writeId}"`, [{ path: 'writeId', message: 'expected lower-case letters and digits (newWriteId)' }]);
  const store = resolveStore(storeRef);
  const root = normalizeRoot(path);
  const named = new Set<string>();
  const manifest = await previousManifest(store, root);
  for (const p of manifest?.partitions ?? []) for (const f of p.files) named.add(joinKey(root, f.key));
  const mine = new RegExp(`(^|/)part-${writeId}-\\d+\\.[a-z]+$`);
  const deleted: string[] = [];
  for await (const o of listAll(store, root === '' ? '' : `${root}/`)) {
    if (!mine.test(o.key) || named.has(o.key)) continue;
    await store.delete(o.key);
    deleted.push(o.key);
  }
  return deleted;
}

/** Validate the partition columns of `table`; its layout (the files' schema, the partition kinds). */
function datasetLayout(store: Datastore, root: string, table: Table, options: WriteDatasetOptions): Omit<DatasetPieces, 'partitions'> {
  const format = options.format ?? 'parquet';
  const partitionBy = options.partitionBy ?? [];
  checkPartitionKeys(partitionBy);
  const problems: ErrorDetail[] = [];
  const fields = table.schema.fields;
  const partCols: PartitionColumn[] = [];
  for (const name of partitionBy) {
    const f = fields.find((x) => x.name === name);
    if (!f) {
      problems.push({ path: `partitionBy.${name}`, message: `no column "${name}" (columns: ${fields.map((x) => x.name).join(', ')})` });
      continue;
    }
    const kind = partitionKindOfType(String(f.type));
    if (!kind) problems.push({ path: `partitionBy.${name}`, message: `column "${name}" is ${String(f.type)}; partition by a date, integer or string column` });
    else partCols.push({ name, kind });
  }
  if (partitionBy.length >= fields.length) problems.push({ path: 'partitionBy', message: 'expected at least one column that is not a partition column' });
  if (problems.length > 0) throw new TableOptionsError(`cannot write dataset ${store.name}:${root}: ${problems.map((p) => p.message).join('; ')}`, problems);
  // Files store dictionary columns as their values (Utf8); the manifest records what readers get back.
  const schema = columnSchemaOf(table.schema).map((c) => (c.type.startsWith('Dictionary<') ? { ...c, type: 'Utf8' } : c));
  return { format, partitionBy: partCols.map((c) => ({ name: c.name, kind: c.kind })), schema };
}

async function previousManifest(store: Datastore, root: string): Promise<Manifest | undefined> {
  const manifestKey = joinKey(root, MANIFEST_FILE);
  try {
    return parseManifest(store.name, manifestKey, await store.read(manifestKey));
  } catch (err) {
    if (!(err instanceof DatastoreNotFoundError)) throw err;
    return undefined;
  }
}

/** Every writer's layout must agree, and with the dataset's own when appending. */
function checkAppend(store: Datastore, root: string, previous: Manifest | undefined, layouts: ReadonlyArray<Omit<DatasetPieces, 'partitions'>>, options: WriteDatasetOptions): void {
  const first = layouts[0];
  if (!first) return;
  const base = options.mode === 'append' && previous ? previous : first;
  const what = base === first ? 'its first partition' : 'dataset';
  for (const l of base === first ? layouts.slice(1) : layouts) {
    const diff = schemaDifferences(base.schema, l.schema);
    const partsDiffer = base.partitionBy.map((c) => c.name).join(',') !== l.partitionBy.map((c) => c.name).join(',');
    if (diff.length > 0 || partsDiffer || base.format !== l.format) {
      throw new SchemaMismatchError(
        `cannot ${base === first ? 'write' : 'append to'} dataset ${store.name}:${root}: ${[...diff.map((d) => d.message), ...(partsDiffer ? [`partitioned by ${base.partitionBy.map((c) => c.name).join(', ')}, not ${l.partitionBy.map((c) => c.name).join(', ')}`] : []), ...(base.format !== l.format ? [`stored as ${base.format}, not ${l.format}`] : [])].join('; ')} (${what}: ${describeSchema(base.schema)})`,
        diff,
      );
    }
  }
}

/**
 * Write `table`'s files (one per partition value, named `part-<writeId>-<index>`) and return what was
 * written; no manifest. Writers of one dataset write share a writeId and differ in index.
 */
export async function writeDatasetFiles(storeRef: StoreRef, path: string, tableLike: TableLike, options: WriteDatasetOptions, writeId: string, index: number): Promise<DatasetPieces> {
  const store = resolveStore(storeRef);
  const root = normalizeRoot(path);
  const table = toArrowTable(tableLike);
  const layout = datasetLayout(store, root, table, options);
  const format = layout.format;
  const partitionBy = options.partitionBy ?? [];
  const fields = table.schema.fields;
  // Group rows by their partition values.
  const partIdx = partitionBy.map((n) => fields.findIndex((f) => f.name === n));
  const partValues = partIdx.map((i) => columnValues(table, i));
  const groups = new Map<string, { values: Array<string | null>; rows: number[] }>();
  for (let r = 0; r < table.numRows; r++) {
    const vals = partIdx.map((fi, j) => partitionValueText((fields[fi] as (typeof fields)[number]).type, (partValues[j] as ArrayLike<unknown>)[r]));
    const k = JSON.stringify(vals);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { values: vals, rows: [] }));
    g.rows.push(r);
  }
  const dataIdx = fields.map((_, i) => i).filter((i) => !partIdx.includes(i));
  const dataFields = dataIdx.map((i) => fields[i] as (typeof fields)[number]);
  const dataValues = dataIdx.map((i) => columnValues(table, i));
  const entries: Manifest['partitions'] = [];
  const jobs = [...groups.values()].sort((a, b) => JSON.stringify(a.values).localeCompare(JSON.stringify(b.values)));
  let next = 0;
  const writeOne = async () => {
    while (next < jobs.length) {
      const g = jobs[next++] as (typeof jobs)[number];
      const rows = Uint32Array.from(g.rows);
      const cols = dataFields.map((f, j) => ({ name: f.name, type: f.type.typeId === Type.Dictionary ? new Utf8() : f.type, values: takeValues(dataValues[j] as ArrayLike<unknown>, rows) }));
      const s = schemaOf(cols.map((c, j) => ({ name: c.name, type: c.type, nullable: (dataFields[j] as (typeof dataFields)[number]).nullable })));
      const part = new Table(s, [buildBatch(s, cols, rows.length)]);
      const dir = partitionDir(partitionBy.map((n, j) => [n, g.values[j] ?? null] as const));
      const rel = `${dir === '' ? '' : `${dir}/`}part-${writeId}-${index}${extensionOf(format)}`;
      const bytes = await encodeTable(part, format, options.rowGroupSize ? { rowGroupSize: options.rowGroupSize } : {});
      const stat = await store.write(joinKey(root, rel), bytes);
      entries.push({ dir, values: g.values, rows: rows.length, files: [{ key: rel, rows: rows.length, bytes: stat.size }] });
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 8, jobs.length)) }, writeOne));
  return { ...layout, partitions: entries };
}

/**
 * Publish what the writers wrote: one manifest naming every file (merged by partition directory), written
 * only now, so a failed writer leaves no manifest and readers never see partial data. Overwrite then deletes
 * the previous files. Throws SchemaMismatchError when writers (or an append) disagree on the schema.
 */
export async function commitDataset(storeRef: StoreRef, path: string, pieces: readonly DatasetPieces[], options: WriteDatasetOptions): Promise<Manifest> {
  const store = resolveStore(storeRef);
  const root = normalizeRoot(path);
  const previous = await previousManifest(store, root);
  checkAppend(store, root, previous, pieces, options);
  const first = pieces[0];
  if (!first) throw new TableOptionsError(`cannot write dataset ${store.name}:${root}: nothing was written`, [{ path: 'table', message: 'expected at least one partition' }]);
  const merged = new Map<string, Manifest['partitions'][number]>();
  const add = (e: Manifest['partitions'][number]) => {
    const old = merged.get(e.dir);
    if (old) {
      old.files.push(...e.files);
      old.rows += e.rows;
    } else merged.set(e.dir, { ...e, files: [...e.files] });
  };
  if (options.mode === 'append' && previous) for (const p of previous.partitions) add(p);
  for (const piece of pieces) for (const e of piece.partitions) add(e);
  const partitions = [...merged.values()];
  for (const p of partitions) p.files.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  partitions.sort((a, b) => (a.dir < b.dir ? -1 : a.dir > b.dir ? 1 : 0));
  const manifest: Manifest = {
    recc: 'dataset',
    version: 1,
    format: first.format,
    partitionBy: first.partitionBy,
    schema: first.schema,
    partitions,
    updatedAt: new Date().toISOString(),
  };
  await store.write(joinKey(root, MANIFEST_FILE), serializeManifest(manifest));
  if (options.mode !== 'append' && previous) {
    const keep = new Set(partitions.flatMap((p) => p.files.map((f) => f.key)));
    for (const p of previous.partitions) for (const f of p.files) if (!keep.has(f.key)) await store.delete(joinKey(root, f.key));
  }
  return manifest;
}

/** One task's work in `DistributedTable.writeDataset`: write its partition's files (no manifest). */
export interface WritePartJob {
  store: StoreSpec;
  root: string;
  options: WriteDatasetOptions;
  writeId: string;
  index: number;
}

/** Runs on a worker: opens the store from its spec and writes one table partition's files (the partition as a table or Arrow IPC). */
export function writeDatasetPartJob(job: WritePartJob, table: TableLike | Uint8Array): Promise<DatasetPieces> {
  const t = table instanceof Uint8Array ? tableFromIPC(table) : table;
  return writeDatasetFiles(openStore(job.store.name, job.store.config), job.root, t, job.options, job.writeId, job.index);
}

/** A store a worker can open: its name and configuration (never a live client or credentials). */
export interface StoreSpec {
  name: string;
  config: StoreConfig;
}

/** One task's work in `client.readDataset`: a partition and what to read from it. */
export interface PartitionJob {
  store: StoreSpec;
  root: string;
  partition: DatasetPartition;
  /** What the worker needs of the manifest (not its partition list); undefined for a dataset without one. */
  layout: Pick<Manifest, 'format' | 'partitionBy' | 'schema'> | undefined;
  options: DatasetReadOptions;
}

/** Runs on a worker: opens the store from its spec (the worker's own credentials) and reads one partition. */
export async function readPartitionJob(job: PartitionJob): Promise<Table> {
  const store = openStore(job.store.name, job.store.config);
  const ds = job.layout ? Dataset.withLayout(store, job.root, job.layout) : openDataset(store, job.root);
  return ds.readPartition(job.partition, job.options);
}
