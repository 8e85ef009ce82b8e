/**
 * DistributedTable: a table split into partitions, each an Arrow table on a
 * worker (Arrow IPC bytes behind a future, or a task yet to run). Operations
 * are lazy graph builders; `persist`, `toTable` and `head` run them. Shuffles
 * (groupBy().apply, setIndex, join of large tables) go worker to worker
 * (worker/shuffle.ts) with an O(N + M) graph and a barrier.
 */
import { Schema, Table, type DataType } from 'apache-arrow';
import { getNumber } from '../../shared/core/env.ts';
import { divisionsFromSamples, divisionsProblem } from '../../shared/shuffle/ranges.ts';
import type { Client } from '../client.ts';
import { Future } from '../future.ts';
import { functionRef, ModuleFunction, type AnyFunction } from '../functions.ts';
import { ColumnNotFoundError, TableArgumentError, TableReleasedError, TableTooLargeError } from './errors.ts';
import { GroupBy } from './group-by.ts';
import { joinTables } from './join.ts';
import { concatTables, emptyOf, fromIPC, toIPC } from './kernels.ts';
import { mapParts, opNode, registerModuleFunction, shuffleParts, submitParts, withStep, type Part } from './plan.ts';
import type { FnSpec, MetaSpec, Step } from './spec.ts';
import { asTable, compileFn, metaOf } from './steps.ts';
import * as arrow from 'apache-arrow';

/** Declared output columns: an Arrow Schema, `{ name: type }` (a DataType or its name, e.g. 'Float64') or names only. */
export type Meta = Schema | Record<string, DataType | string> | readonly string[];

export interface FromTableOptions {
  /** @default the number of rows / 100 000, at least 1 */
  npartitions?: number;
}

export interface FromPartitionsOptions {
  /** The partitions' schema when known (enables column checks before anything runs). */
  schema?: Schema;
}

export interface ToTableOptions {
  /** Refuse to gather more than this many bytes. @default RECC_TABLE_MAX_COLLECT_BYTES, else 1 GiB */
  maxBytes?: number;
}

export interface SetIndexOptions {
  /** Explicit divisions (n + 1 sorted values for n partitions): no sample pass. */
  divisions?: readonly unknown[];
  /** The data is already sorted by the column across partitions in order: no shuffle, divisions from each partition's ends. */
  sorted?: boolean;
  /** Output partitions. @default the input's */
  npartitions?: number;
}

const DEFAULT_MAX_COLLECT_BYTES = 1024 ** 3;
/** Sample values per output partition in setIndex's sample pass. */
const SAMPLES_PER_OUTPUT = 32;

/** What a table knows about its columns: the full schema, or (from a meta of names) just the names. */
export interface Columns {
  schema: Schema | null;
  names: string[] | null;
}

export class DistributedTable {
  private persisted: Promise<DistributedTable> | undefined;
  /** A persisted table's partitions, until release(). */
  private held: Future[] | null = null;
  private released = false;

  /** @internal */
  constructor(
    readonly client: Client,
    private readonly source: () => Promise<Part[]>,
    private readonly cols: Columns,
    /** Partitions, when known without running anything. */
    readonly npartitions: number | undefined,
    /** Index column (after setIndex). */
    readonly index: string | null = null,
    private readonly knownDivisions: readonly unknown[] | null = null,
  ) {}

  /** Known boundaries of the index per partition (Dask's divisions), when sorted by `index`. */
  get divisions(): readonly unknown[] | null {
    return this.knownDivisions;
  }

  /** The Arrow schema, when known (after mapPartitions without a usable meta it may not be). */
  get schema(): Schema | null {
    return this.cols.schema;
  }

  get columns(): string[] | null {
    return this.cols.names ?? this.cols.schema?.fields.map((f) => f.name) ?? null;
  }

  /** @internal The partitions (lazy nodes or futures). */
  parts(): Promise<Part[]> {
    if (this.released) return Promise.reject(new TableReleasedError('reading the table'));
    return this.source();
  }

  /**
   * Let the workers drop this table's persisted partitions, as `del df` does in Dask: for the table
   * persist() returned, and for the table persist() was called on. Tables derived from it that were not
   * computed yet can no longer run (TableReleasedError); results computed from it stay. Idempotent.
   */
  async release(): Promise<void> {
    const persisted = this.persisted;
    this.persisted = undefined;
    if (persisted) await persisted.then((t) => t.release(), () => undefined);
    if (!this.held) return;
    for (const f of this.held) f.release();
    this.held = null;
    this.released = true;
  }

