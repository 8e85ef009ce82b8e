/**
 * The shards of a groupBy().apply shuffle, key by key.
 *
 * Why: the apply needs each group's rows together. Split the plain way, an
 * output hashes the key of every row it received, then gathers every row
 * into group order. Split with runs, each shard lists its rows key by key
 * (keys in order of first appearance), so the output knows its groups from
 * the runs: one key per run, not per row, and rows copied a run at a time.
 * The key columns do not travel per row at all: a run's rows share one key,
 * sent once per run and repeated on arrival. For the trades of the
 * dataframe bench (an 8-byte security id of 28 bytes per row) that is 43 %
 * fewer bytes to gather, frame, send and copy.
 *
 * Groups, group order and row order are what grouping the concatenated plain
 * shards gives (test/unit/tables/runs.test.ts checks it against that path).
 *
 * A shard with runs (little-endian u32s, padded to 8 bytes so the IPC after it
 * stays aligned):
 *   nruns, nkeys, valueBytes, keyPositions[nkeys], runLengths[nruns], padding,
 *   IPC of the value columns (valueBytes), IPC of the key columns (one row per run; only when nkeys > 0).
 * keyPositions are the key columns' places in the table's schema. Keys go
 * with the values (nkeys = 0; a run's key is read from its first row) where
 * a run's rows could differ in their stored key: float or other key types
 * (0 and -0 group together), strings that are not valid UTF-8, or a key name
 * the schema repeats.
 */
import { Schema, Type, makeVector, type Data, type Field, type Table, type Vector } from 'apache-arrow';
import { piecesLength } from '../../shared/shuffle/frames.ts';
import { ShardFormatError } from './errors.ts';
import { compact, concatTables, fromIPC, ipcPieces, repeatRows, scatter, tableOf, take, takeRuns } from './kernels.ts';
import { bucketRows, hashRuns, keyColumns, TupleCodes } from './keys.ts';
import { pinned } from './shapes.ts';
import type { Step } from './spec.ts';
import { applyGroups, runSteps } from './steps.ts';

/** Per output, the pieces of its shard (none for an output without rows). */
export function runShardPieces(t: Table, by: readonly string[], m: number): Uint8Array[][] {
  const { pos, rowStarts, runLengths, runFirstRow, exact } = hashRuns(t, by, m);
  const names = t.schema.fields.map((f) => f.name);
  const unique = new Set(by).size === by.length && by.every((c) => names.indexOf(c) === names.lastIndexOf(c));
  // A run's key stands for its rows' only where equal keys are equal bits (not floats: 0 and -0 group together).
  const omitKeys = unique && exact && by.every((c) => REPEATABLE.has((t.schema.fields[names.indexOf(c)] as Field).type.typeId));
  // In schema order (the key table's columns too), so the receiver puts them back in one pass.
  const keyPositions = omitKeys ? by.map((c) => names.indexOf(c)).sort((a, b) => a - b) : [];
  const valueCols = names.map((_, c) => c).filter((c) => !keyPositions.includes(c));
  // Every value row moved to its place in output order, then a zero-copy slice per output.
  const values = scatter(t.selectAt(valueCols), pos);
  // Each run's key, from its first row: one row per run, in output order.
  const keys = keyPositions.length > 0 ? take(t.selectAt(keyPositions), runFirstRow) : null;
  let run = 0;
  return runLengths.map((lengths, j) => {
    const from = rowStarts[j] as number;
    const to = rowStarts[j + 1] as number;
    const first = run;
    run += lengths.length;
    if (from === to) return [];
    const valuePieces = ipcPieces(values.slice(from, to));
    const keyPieces = keys ? ipcPieces(keys.slice(first, run)) : [];
    return [prefix(lengths, keyPositions, piecesLength(valuePieces)), ...valuePieces, ...keyPieces];
  });
}

/** Key types whose grouping equality is equality of the stored value (Int: numbers up to 32 bits, BigInts above). */
const REPEATABLE: ReadonlySet<Type> = new Set([Type.Utf8, Type.Int, Type.Bool]);

