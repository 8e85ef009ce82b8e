/**
 * The table kernels of one groupBy().apply partition, each on its own, in one
 * process: ns per row for a 250,000-row partition of examples/dataframe.ts
 * trades (the dataframe bench's partition size).  tsx bench/micro-kernels.ts
 */
import * as arrow from 'apache-arrow';
import { generateTrades, seeds } from '../examples/dataframe.ts';
import { ipcPieces, take } from '../client/tables/kernels.ts';
import { bucketRows, groupRuns, hashParts } from '../client/tables/keys.ts';
import { framedShards } from '../client/tables/ops.ts';

const rows = 5_000_000;
const spec = { rows, securities: 2000, days: 504, partitions: 20 };
const s = seeds(spec);
const parts = Array.from({ length: 4 }, (_, i) => generateTrades(s.slice(i, i + 1), { arrow, partition: i }));
const n = parts[0]!.numRows;
let sink = 0;

function time(label: string, fn: (t: arrow.Table) => number): void {
  for (let r = 0; r < 3; r++) for (const p of parts) sink += fn(p);
  // The best of 7 rounds over the 4 partitions: the least disturbed by other load.
  let best = Infinity;
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (const p of parts) sink += fn(p);
    best = Math.min(best, performance.now() - t0);
  }
  const ns = (best * 1e6) / (parts.length * n);
  process.stdout.write(`${label.padEnd(44)} ${ns.toFixed(1).padStart(7)} ns/row\n`);
}

time('hashParts (string key → partition)', (t) => hashParts(t, ['security'], 20).length);
const codes = hashParts(parts[0]!, ['security'], 20);
time('bucketRows (20 buckets)', () => bucketRows(codes, 20).order.length);
const order = bucketRows(codes, 20).order;
time('take (4 columns, one gather)', (t) => take(t, order).numRows);
time('ipcPieces (whole partition)', (t) => ipcPieces(t).length);
time('framedShards (hash → 20 IPC shards)', (t) => framedShards(t, { hash: ['security'] }, 20).byteLength);
time('groupRuns (string key → groups)', (t) => groupRuns(t, ['security']).keys.length);
time('groupRuns + take + slices', (t) => {
  const g = groupRuns(t, ['security']);
  const grouped = take(t, g.order);
  let k = 0;
  for (let i = 0; i < g.keys.length; i++) k += grouped.slice(g.starts[i] as number, g.starts[i + 1] as number).numRows;
  return k;
});
process.stdout.write(`(${n} rows per partition; sink ${sink % 10})\n`);
const { RecordBatch, Table: ArrowTable } = arrow;
time('groupRuns + take + batch slices', (t) => {
  const g = groupRuns(t, ['security']);
  const grouped = take(t, g.order);
  const data = grouped.batches[0]!.data;
  let k = 0;
  for (let i = 0; i < g.keys.length; i++) {
    const lo = g.starts[i] as number;
    const part = new ArrowTable(new RecordBatch(grouped.schema, data.slice(lo, (g.starts[i + 1] as number) - lo)));
    k += part.numRows;
  }
  return k;
});
const pre = parts.map((t) => { const g = groupRuns(t, ['security']); return { g, grouped: take(t, g.order) }; });
let idx = 0;
time('only Table.slice per group', () => {
  const { g, grouped } = pre[idx++ % pre.length]!;
  let k = 0;
  for (let i = 0; i < g.keys.length; i++) k += grouped.slice(g.starts[i] as number, g.starts[i + 1] as number).numRows;
  return k;
});
time('only makeData per column per group', () => {
  const { g, grouped } = pre[idx++ % pre.length]!;
  const cols = grouped.batches[0]!.data.children;
  let k = 0;
  for (let i = 0; i < g.keys.length; i++) {
    const lo = g.starts[i] as number;
    const len = (g.starts[i + 1] as number) - lo;
    for (const c of cols) k += c.slice(lo, len).length;
  }
  return k;
});