  private derive(source: () => Promise<Part[]>, cols: Columns = this.cols, npartitions = this.npartitions, index = this.index, divisions = this.divisions): DistributedTable {
    return new DistributedTable(this.client, once(source), cols, npartitions, index, divisions);
  }

  /** @internal A table from this one's client with other partitions (no index). */
  derived(source: () => Promise<Part[]>, cols: Columns, npartitions: number | undefined): DistributedTable {
    return this.derive(source, cols, npartitions, null, null);
  }

  /** @internal Stored bytes of computed partitions (futures; lazy nodes count 0). */
  async sizeOf(parts: readonly Part[]): Promise<number> {
    let n = 0;
    for (const p of parts) if (p instanceof Future) n += this.client._nbytes(p.key);
    return n;
  }

  /** @internal Throws ColumnNotFoundError (before anything runs) when a column is not in the table. */
  requireColumns(operation: string, names: readonly string[]): void {
    const have = this.columns;
    if (!have) return;
    const missing = names.filter((c) => !have.includes(c));
    if (missing.length > 0) throw new ColumnNotFoundError(operation, missing, have);
  }

  private step(step: Step, label: string, cols: Columns = this.cols, keepIndex = true): DistributedTable {
    return this.derive(
      async () => mapParts(await this.parts(), label, step),
      cols,
      this.npartitions,
      keepIndex ? this.index : null,
      keepIndex ? this.divisions : null,
    );
  }

  /**
   * `fn(table, { arrow, partition })` on every partition; it returns an Arrow
   * Table, an array of row objects or an object of column arrays. Without
   * `meta` the output columns are inferred by running `fn` here on an empty
   * table; with it, every partition's output is checked against it.
   */
  mapPartitions(fn: AnyFunction | ModuleFunction, options: { meta?: Meta } = {}): DistributedTable {
    const spec = fnSpec(fn, 'mapPartitions');
    const meta = options.meta === undefined ? null : metaSpec(options.meta);
    const cols = meta ? columnsOfMeta(options.meta as Meta) : this.inferColumns(spec);
    return this.step({ k: 'map', fn: spec, meta, label: spec.name }, 'map-partitions', cols, false);
  }

  /** Rows for which `predicate(row, i)` is truthy (`row.price`, as Arrow's row objects). */
  filter(predicate: (row: any, i: number) => unknown): DistributedTable {
    return this.step({ k: 'filter', fn: fnSpec(predicate as AnyFunction, 'filter') }, 'filter');
  }

  /** These columns, in this order. */
  select(columns: readonly string[]): DistributedTable {
    if (!Array.isArray(columns) || columns.length === 0 || columns.some((c) => typeof c !== 'string')) {
      throw new TableArgumentError('select: expected a non-empty array of column names', [{ path: 'columns', message: `got ${JSON.stringify(columns)}` }]);
    }
    this.requireColumns('select', columns);
    const fields = this.cols.schema?.fields;
    const schema = fields ? new Schema(columns.map((c) => fields.find((f) => f.name === c) as (typeof fields)[number])) : null;
    const keep = this.index !== null && columns.includes(this.index);
    return this.step({ k: 'select', cols: [...columns] }, 'select', { schema, names: [...columns] }, keep);
  }

  /** Group rows by key columns: `.apply(fn)` (hash shuffle) or `.agg({...})` (tree reduction). */
  groupBy(columns: string | readonly string[]): GroupBy {
    const by = typeof columns === 'string' ? [columns] : [...columns];
    if (by.length === 0 || by.some((c) => typeof c !== 'string')) throw new TableArgumentError('groupBy: expected column names', [{ path: 'columns', message: `got ${JSON.stringify(columns)}` }]);
    this.requireColumns('groupBy', by);
    return new GroupBy(this, by);
  }