const HEAD = 3;

function prefix(lengths: Int32Array, keyPositions: readonly number[], valueBytes: number): Uint8Array {
  const words = HEAD + keyPositions.length + lengths.length;
  const out = new Uint8Array((4 * words + 7) & ~7);
  const view = new DataView(out.buffer);
  view.setUint32(0, lengths.length, true);
  view.setUint32(4, keyPositions.length, true);
  view.setUint32(8, valueBytes, true);
  let at = 4 * HEAD;
  for (const p of keyPositions) {
    view.setUint32(at, p, true);
    at += 4;
  }
  for (const len of lengths) {
    view.setUint32(at, len, true);
    at += 4;
  }
  return out;
}

/** One shard as received: its value rows, its run lengths, each run's key (a table row per run) and where the key columns go. */
interface RunShard {
  values: Table;
  lengths: Int32Array;
  keys: Table | null;
  keyPositions: number[];
}

function readShard(blob: Uint8Array): RunShard {
  const view = new DataView(blob.buffer, blob.byteOffset, blob.byteLength);
  if (blob.byteLength < 4 * HEAD) throw new ShardFormatError(`a shard of ${blob.byteLength} bytes has no run header`);
  const nruns = view.getUint32(0, true);
  const nkeys = view.getUint32(4, true);
  const valueBytes = view.getUint32(8, true);
  const size = (4 * (HEAD + nkeys + nruns) + 7) & ~7;
  if (size + valueBytes > blob.byteLength) throw new ShardFormatError(`a shard of ${blob.byteLength} bytes cannot hold ${nruns} run lengths, ${nkeys} key columns and ${valueBytes} bytes of values`);
  const keyPositions: number[] = [];
  let at = 4 * HEAD;
  for (let k = 0; k < nkeys; k++, at += 4) keyPositions.push(view.getUint32(at, true));
  const lengths = new Int32Array(nruns);
  for (let r = 0; r < nruns; r++, at += 4) lengths[r] = view.getUint32(at, true);
  const values = pinned(fromIPC(blob.subarray(size, size + valueBytes)));
  const keys = nkeys > 0 ? pinned(fromIPC(blob.subarray(size + valueBytes))) : null;
  let rows = 0;
  for (const len of lengths) {
    if (len <= 0) throw new ShardFormatError('a run of no rows');
    rows += len;
  }
  if (rows !== values.numRows) throw new ShardFormatError(`a shard's runs cover ${rows} of its ${values.numRows} rows`);
  if (keys && (keys.numRows !== nruns || keys.numCols !== nkeys)) throw new ShardFormatError(`a shard's keys have ${keys.numRows} rows of ${keys.numCols} columns for ${nruns} runs of ${nkeys} columns`);
  if (keyPositions.some((p, k) => p >= values.numCols + nkeys || (k > 0 && p <= (keyPositions[k - 1] as number)))) throw new ShardFormatError('key column positions out of order');
  return { values: values.batches.length > 1 ? compact(values) : values, lengths, keys: keys && keys.batches.length > 1 ? compact(keys) : keys, keyPositions };
}

/** The table's schema again: value and key fields back in their places. */
function fullSchema(s: RunShard): Schema {
  if (!s.keys) return s.values.schema;
  const fields: Field[] = [];
  let v = 0;
  let k = 0;
  for (let c = 0; c < s.values.numCols + s.keyPositions.length; c++) fields.push((s.keyPositions[k] === c ? s.keys.schema.fields[k++] : s.values.schema.fields[v++]) as Field);
  return new Schema(fields, s.values.schema.metadata);
}

/** A shard as the table it was cut from (key columns repeated down their runs): the path without runs takes these. */
function wholeShard(s: RunShard): Table {
  if (!s.keys) return s.values;
  const runs = Int32Array.from(s.lengths, (_, r) => r);
  const schema = fullSchema(s);
  let v = 0;
  let k = 0;
  const cols = schema.fields.map((_, c) => (s.keyPositions[k] === c ? repeatRows(s.keys?.getChildAt(k++) as Vector, runs, s.lengths) : ((s.values.getChildAt(v++) as Vector).data[0] as Data)));
  return tableOf(schema, cols, s.values.numRows);
}

