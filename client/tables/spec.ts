/**
 * What a partition task does, as data: the client builds these (table.ts),
 * the ops module runs them in task threads (ops.ts). Plain values only, so
 * they travel as task arguments and hash into task keys.
 */

/** A user function shipped as source (inline functions cannot capture variables). */
export interface FnSpec {
  name: string;
  /** Inline functions: their source ('' for a module function). */
  source: string;
  /** Module functions (client.module(path).fn(name)): the task function id the worker resolves. */
  module?: string;
}

/** Declared output columns: [name, Arrow type as `String(field.type)` or '' for any]. */
export type MetaSpec = Array<[string, string]>;

export type AggName = 'sum' | 'mean' | 'min' | 'max' | 'count' | 'first' | 'last';
export const AGG_NAMES: readonly AggName[] = ['sum', 'mean', 'min', 'max', 'count', 'first', 'last'];

export interface AggSpec {
  /** Output column. */
  out: string;
  /** Input column. */
  col: string;
  fn: AggName;
}

/** One step applied to a partition's table, in order. */
export type Step =
  | { k: 'map'; fn: FnSpec; meta: MetaSpec | null; label: string }
  | { k: 'filter'; fn: FnSpec }
  | { k: 'select'; cols: string[] }
  | { k: 'head'; n: number }
  | { k: 'slice'; start: number; end: number }
  | { k: 'sort'; cols: string[] }
  /** `empty`: an empty table of the output schema (IPC) when known, for partitions without groups. */
  | { k: 'apply'; by: string[]; fn: FnSpec; meta: MetaSpec | null; empty: Uint8Array | null };

export type Partitioning = { hash: string[] } | { range: string; divisions: unknown[] };

/** A task of a table graph: its inputs are partitions (Arrow IPC bytes) unless said otherwise. */
export type Op =
  /** One input, then the steps. */
  | { k: 'chain'; part: number; steps: Step[] }
  /** Inputs concatenated in order, then the steps. */
  | { k: 'concat'; part: number; steps: Step[] }
  /**
   * Shuffle transfer: steps, then one shard (IPC, or empty bytes) per output. `runs` (hash partitioning for a
   * groupBy().apply): each shard's rows come key by key, and the shard carries its runs' lengths (runs.ts).
   */
  | { k: 'split'; part: number; steps: Step[]; by: Partitioning; m: number; runs?: true }
  /**
   * Shuffle output: its framed shards, concatenated (empty: `schema`), then the steps. `runs`: the shards carry
   * key runs and the first step is the apply they were split for; groups are built from the runs.
   */
  | { k: 'unpack'; part: number; schema: Uint8Array; steps: Step[]; runs?: true }
  /** Steps, then an evenly spaced sample of a column's sorted non-null values. */
  | { k: 'sample'; part: number; steps: Step[]; col: string; size: number }
  /** Steps, then the number of rows. */
  | { k: 'count'; part: number; steps: Step[] }
  /** Steps, then per-group partial aggregates (a plain value). */
  | { k: 'agg-partial'; part: number; steps: Step[]; by: string[]; aggs: AggSpec[] }
  /** Partial aggregates merged; `final` makes the result table (`schema`: the input's, for key and value types). */
  | { k: 'agg-combine'; part: number; by: string[]; aggs: AggSpec[]; final: boolean; schema: Uint8Array }
  /** Two inputs (left, right) joined on columns, then the steps. */
  | { k: 'join'; part: number; on: string[]; how: 'inner' | 'left'; steps: Step[] };

export type PartialAgg = Array<[unknown[], unknown[]]>;