  /**
   * Sort by `column` across partitions: approximate quantiles from a sample
   * pass, then a range shuffle (each output sorted). `divisions` or
   * `sorted: true` skip the sample pass. A missing column fails here.
   */
  setIndex(column: string, options: SetIndexOptions = {}): DistributedTable {
    this.requireColumns('setIndex', [column]);
    if (options.divisions !== undefined) {
      const problem = divisionsProblem(options.divisions);
      if (problem) throw new TableArgumentError('setIndex: invalid divisions', [{ path: 'divisions', message: problem }]);
    }
    const n = options.npartitions ?? (options.divisions ? options.divisions.length - 1 : this.npartitions);
    if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new TableArgumentError('setIndex: invalid npartitions', [{ path: 'npartitions', message: `expected a positive integer, got ${n}` }]);
    if (options.sorted) {
      const state: { divisions: unknown[] | null } = { divisions: null };
      const table = this.derive(async () => {
        const input = await this.persist().then((t) => t.parts());
        const ends = (await this.client.gather(await submitParts(this.client, input.map((p, i) => opNode('index-ends', { k: 'sample', part: i, steps: [], col: column, size: 0 }, [p]))))) as unknown[][];
        state.divisions = ends.length > 0 && ends.every((e) => e.length > 0) ? [...ends.map((e) => e[0]), ends[ends.length - 1]?.[1]] : null;
        return input;
      });
      return table.withIndex(column, state);
    }
    const schemaIPC = this.emptyIPC();
    const state: { divisions: unknown[] | null } = { divisions: options.divisions ? [...options.divisions] : null };
    const table = this.derive(
      async () => {
        const input = options.divisions ? await this.parts() : await this.persist().then((t) => t.parts());
        const outputs = n ?? input.length;
        if (!state.divisions) {
          const size = Math.max(8, Math.ceil((SAMPLES_PER_OUTPUT * outputs) / Math.max(1, input.length)));
          const samples = (await this.client.gather(await submitParts(this.client, input.map((p, i) => opNode('index-sample', { k: 'sample', part: i, steps: [], col: column, size }, [p]))))) as unknown[][];
          state.divisions = divisionsFromSamples(samples, outputs);
        }
        const divisions = state.divisions.length >= 2 ? state.divisions : [null, null];
        const m = Math.max(1, divisions.length - 1);
        return shuffleParts('set-index', input, { range: column, divisions }, m, schemaIPC, () => [{ k: 'sort', cols: [column] }]);
      },
      this.cols,
      undefined,
    );
    return table.withIndex(column, state);
  }

  private withIndex(column: string, state: { divisions: unknown[] | null }): DistributedTable {
    return new IndexedTable(this.client, () => this.parts(), this.cols, this.npartitions, column, state);
  }

  /** `n` partitions of about equal rows, keeping the order (row counts are computed first). */
  repartition(npartitions: number): DistributedTable {
    if (!(Number.isInteger(npartitions) && npartitions >= 1)) throw new TableArgumentError('repartition: invalid npartitions', [{ path: 'npartitions', message: `expected a positive integer, got ${npartitions}` }]);
    return this.derive(
      async () => {
        const input = await this.persist().then((t) => t.parts());
        const counts = (await this.client.gather(await submitParts(this.client, input.map((p, i) => opNode('row-count', { k: 'count', part: i, steps: [] }, [p]))))) as number[];
        return repartitionPlan(input, counts, npartitions);
      },
      this.cols,
      npartitions,
      this.index,
      null,
    );
  }

  /** Inner or left join on columns: the right side is broadcast when small, else both sides are hash-shuffled. */
  join(other: DistributedTable, on: string | readonly string[], options: { how?: 'inner' | 'left'; broadcastBytes?: number; npartitions?: number } = {}): DistributedTable {
    return joinTables(this, other, typeof on === 'string' ? [on] : [...on], options);
  }

  /** The first `n` rows (partitions are computed in order until there are enough). */
  async head(n = 5): Promise<Table> {
    const parts = await this.parts();
    const got: Table[] = [];
    let rows = 0;
    for (let i = 0; i < parts.length && rows < n; i++) {
      const [f] = await submitParts(this.client, [withStep(parts[i] as Part, { k: 'head', n: n - rows }, 'head')]);
      const t = fromIPC((await (f as Future<Uint8Array>).result()) as Uint8Array);
      f?.release();
      rows += t.numRows;
      got.push(t);
    }
    return concatTables(got, this.cols.schema ?? new Schema([])).slice(0, n);
  }

  /** Run the graph and keep the partitions on the workers; the returned table reads them without recomputing. */
  persist(): Promise<DistributedTable> {
    this.persisted ??= (async () => {
      const futures = await submitParts(this.client, await this.parts());
      // Wait only: the partitions stay on the workers (fetching them here would move the whole table).
      await Promise.all(futures.map((f) => f.wait()));
      const kept = new DistributedTable(this.client, async () => futures, this.cols, futures.length, this.index, this.divisions);
      kept.held = futures;
      return kept;
    })();
    this.persisted.catch(() => (this.persisted = undefined));
    return this.persisted;
  }

