/**
 * The table operations as one task function, `tableOp(op, ...inputs)`. The
 * client bundles this module (with apache-arrow) and uploads it once
 * (client.module); workers cache it by hash. Partitions travel as Arrow IPC
 * stream bytes. Pure functions of their inputs: a task run twice gives the
 * same bytes, which the shuffle relies on.
 */
import * as arrow from 'apache-arrow';
import { Field, Float64, Int32, Schema, Table, type Vector } from 'apache-arrow';
import { TableAdopter, isMarkedArrowTable } from '../../comm/table-adopt.ts';
import { compareValues, evenSample } from '../../shared/shuffle/ranges.ts';
import { joinPieces, piecesLength, unframe, writeFrameHeader, writePieces } from '../../shared/shuffle/frames.ts';
import { headedBytes } from '../../comm/raw-result.ts';
import { buildData, concatTables, emptyOf, fromIPC, ipcPieces, scatter, tableOf, takeVector, toHeadedIPC, toIPC } from './kernels.ts';
import { bucketPositions, bucketRows, compareTuples, groupRuns, hashParts, KeyDict, keyColumns, rangeParts } from './keys.ts';
import { runShardPieces, unpackRuns } from './runs.ts';
import type { AggSpec, Op, PartialAgg, Partitioning } from './spec.ts';
import { hasModuleFn, loadModuleFns, runSteps } from './steps.ts';
import { pinned } from './shapes.ts';

export function tableOp(op: Op, ...inputs: unknown[]): unknown {
  const modules = 'steps' in op ? op.steps.flatMap((s) => ((s.k === 'map' || s.k === 'filter' || s.k === 'apply') && s.fn.module && !hasModuleFn(s.fn.module) ? [s.fn.module] : [])) : [];
  if (modules.length > 0) return loadModuleFns(modules).then(() => runOp(op, inputs));
  return runOp(op, inputs);
}

function runOp(op: Op, inputs: unknown[]): unknown {
  switch (op.k) {
    // Partition results are written once, into the shared memory they leave the task thread in (toHeadedIPC).
    case 'chain':
      return toHeadedIPC(pinned(runSteps(input(inputs[0]), op.steps, op.part)));
    case 'concat': {
      const tables = inputs.map(input);
      return toHeadedIPC(pinned(runSteps(pinned(concatTables(tables, (tables[0] as Table).schema)), op.steps, op.part)));
    }
    case 'split':
      // One framed buffer, not a list: it travels as one byte array (shared with the worker, no msgpack copy).
      return framedShards(pinned(runSteps(input(inputs[0]), op.steps, op.part)), op.by, op.m, op.runs === true);
    case 'unpack': {
      const blobs = unframe(inputs[0] as Uint8Array);
      if (op.runs) return toHeadedIPC(pinned(unpackRuns(blobs, op.schema, op.steps, op.part)));
      const empty = fromIPC(op.schema);
      const shards = blobs.map((b) => pinned(fromIPC(b)));
      return toHeadedIPC(pinned(runSteps(pinned(concatTables(shards, empty.schema)), op.steps, op.part)));
    }
    case 'sample':
      return sample(runSteps(input(inputs[0]), op.steps, op.part), op.col, op.size);
    case 'count':
      return runSteps(input(inputs[0]), op.steps, op.part).numRows;
    case 'agg-partial': {
      const t = runSteps(input(inputs[0]), op.steps, op.part);
      // The input's types travel with the partial results (the client may not know them).
      const cols = t.schema.fields.length > 0 ? toIPC(emptyOf(t.schema)) : null;
      return [cols, partialAgg(t, op.by, op.aggs)] satisfies PartialState;
    }
    case 'agg-combine': {
      const states = inputs as PartialState[];
      const merged = combineAgg(states.map((s) => s[1]), op.aggs);
      const schema = states.find((s) => s[0] !== null)?.[0] ?? op.schema;
      return op.final ? toIPC(finalAgg(merged, op.by, op.aggs, fromIPC(schema).schema)) : ([schema, merged] satisfies PartialState);
    }
    case 'join':
      return toIPC(runSteps(join(input(inputs[0]), input(inputs[1]), op.on, op.how), op.steps, op.part));
  }
}

/** Partial aggregates with the input's schema (IPC of an empty table), when known. */
type PartialState = [Uint8Array | null, PartialAgg];

function input(v: unknown): Table {
  if (v instanceof Uint8Array) return pinned(fromIPC(v));
  // A partition that arrived as an Arrow Table (the worker's apache-arrow decoded it, not this bundle's copy, whose
  // tableToIPC would write it empty): rebuilt with this copy's classes over the same buffers.
  if (isMarkedArrowTable(v)) return new TableAdopter(arrow).table(v);
  throw new TypeError(`a table partition must be Arrow IPC bytes, got ${v === null ? 'null' : typeof v}`);
}

/** Rows looked at per sample value asked for (evenly spaced over the partition). */
const SAMPLE_OVERDRAW = 8;

