/**
 * Partition steps on Arrow tables: the user's functions (compiled from their
 * source), meta checks, filters, group-apply. Used by the ops module in task
 * threads and by the client for meta inference and the local reference.
 */
import * as arrow from 'apache-arrow';
import { Table, tableFromArrays, tableFromJSON, type Schema } from 'apache-arrow';
import { compileInline } from '../../worker/task-source.ts';
import { compact, concatTables, fromIPC, take } from './kernels.ts';
import { groupRuns, sortIndices } from './keys.ts';
import { pinLike } from './shapes.ts';
import type { FnSpec, MetaSpec, Step } from './spec.ts';

/** What a user function gets besides the table: the Arrow module (inline functions cannot import), the partition and, in apply, the group key. */
export interface PartitionContext {
  arrow: typeof arrow;
  partition: number;
  key?: Record<string, unknown>;
}

export type PartitionFn = (table: Table, ctx: PartitionContext) => unknown;

const compiled = new Map<string, PartitionFn>();

/** Module user functions loaded in this thread (through the worker's function table). */
const moduleFns = new Map<string, PartitionFn>();

export function hasModuleFn(id: string): boolean {
  return moduleFns.has(id);
}

/** Load module user functions by id from the task thread (worker/thread.ts offers them under a global symbol). */
export async function loadModuleFns(ids: readonly string[]): Promise<void> {
  const resolve = (globalThis as Record<symbol, unknown>)[Symbol.for('recc.function')] as ((id: string) => Promise<PartitionFn>) | undefined;
  if (!resolve) throw new Error('module functions in table operations need a recc worker thread (worker/thread.ts)');
  for (const id of ids) moduleFns.set(id, await resolve(id));
}

export function compileFn(fn: FnSpec): PartitionFn {
  if (fn.module) {
    const f = moduleFns.get(fn.module);
    if (!f) throw new Error(`module function ${fn.name} is not loaded here`);
    return f;
  }
  const id = `${fn.name}\0${fn.source}`;
  let f = compiled.get(id);
  if (!f) compiled.set(id, (f = compileInline(fn.name, fn.source) as PartitionFn));
  return f;
}

/** The error of a user function, with its name kept and the partition (and group) named in the message. */
export function blamePartition(err: unknown, where: string): Error {
  const e = err instanceof Error ? err : new Error(`non-Error value thrown: ${String(err)}`);
  try {
    e.message = `${e.message} (${where})`;
  } catch {
    return Object.assign(new Error(`${String(e.message)} (${where})`), { name: e.name });
  }
  return e;
}

/** Where a user function ran, for error messages: a string, or a function building it (only called for an error). */
type Where = string | (() => string);
const said = (w: Where): string => (typeof w === 'string' ? w : w());

/** A function's return value as a Table: a Table, an array of row objects, or an object of column arrays. */
export function asTable(value: unknown, where: Where): Table {
  // Arrow's instanceof also accepts Tables of other copies of apache-arrow, whose type objects this copy misreads.
  if (value instanceof Table && Object.getPrototypeOf(value) === Table.prototype) return value;
  if (value !== null && typeof value === 'object' && 'schema' in value && 'batches' in value) {
    throw new TypeError(`${said(where)} returned a Table of another copy of apache-arrow (a module function that imports its own); build the result with ctx.arrow, recc's copy`);
  }
  if (Array.isArray(value)) return tableFromJSON(value as Array<Record<string, unknown>>);
  if (value !== null && typeof value === 'object' && Object.values(value).every((c) => Array.isArray(c) || ArrayBuffer.isView(c))) {
    return tableFromArrays(value as Record<string, never>);
  }
  throw new TypeError(`${said(where)} returned ${value === null ? 'null' : typeof value}; expected an Arrow Table, an array of row objects or an object of column arrays`);
}

/** The meta of a schema. */
export function metaOf(schema: Schema): MetaSpec {
  return schema.fields.map((f) => [f.name, String(f.type)]);
}

