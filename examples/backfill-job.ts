/**
 * The backfill as a researcher writes it: one task per date (a module
 * function), then a reduction, on whatever cluster it is given. Run it
 * directly and `clusterFromEnv()` picks the cluster from RECC_CLUSTER:
 *
 *   RECC_CLUSTER=local:4 npx tsx examples/backfill-job.ts
 *   RECC_CLUSTER=template:default RECC_API_URL=http://127.0.0.1:4600 npx tsx examples/backfill-job.ts
 *
 * (`npm start` runs it through `examples/backfill.ts` on the embedded stack.)
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import { Client, clusterFromEnv, delayed, progress, type ClusterLike } from 'recc';
import type { BackfillSummary, DayRisk } from './backfill-tasks.ts';
import type { DayPrices } from './dataset.ts';
import { describeSources, loadPrices, openDatastores } from './prices.ts';

/** Trading days of history each date's risk model looks at. */
export const LOOKBACK_DAYS = 60;

/** For each date with a full lookback, the window of dates ending on it (oldest first). */
export function windowsFor(dates: readonly string[], lookback: number): string[][] {
  const out: string[][] = [];
  for (let i = lookback - 1; i < dates.length; i += 1) out.push(dates.slice(i - lookback + 1, i + 1));
  return out;
}

export async function runBackfill(
  cluster: ClusterLike,
  options: { dates: readonly string[]; dataDir?: string; days?: readonly DayPrices[]; lookback?: number },
): Promise<{ summary: BackfillSummary; tasks: number; elapsedMs: number }> {
  const client = await Client.connect(cluster);
  try {
    // Bundled once and cached by the workers; the same file runs here for the serial comparison.
    const tasks = await client.module(fileURLToPath(new URL('./backfill-tasks.ts', import.meta.url)));
    const riskForDate = delayed(tasks.fn('riskForDate'));
    const summarize = delayed(tasks.fn('summarize'));
    const windows = windowsFor(options.dates, options.lookback ?? LOOKBACK_DAYS);
    const started = performance.now();
    // Prices read by this driver go to the cluster once per date; each task refers to its window's dates.
    const scattered = options.days ? client.scatter(options.days.map((d) => ({ symbols: d.symbols, close: d.close }))) : [];
    const byDate = new Map(options.days?.map((d, i) => [d.date, scattered[i]]) ?? []);
    const perDate = windows.map((window) =>
      options.days ? riskForDate({ window, days: window.map((d) => byDate.get(d)) }) : riskForDate({ dataDir: options.dataDir, window }),
    );
    // One future per date, with a progress bar on a terminal; the reduction then
    // reuses their results (same function and arguments give the same key).
    const futures = client.compute(perDate);
    const { failed } = await progress(futures, { stream: process.stdout });
    if (failed > 0) await client.gather(futures); // re-throws the first task error
    const summary = (await client.get(summarize(perDate))) as BackfillSummary;
    for (const f of futures) f.release();
    for (const f of scattered) f.release();
    return { summary, tasks: windows.length + 1, elapsedMs: performance.now() - started };
  } finally {
    await client.close();
  }
}

export type { DayRisk };

/**
 * The job's parameters (`recc job create … --param dates=20`, given to the
 * driver as RECC_JOB_PARAMS): `dates` limits the backfill to the last N dates
 * (each with its full lookback); without it every date is computed.
 */
export function backfillParams(params: Record<string, unknown>): { dates?: number } {
  const raw = params.dates;
  if (raw === undefined) return {};
  const n = typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d+$/.test(raw.trim()) ? Number(raw) : Number.NaN;
  if (!Number.isInteger(n) || n < 1) throw new Error(`job parameter dates must be a whole number of dates ≥ 1 (got ${JSON.stringify(raw)})`);
  return { dates: n };
}

/**
 * The backfill on the cluster RECC_CLUSTER names: run as a script (ad hoc, or
 * as a scheduled job's entry), or as the job's export `main` with its params.
 */
export async function main(params: Record<string, unknown> = {}): Promise<BackfillSummary> {
  const { dates: limit } = backfillParams(params);
  const prices = await loadPrices(await openDatastores());
  for (const line of describeSources(prices.sources)) process.stdout.write(`${line}\n`);
  const keep = limit === undefined ? prices.days.length : Math.min(prices.days.length, limit + LOOKBACK_DAYS - 1);
  const days = prices.days.slice(prices.days.length - keep);
  const cluster = await clusterFromEnv(process.env, { onProgress: (e) => process.stdout.write(`cluster ${e.status}\n`) });
  try {
    const { summary, tasks, elapsedMs } = await runBackfill(cluster, { dates: days.map((d) => d.date), days });
    process.stdout.write(`${tasks} tasks in ${(elapsedMs / 1000).toFixed(1)} s\n${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  } finally {
    await cluster.close();
  }
}

// Run directly: any cluster from the environment, the prices from the configured datastores, the job's params if any.
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main(JSON.parse(process.env.RECC_JOB_PARAMS ?? '{}') as Record<string, unknown>);
}