  /**
   * Write the table as a Hive-partitioned dataset (`key=value/` directories and a `_recc_dataset.json`
   * manifest, read back by `client.readDataset`). Each partition's task writes its own files; the manifest
   * is written once all succeeded, so a failure leaves readers the previous dataset (or none).
   */
  async writeDataset(store: import('../datasets.ts').DatasetStoreRef, path: string, options: import('../../adapters/datastores/dataset.ts').WriteDatasetOptions): Promise<import('../../shared/tables/manifest.ts').Manifest> {
    if (!options || !Array.isArray(options.partitionBy)) throw new TableArgumentError('writeDataset: invalid options', [{ path: 'options.partitionBy', message: 'expected an array of column names' }]);
    this.requireColumns('writeDataset', options.partitionBy);
    const parts = await this.parts();
    const futures = await submitParts(this.client, parts);
    const made = futures.filter((f, i) => !(parts[i] instanceof Future));
    try {
      const { writeDatasetParts } = await import('../datasets.ts');
      return await writeDatasetParts(this.client, store, path, futures, options);
    } finally {
      for (const f of made) f.release();
    }
  }

  /** Gather to one Arrow Table here; refused (TableTooLargeError) above `maxBytes` on the workers. */
  async toTable(options: ToTableOptions = {}): Promise<Table> {
    const limit = options.maxBytes ?? maxCollectBytes();
    const parts = await this.parts();
    const futures = await submitParts(this.client, parts);
    // Results computed for this call only are released once gathered (persisted or scattered ones stay).
    const made = futures.filter((f, i) => !(parts[i] instanceof Future));
    try {
      await Promise.all(futures.map((f) => f.wait()));
      const bytes = futures.reduce((n, f) => n + this.client._nbytes(f.key), 0);
      if (bytes > limit) throw new TableTooLargeError(bytes, limit);
      const values = (await this.client.gather(futures)) as Uint8Array[];
      const tables = values.map((v) => (v instanceof Uint8Array ? fromIPC(v) : (v as Table)));
      return concatTables(tables, this.cols.schema ?? tables[0]?.schema ?? new Schema([]));
    } finally {
      for (const f of made) f.release();
    }
  }

  private emptyIPC(): Uint8Array {
    return toIPC(this.cols.schema ? emptyOf(this.cols.schema) : new Table());
  }

  /** @internal */ emptySchemaIPC(): Uint8Array {
    return this.emptyIPC();
  }

  /**
   * @internal Output column names of `fn`, inferred by running it here on an
   * empty table (unknown when it throws). Only the names are kept: the types
   * an empty output shows need not be those of real data.
   */
  inferColumns(spec: FnSpec, key?: Record<string, unknown>): Columns {
    if (!this.cols.schema) return { schema: null, names: null };
    try {
      const out = asTable(compileFn(spec)(emptyOf(this.cols.schema), { arrow, partition: 0, ...(key ? { key } : {}) }), 'meta inference');
      return { schema: null, names: out.schema.fields.map((f) => f.name) };
    } catch {
      return { schema: null, names: null };
    }
  }
}

/** A table after setIndex: its divisions are known once the sample pass ran. */
class IndexedTable extends DistributedTable {
  constructor(client: Client, source: () => Promise<Part[]>, cols: Columns, n: number | undefined, index: string, private readonly state: { divisions: unknown[] | null }) {
    super(client, once(source), cols, n, index, null);
  }
  override get divisions(): readonly unknown[] | null {
    return this.state.divisions;
  }
}

/** The toTable limit: RECC_TABLE_MAX_COLLECT_BYTES (read once), else 1 GiB. */
let collectLimit: number | undefined;
function maxCollectBytes(): number {
  collectLimit ??= getNumber(process.env, 'RECC_TABLE_MAX_COLLECT_BYTES', DEFAULT_MAX_COLLECT_BYTES);
  return collectLimit;
}

