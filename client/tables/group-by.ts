import { Schema } from 'apache-arrow';
import type { AnyFunction, ModuleFunction } from '../functions.ts';
import { TableArgumentError } from './errors.ts';
import { toIPC, emptyOf } from './kernels.ts';
import { aggSchema } from './ops.ts';
import { opNode, shuffleParts, type Part } from './plan.ts';
import { AGG_NAMES, type AggName, type AggSpec } from './spec.ts';
import { fnSpec, metaSpec, type DistributedTable, type Meta } from './table.ts';

/** Partial aggregates combined this many at a time (the reduction tree's fan-in). */
const FAN_IN = 8;

/**
 * How to aggregate: `{ price: 'mean' }` (output named after the column),
 * `{ price: ['min', 'max'] }` (outputs `price_min`, `price_max`) or
 * `{ avgPrice: ['price', 'mean'] }` (output named, then column and function).
 */
export type AggRequest = Record<string, AggName | readonly AggName[] | readonly [string, AggName]>;

/** `table.groupBy(columns)`: `.apply(fn)` with a hash shuffle, `.agg({...})` with a tree reduction. */
export class GroupBy {
  constructor(
    private readonly table: DistributedTable,
    readonly by: readonly string[],
  ) {}

  /**
   * `fn(group, { arrow, partition, key })` once per group, with all the
   * group's rows (a hash shuffle brings them together first). Returns the
   * groups' outputs as one table (in no particular order).
   */
  apply(fn: AnyFunction | ModuleFunction, options: { meta?: Meta; npartitions?: number } = {}): DistributedTable {
    const t = this.table;
    const spec = fnSpec(fn, 'groupBy().apply');
    const meta = options.meta === undefined ? null : metaSpec(options.meta);
    const outSchema = options.meta instanceof Schema ? options.meta : null;
    const empty = outSchema ? toIPC(emptyOf(outSchema)) : null;
    const cols = outSchema ? { schema: outSchema, names: null } : meta ? { schema: null, names: meta.map(([c]) => c) } : t.inferColumns(spec, Object.fromEntries(this.by.map((c) => [c, null])));
    const input = t.emptySchemaIPC();
    const by = [...this.by];
    const n = options.npartitions;
    if (n !== undefined && !(Number.isInteger(n) && n >= 1)) throw new TableArgumentError('groupBy().apply: invalid npartitions', [{ path: 'npartitions', message: `expected a positive integer, got ${n}` }]);
    return t.derived(async () => {
      const parts = await t.parts();
      // `runs`: shards arrive key by key, so outputs group by run instead of by row (runs.ts).
      return shuffleParts('group-apply', parts, { hash: by }, n ?? parts.length, input, () => [{ k: 'apply', by, fn: spec, meta, empty }], { runs: true });
    }, cols, n ?? t.npartitions);
  }

  /** Aggregate per group with a tree reduction (no shuffle); one output partition, sorted by the keys. */
  agg(request: AggRequest): DistributedTable {
    const t = this.table;
    const aggs = parseAggs(request);
    t.requireColumns('groupBy().agg', aggs.map((a) => a.col));
    const by = [...this.by];
    const schema = t.schema;
    const out = schema ? aggSchema(schema, by, aggs) : null;
    const inputIPC = t.emptySchemaIPC();
    return t.derived(
      async () => {
        let level: Part[] = (await t.parts()).map((p, i) => opNode('agg-partial', { k: 'agg-partial', part: i, steps: [], by, aggs }, [p]));
        while (level.length > FAN_IN) {
          const next: Part[] = [];
          for (let i = 0; i < level.length; i += FAN_IN) next.push(opNode('agg-combine', { k: 'agg-combine', part: next.length, by, aggs, final: false, schema: inputIPC }, level.slice(i, i + FAN_IN)));
          level = next;
        }
        return [opNode('agg-final', { k: 'agg-combine', part: 0, by, aggs, final: true, schema: inputIPC }, level)];
      },
      { schema: out, names: out ? null : [...by, ...aggs.map((a) => a.out)] },
      1,
    );
  }
}

function parseAggs(request: AggRequest): AggSpec[] {
  const problems: Array<{ path: string; message: string }> = [];
  const out: AggSpec[] = [];
  if (request === null || typeof request !== 'object' || Array.isArray(request)) throw new TableArgumentError('groupBy().agg: expected an object such as { price: "mean" }');
  const isAgg = (f: unknown): f is AggName => typeof f === 'string' && (AGG_NAMES as readonly string[]).includes(f);
  for (const [name, v] of Object.entries(request)) {
    if (typeof v === 'string') {
      if (isAgg(v)) out.push({ out: name, col: name, fn: v });
      else problems.push({ path: name, message: `unknown aggregation "${v}" (known: ${AGG_NAMES.join(', ')})` });
    } else if (Array.isArray(v) && v.length === 2 && !isAgg(v[0]) && isAgg(v[1])) {
      out.push({ out: name, col: String(v[0]), fn: v[1] });
    } else if (Array.isArray(v) && v.length > 0 && v.every(isAgg)) {
      for (const f of v as AggName[]) out.push({ out: `${name}_${f}`, col: name, fn: f });
    } else {
      problems.push({ path: name, message: `expected an aggregation (${AGG_NAMES.join(', ')}), a list of them, or [column, aggregation]` });
    }
  }
  if (out.length === 0 && problems.length === 0) problems.push({ path: '', message: 'no aggregation requested' });
  const seen = new Set<string>();
  for (const a of out) {
    if (seen.has(a.out)) problems.push({ path: a.out, message: 'output column named twice' });
    seen.add(a.out);
  }
  if (problems.length > 0) throw new TableArgumentError('groupBy().agg: invalid aggregations', problems);
  return out;
}