/**
 * An evenly spaced sample of a column's sorted non-null values (`size`
 * values from at most size × SAMPLE_OVERDRAW rows spread over the
 * partition); size 0: the smallest and largest value (setIndex with sorted).
 */
export function sample(t: Table, col: string, size: number): unknown[] {
  const [vec] = keyColumns(t, [col]) as [Vector];
  const n = t.numRows;
  const values: unknown[] = [];
  if (size <= 0) {
    const dict = new KeyDict(1);
    dict.encode(t, [col]);
    let lo: unknown = null;
    let hi: unknown = null;
    for (const [v] of dict.keys) {
      if (v === null || v === undefined) continue;
      if (lo === null || compareValues(v, lo) < 0) lo = v;
      if (hi === null || compareValues(v, hi) > 0) hi = v;
    }
    return lo === null ? [] : [lo, hi];
  }
  const rows = Math.min(n, size * SAMPLE_OVERDRAW);
  for (let k = 0; k < rows; k++) {
    const v = vec.get(Math.floor((k * n) / rows));
    if (v !== null && v !== undefined) values.push(v);
  }
  values.sort(compareValues);
  return evenSample(values, size);
}

/** Per output, the pieces of its shard (none for an output with no rows); `runs`: key by key (runs.ts). */
function shardPieces(t: Table, by: Partitioning, m: number, runs = false): Uint8Array[][] {
  if (runs && 'hash' in by) return runShardPieces(t, by.hash, m);
  const parts = 'hash' in by ? hashParts(t, by.hash, m) : rangeParts(t, by.range, by.divisions, m);
  const { pos, starts } = bucketPositions(parts, m);
  // Every row moved to its place in output order (a scatter: the input read in order, written to m places),
  // then a zero-copy slice per output. An input that goes to one output whole is sent as it is.
  const sizes = Array.from({ length: m }, (_, j) => (starts[j + 1] as number) - (starts[j] as number));
  const all = sizes.includes(t.numRows) ? t : scatter(t, pos);
  return sizes.map((size, j) => (size === 0 ? [] : ipcPieces(size === t.numRows ? t : all.slice(starts[j] as number, (starts[j] as number) + size))));
}

/** One shard per output (IPC bytes; empty bytes for an output with no rows). */
export function split(t: Table, by: Partitioning, m: number, runs = false): Uint8Array[] {
  return shardPieces(t, by, m, runs).map(joinPieces);
}

/** `frame(split(t, by, m))` written once, straight from the IPC writer's pieces into headed shared memory. */
export function framedShards(t: Table, by: Partitioning, m: number, runs = false): Uint8Array {
  const shards = shardPieces(t, by, m, runs);
  const lengths = shards.map(piecesLength);
  const out = headedBytes(4 + 4 * m + lengths.reduce((a, b) => a + b, 0));
  let at = writeFrameHeader(lengths, out);
  for (const pieces of shards) at = writePieces(pieces, out, at);
  return out;
}

// ------------------------------------------------------------ aggregation

/** Per group: the key values and one state per aggregation. */
export function partialAgg(t: Table, by: readonly string[], aggs: readonly AggSpec[]): PartialAgg {
  const { keys, order, starts } = groupRuns(t, by);
  const cols = keyColumns(t, aggs.map((a) => a.col));
  return keys.map((k, g) => {
    const states = aggs.map(initState);
    for (let r = starts[g] as number; r < (starts[g + 1] as number); r++) {
      const i = order[r] as number;
      for (let a = 0; a < aggs.length; a++) states[a] = step((aggs[a] as AggSpec).fn, states[a], (cols[a] as Vector).get(i));
    }
    return [k, states];
  });
}

function initState(a: AggSpec): unknown {
  switch (a.fn) {
    case 'sum':
    case 'count':
      return 0;
    case 'mean':
      return [0, 0];
    default:
      return null;
  }
}

const num = (v: unknown): number => (typeof v === 'bigint' ? Number(v) : (v as number));

function step(fn: AggSpec['fn'], s: unknown, v: unknown): unknown {
  if (v === null || v === undefined) return s;
  switch (fn) {
    case 'sum':
      return (s as number) + num(v);
    case 'count':
      return (s as number) + 1;
    case 'mean':
      return [(s as number[])[0] as number + num(v), ((s as number[])[1] as number) + 1];
    case 'min':
      return s === null || compareValues(v, s) < 0 ? v : s;
    case 'max':
      return s === null || compareValues(v, s) > 0 ? v : s;
    case 'first':
      return s === null ? v : s;
    case 'last':
      return v;
  }
}

function merge(fn: AggSpec['fn'], a: unknown, b: unknown): unknown {
  switch (fn) {
    case 'sum':
    case 'count':
      return (a as number) + (b as number);
    case 'mean':
      return [((a as number[])[0] as number) + ((b as number[])[0] as number), ((a as number[])[1] as number) + ((b as number[])[1] as number)];
    case 'last':
      return b === null ? a : b;
    default:
      return b === null ? a : step(fn, a, b);
  }
}