/**
 * A groupBy().apply output from shards split with runs: a group is its runs,
 * coded by each run's key; value rows are copied a run at a time and key
 * columns repeated down the runs.
 */
export function unpackRuns(blobs: readonly Uint8Array[], schema: Uint8Array, steps: readonly Step[], part: number): Table {
  const shards: RunShard[] = [];
  for (const blob of blobs) {
    if (blob.byteLength === 0) continue;
    const s = readShard(blob);
    if (s.values.numRows > 0) shards.push(s);
  }
  const [apply, ...rest] = steps;
  const first = shards[0];
  const shape = (s: RunShard) => `${s.keyPositions.join(',')}|${fullSchema(s).fields.map((f) => String(f.type)).join('\0')}`;
  // Nothing received, no apply to group for, or shards of differing column types (which a run copy cannot mix):
  // the shards as whole tables, concatenated, as without runs.
  if (!first || apply?.k !== 'apply' || shards.some((s) => shape(s) !== shape(first))) {
    const received = shards.map(wholeShard);
    return runSteps(pinned(concatTables(received, fromIPC(schema).schema)), steps, part);
  }
  let nruns = 0;
  for (const s of shards) nruns += s.lengths.length;
  const runTable = new Int32Array(nruns);
  const runStart = new Int32Array(nruns);
  const runLen = new Int32Array(nruns);
  const runGroup = new Int32Array(nruns);
  const codes = new TupleCodes(apply.by.length);
  let r = 0;
  for (let si = 0; si < shards.length; si++) {
    const s = shards[si] as RunShard;
    const cols = keyColumns(s.keys ?? s.values, apply.by);
    const key: unknown[] = new Array(cols.length);
    let at = 0;
    for (let q = 0; q < s.lengths.length; q++) {
      const row = s.keys ? q : at;
      for (let c = 0; c < cols.length; c++) key[c] = (cols[c] as Vector).get(row);
      runTable[r] = si;
      runStart[r] = at;
      runLen[r] = s.lengths[q] as number;
      runGroup[r++] = codes.code(key);
      at += s.lengths[q] as number;
    }
  }
  const ngroups = codes.keys.length;
  const { order, starts: groupRuns } = bucketRows(runGroup, ngroups);
  const starts = new Int32Array(ngroups + 1);
  for (let g = 0; g < ngroups; g++) {
    let rows = 0;
    for (let q = groupRuns[g] as number; q < (groupRuns[g + 1] as number); q++) rows += runLen[order[q] as number] as number;
    starts[g + 1] = (starts[g] as number) + rows;
  }
  const values = takeRuns(shards.map((s) => s.values), runTable, runStart, runLen, order);
  let grouped = values;
  if (first.keys) {
    // Each run's key (the key tables of all shards as one vector: a row per run, runs numbered shard by shard as
    // here), repeated down the run's rows in group order.
    const runLenInOrder = new Int32Array(order.length);
    for (let q = 0; q < order.length; q++) runLenInOrder[q] = runLen[order[q] as number] as number;
    const schemaOut = fullSchema(first);
    let v = 0;
    let k = 0;
    const cols = schemaOut.fields.map((_, c) => {
      if (first.keyPositions[k] === c) {
        const chunks = shards.map((s) => (s.keys?.getChildAt(k) as Vector).data[0]);
        k++;
        return repeatRows(makeVector(chunks as Data[]) as Vector, order, runLenInOrder);
      }
      return (values.getChildAt(v++) as Vector).data[0];
    });
    grouped = tableOf(schemaOut, cols as never, values.numRows);
  }
  return runSteps(applyGroups(pinned(grouped), codes.keys, starts, apply, part), rest, part);
}