/** Contiguous row ranges of about total/n rows each, as slices of the inputs concatenated. */
function repartitionPlan(input: readonly Part[], counts: readonly number[], n: number): Part[] {
  const total = counts.reduce((a, b) => a + b, 0);
  const starts: number[] = [];
  let acc = 0;
  for (const c of counts) {
    starts.push(acc);
    acc += c;
  }
  const out: Part[] = [];
  for (let j = 0; j < n; j++) {
    const lo = Math.floor((j * total) / n);
    const hi = Math.floor(((j + 1) * total) / n);
    const pieces: Part[] = [];
    for (let i = 0; i < input.length; i++) {
      const s = starts[i] as number;
      const e = s + (counts[i] as number);
      if (e <= lo || s >= hi || (counts[i] as number) === 0) continue;
      const a = Math.max(lo, s) - s;
      const b = Math.min(hi, e) - s;
      const p = input[i] as Part;
      pieces.push(a === 0 && b === counts[i] ? p : opNode('repartition-slice', { k: 'chain', part: i, steps: [{ k: 'slice', start: a, end: b }] }, [p]));
    }
    // An output with no rows still gets a partition (the first input, emptied).
    if (pieces.length === 0) pieces.push(opNode('repartition-slice', { k: 'chain', part: 0, steps: [{ k: 'slice', start: 0, end: 0 }] }, [input[0] as Part]));
    out.push(pieces.length === 1 ? (pieces[0] as Part) : opNode('repartition', { k: 'concat', part: j, steps: [] }, pieces));
  }
  return out;
}

// ------------------------------------------------------------ helpers

export function fnSpec(fn: AnyFunction | ModuleFunction, operation: string): FnSpec {
  if (fn instanceof ModuleFunction) {
    registerModuleFunction(fn);
    return { name: fn.def.exportName, source: '', module: fn.id };
  }
  if (typeof fn !== 'function') throw new TableArgumentError(`${operation}: expected a function`, [{ path: 'fn', message: `got ${typeof fn}; pass an inline function or a module function (client.module(path).fn(name))` }]);
  const ref = functionRef(fn);
  if (ref.def.kind !== 'inline') throw new TableArgumentError(`${operation}: expected an inline or module function`, [{ path: 'fn', message: 'command functions take no table' }]);
  return { name: ref.def.name, source: ref.def.source };
}

export function metaSpec(meta: Meta): MetaSpec {
  if (meta instanceof Schema) return metaOf(meta);
  if (Array.isArray(meta)) return (meta as string[]).map((c) => [String(c), '']);
  if (meta === null || typeof meta !== 'object') throw new TableArgumentError('invalid meta', [{ path: 'meta', message: 'expected an Arrow Schema, { column: type } or an array of column names' }]);
  return Object.entries(meta).map(([c, t]) => [c, typeof t === 'string' ? t : String(t)]);
}

function columnsOfMeta(meta: Meta): Columns {
  if (meta instanceof Schema) return { schema: meta, names: null };
  return { schema: null, names: metaSpec(meta).map(([c]) => c) };
}

function once<T>(f: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined;
  return () => {
    p ??= f();
    p.catch(() => (p = undefined));
    return p;
  };
}

/** `client.fromTable(table, { npartitions })`: the table split into row ranges and scattered. */
export function fromArrowTable(client: Client, table: Table, options: FromTableOptions = {}): DistributedTable {
  if (!(table instanceof Table)) throw new TableArgumentError('fromTable: expected an Arrow Table', [{ path: 'table', message: `got ${typeof table}` }]);
  const n = options.npartitions ?? Math.max(1, Math.ceil(table.numRows / 100_000));
  if (!(Number.isInteger(n) && n >= 1)) throw new TableArgumentError('fromTable: invalid npartitions', [{ path: 'npartitions', message: `expected a positive integer, got ${String(options.npartitions)}` }]);
  const futures: Array<Future<unknown>> = [];
  for (let i = 0; i < n; i++) {
    const lo = Math.floor((i * table.numRows) / n);
    const hi = Math.floor(((i + 1) * table.numRows) / n);
    futures.push(client.scatter([toIPC(table.slice(lo, hi))], { list: true })[0] as Future<unknown>);
  }
  return new DistributedTable(client, async () => futures, { schema: table.schema, names: null }, n);
}

/** `client.fromPartitions(futures)`: futures of Arrow IPC bytes (or Arrow Tables) as a table. */
export function fromPartitionFutures(client: Client, futures: ReadonlyArray<Future<unknown>>, options: FromPartitionsOptions = {}): DistributedTable {
  const list = [...futures];
  const bad = list.findIndex((f) => !(f instanceof Future));
  if (list.length === 0 || bad >= 0) throw new TableArgumentError('fromPartitions: expected a non-empty array of futures', [{ path: bad >= 0 ? `futures[${bad}]` : 'futures', message: bad >= 0 ? 'not a future' : 'empty' }]);
  return new DistributedTable(client, async () => list, { schema: options.schema ?? null, names: null }, list.length);
}
