/**
 * Issue 15 `dataframe` group: the trades table of examples/dataframe.ts
 * (security, date, price, qty), generated on 2 workers × 1 thread, then
 * `setIndex('security')` (sample pass + range shuffle) and
 * `groupBy('security').apply` (hash shuffle + a per-group function), each
 * persisted and timed on its own. Reported per operation: wall time, shuffle
 * throughput (bytes of the partitions shuffled / wall time) and the workers'
 * peak RSS (VmHWM). bench/dask/bench_dask.py measures the same on
 * dask.dataframe (set_index, groupby().apply) with the same sizes.
 */
import type { Table } from 'apache-arrow';
import type { GroupContext } from './engine-measures.ts';
import { readMemoryStatus } from '../lib/proc.ts';

type Sdk = typeof import('../../client/index.ts');

const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/**
 * Per group: its row count and mean price (a small per-group function, as in the Dask run; df-profile.ts runs it
 * too). The prices are read as the column's typed array (`toArray()`: a view, since a group is one slice of one
 * batch), as pandas' `mean()` in bench_dask.py is vectorized, not by `Vector.get(i)` per row. In this group the
 * change did not move the times measurably; the function is a few percent of the apply's CPU either way.
 */
export function perSecurity(g: Table, ctx: { arrow: typeof import('apache-arrow'); key?: Record<string, unknown> }): Table {
  const a = ctx.arrow;
  const price = g.getChild('price')?.toArray() as Float64Array;
  let sum = 0;
  for (let i = 0; i < price.length; i++) sum += price[i] as number;
  return new a.Table({ security: a.vectorFromArray([ctx.key?.security as string], new a.Utf8()), n: a.makeVector(Int32Array.of(g.numRows)), mean: a.makeVector(Float64Array.of(sum / g.numRows)) });
}

export async function runDataframe(ctx: GroupContext): Promise<void> {
  const s: Sdk = await import('../../client/index.ts');
  const { generateTrades, seeds } = await import('../../examples/dataframe.ts');
  const sizes = ctx.quick ? [1_000_000] : [5_000_000, 20_000_000];
  for (const rows of sizes) {
    const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
    try {
      const client = await s.Client.connect(cluster);
      try {
        const partitions = Math.max(8, Math.round(rows / 250_000));
        const spec = { rows, securities: 2_000, days: 504, partitions };
        const trades = await client.fromTable(seeds(spec), { npartitions: partitions }).mapPartitions(generateTrades).persist();
        const parts = await trades.parts();
        const bytes = parts.reduce((n, p) => n + client._nbytes((p as { key: string }).key), 0);
        const pids = cluster.workerProcesses.map((w) => w.pid);
        const label = `${rows / 1e6}M`;
        let t0 = process.hrtime.bigint();
        const indexed = await trades.setIndex('security').persist();
        const setIndexS = secs(t0);
        const peakAfterIndex = Math.max(...pids.map((p) => readMemoryStatus(p).vmHwmBytes)) / 1024 / 1024;
        const extra = { rows, partitions, bytes, workers: 2 };
        ctx.emit(`df_set_index_${label}`, setIndexS, 's', extra);
        ctx.emit(`df_set_index_${label}_mbps`, bytes / 1e6 / setIndexS, 'MB/s', extra);
        // As bench_dask.py's `del indexed`: the sorted table is not kept while the apply runs.
        await indexed.release();
        t0 = process.hrtime.bigint();
        const applied = await trades.groupBy('security').apply(perSecurity).persist();
        const applyS = secs(t0);
        const peak = Math.max(...pids.map((p) => readMemoryStatus(p).vmHwmBytes)) / 1024 / 1024;
        void applied;
        ctx.emit(`df_groupby_apply_${label}`, applyS, 's', extra);
        ctx.emit(`df_groupby_apply_${label}_mbps`, bytes / 1e6 / applyS, 'MB/s', extra);
        ctx.emit(`df_peak_rss_${label}`, Math.max(peak, peakAfterIndex), 'MiB', { ...extra, note: 'largest worker VmHWM over both operations' });
      } finally {
        await client.close();
      }
    } finally {
      await cluster.close();
    }
  }
}