/** Merge partial aggregates in input order (first/last follow partition order). */
export function combineAgg(parts: readonly PartialAgg[], aggs: readonly AggSpec[]): PartialAgg {
  const groups = new Map<string, [unknown[], unknown[]]>();
  for (const part of parts) {
    for (const [k, states] of part) {
      const id = tupleId(k);
      const g = groups.get(id);
      if (!g) groups.set(id, [k, [...states]]);
      else for (let a = 0; a < aggs.length; a++) g[1][a] = merge((aggs[a] as AggSpec).fn, g[1][a], states[a]);
    }
  }
  return [...groups.values()];
}

/** A string identifying a key tuple (types kept apart: 1 and "1", NaN and null differ). */
function tupleId(k: readonly unknown[]): string {
  return JSON.stringify(k.map((v) => (typeof v === 'bigint' ? `n:${v}` : v instanceof Date ? `d:${v.getTime()}` : typeof v === 'string' ? `s:${v}` : typeof v === 'number' && !Number.isFinite(v) ? `f:${v}` : v)));
}

/** The result table: key columns (input types), then one column per aggregation, sorted by key. */
export function finalAgg(merged: PartialAgg, by: readonly string[], aggs: readonly AggSpec[], input: Schema): Table {
  const rows = [...merged].sort((x, y) => compareTuples(x[0], y[0]));
  const fields = aggSchema(input, by, aggs);
  const n = rows.length;
  const cols = fields.fields.map((f, c) => {
    if (c < by.length) return buildData(f.type, n, (i) => (rows[i] as [unknown[], unknown[]])[0][c]);
    const a = aggs[c - by.length] as AggSpec;
    return buildData(f.type, n, (i) => {
      const s = (rows[i] as [unknown[], unknown[]])[1][c - by.length];
      if (a.fn === 'mean') return (s as number[])[1] === 0 ? null : ((s as number[])[0] as number) / ((s as number[])[1] as number);
      return s;
    });
  });
  return tableOf(fields, cols, n);
}

/** The schema of an aggregation's result (the client computes it too, to check names up front). */
export function aggSchema(input: Schema, by: readonly string[], aggs: readonly AggSpec[]): Schema {
  const field = (c: string) => {
    const f = input.fields.find((x) => x.name === c);
    if (!f) throw new RangeError(`column "${c}" is not in the table`);
    return f;
  };
  const fields = [
    ...by.map(field),
    ...aggs.map((a) => {
      const f = field(a.col);
      const type = a.fn === 'sum' || a.fn === 'mean' ? new Float64() : a.fn === 'count' ? new Int32() : f.type;
      return new Field(a.out, type, true);
    }),
  ];
  return new Schema(fields);
}

// ------------------------------------------------------------ join

/** Hash join of one partition pair: left columns, then right columns other than `on` (a clash gets `_right`). */
export function join(left: Table, right: Table, on: readonly string[], how: 'inner' | 'left'): Table {
  // One dictionary for both sides: equal keys get equal codes; a left key the right side lacks gets -1.
  const dict = new KeyDict(on.length);
  const rcodes = dict.encode(right, on);
  const matchable = dict.keys.map((k) => !k.some((v) => v === null || v === undefined)); // null keys never match
  const { order, starts } = bucketRows(rcodes, dict.keys.length);
  const lcodes = dict.lookup(left, on);
  const li: number[] = [];
  const ri: number[] = [];
  for (let i = 0; i < left.numRows; i++) {
    const c = lcodes[i] as number;
    if (c >= 0 && matchable[c]) {
      for (let r = starts[c] as number; r < (starts[c + 1] as number); r++) {
        li.push(i);
        ri.push(order[r] as number);
      }
    } else if (how === 'left') {
      li.push(i);
      ri.push(-1);
    }
  }
  const schema = joinSchema(left.schema, right.schema, on);
  const rightCols = right.schema.fields.map((f, c) => [f, c] as const).filter(([f]) => !on.includes(f.name));
  const cols = [
    ...left.schema.fields.map((_, c) => takeVector(left.getChildAt(c) as Vector, li)),
    ...rightCols.map(([f, c]) => {
      const v = right.getChildAt(c) as Vector;
      return buildData(f.type, ri.length, (k) => ((ri[k] as number) < 0 ? null : v.get(ri[k] as number)));
    }),
  ];
  return tableOf(schema, cols, li.length);
}

export function joinSchema(left: Schema, right: Schema, on: readonly string[]): Schema {
  const names = new Set(left.fields.map((f) => f.name));
  const rightFields = right.fields.filter((f) => !on.includes(f.name)).map((f) => new Field(names.has(f.name) ? `${f.name}_right` : f.name, f.type, true));
  return new Schema([...left.fields, ...rightFields]);
}