/** Why a table does not match its declared meta (naming every column), or undefined. */
export function metaMismatch(t: Table, meta: MetaSpec): string | undefined {
  const got = new Map(t.schema.fields.map((f) => [f.name, String(f.type)]));
  const want = new Map(meta);
  const problems: string[] = [];
  const missing = [...want.keys()].filter((c) => !got.has(c));
  const extra = [...got.keys()].filter((c) => !want.has(c));
  if (missing.length > 0) problems.push(`missing ${missing.join(', ')}`);
  if (extra.length > 0) problems.push(`not declared ${extra.join(', ')}`);
  for (const [c, type] of want) {
    const g = got.get(c);
    if (type && g !== undefined && g.toLowerCase() !== type.toLowerCase()) problems.push(`column ${c} is ${g}, meta says ${type}`);
  }
  if (problems.length === 0) return undefined;
  const fmt = (m: Iterable<[string, string]>) => `[${[...m].map(([c, ty]) => (ty ? `${c}: ${ty}` : c)).join(', ')}]`;
  return `returned columns ${fmt(got)} but meta declares ${fmt(want)}: ${problems.join('; ')}`;
}

export class MetaMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetaMismatchError';
  }
}

function checkMeta(t: Table, meta: MetaSpec | null, where: Where): Table {
  if (!meta) return t;
  const problem = metaMismatch(t, meta);
  if (problem) throw new MetaMismatchError(`${said(where)} ${problem}`);
  // Same columns, declared order.
  return t.select(meta.map(([c]) => c));
}

/** Apply the steps to a partition's table. */
export function runSteps(t: Table, steps: readonly Step[], partition: number): Table {
  for (const step of steps) t = runStep(t, step, partition);
  return t;
}

function runStep(t: Table, step: Step, partition: number): Table {
  // A shuffle output that received nothing and whose schema was unknown: nothing to do.
  if (t.numRows === 0 && t.schema.fields.length === 0) return t;
  switch (step.k) {
    case 'map': {
      const where = `partition ${partition} of mapPartitions(${step.label})`;
      let out: unknown;
      try {
        out = compileFn(step.fn)(t, { arrow, partition });
      } catch (err) {
        throw blamePartition(err, where);
      }
      return checkMeta(asTable(out, where), step.meta, where);
    }
    case 'filter': {
      const pred = compileFn(step.fn) as unknown as (row: unknown, i: number) => unknown;
      const keep: number[] = [];
      try {
        for (let i = 0; i < t.numRows; i++) if (pred(t.get(i), i)) keep.push(i);
      } catch (err) {
        throw blamePartition(err, `partition ${partition} of filter(${step.fn.name})`);
      }
      return keep.length === t.numRows ? t : take(t, keep);
    }
    case 'select':
      return t.select(step.cols);
    case 'head':
      return t.numRows <= step.n ? t : t.slice(0, step.n);
    case 'slice':
      return t.slice(step.start, step.end);
    case 'sort':
      return take(t, sortIndices(t, step.cols));
    case 'apply': {
      // One take puts each group's rows together (in their order); each group is then a zero-copy slice.
      const { keys, order, starts } = groupRuns(t, step.by);
      return applyGroups(keys.length === 1 ? t : take(t, order), keys, starts, step, partition);
    }
  }
}

type ApplyStep = Extract<Step, { k: 'apply' }>;

/**
 * `step.fn` per group of `grouped`, whose rows come group by group: group g
 * is rows `starts[g]..starts[g+1]`, with key `keys[g]`. The outputs as one
 * table.
 */
export function applyGroups(grouped: Table, keys: readonly unknown[][], starts: ArrayLike<number>, step: ApplyStep, partition: number): Table {
  const fn = compileFn(step.fn);
  const outs: Table[] = [];
  for (let g = 0; g < keys.length; g++) {
    const key = keys[g] as unknown[];
    const keyObj = Object.fromEntries(step.by.map((c, i) => [c, key[i]]));
    // Built only for an error: per group it cost more than the slice the function gets.
    const where = () => `partition ${partition}, group ${JSON.stringify(keyObj, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))} of groupBy(${step.by.join(', ')}).apply(${step.fn.name})`;
    let out: unknown;
    try {
      out = fn(grouped.slice(starts[g] as number, starts[g + 1] as number), { arrow, partition, key: keyObj });
    } catch (err) {
      throw blamePartition(err, where());
    }
    outs.push(checkMeta(asTable(out, where), step.meta, where));
  }
  // The group function's own objects (its builders, its tables) keep their shapes too (shapes.ts).
  if (outs.length > 0) pinLike(outs[0] as Table, { itself: true });
  // No groups here: the output schema when the client knows it, else no columns (skipped when gathered).
  if (outs.length === 0) return step.empty ? fromIPC(step.empty) : new Table();
  return compact(concatTables(outs, (outs[0] as Table).schema));
}
