/**
 * The combined pattern: a serial step here (a reference table of securities
 * with their sector and index weight, built in this process), a parallel
 * step on the cluster (trades generated on the workers and aggregated per
 * security), and a join of both (the small reference table is broadcast to
 * every partition), summarised per sector. Compared with the same in one
 * process.
 *
 *   RECC_CLUSTER=local:4 npx tsx examples/combined.ts
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as arrow from 'apache-arrow';
import { Client, clusterFromEnv, type ClusterLike } from 'recc';
import { generateTrades, seeds, type TradesSpec } from './dataframe.ts';

const SECTORS = ['energy', 'financials', 'health', 'industrials', 'materials', 'tech', 'utilities'];

/** The serial step: every security's sector and weight (here computed; in practice read from a reference database). */
export function referenceTable(securities: number): arrow.Table {
  const names: string[] = [];
  const sectors: string[] = [];
  const weights = new Float64Array(securities);
  let total = 0;
  for (let s = 0; s < securities; s++) {
    names.push(`SEC${String(s).padStart(5, '0')}`);
    sectors.push(SECTORS[(s * 31) % SECTORS.length] as string);
    weights[s] = 1 / (1 + (s % 50));
    total += weights[s] as number;
  }
  for (let s = 0; s < securities; s++) weights[s] = (weights[s] as number) / total;
  return new arrow.Table({ security: arrow.vectorFromArray(names, new arrow.Utf8()), sector: arrow.vectorFromArray(sectors, new arrow.Utf8()), weight: arrow.makeVector(weights) });
}

export interface SectorSummary {
  sector: string;
  securities: number;
  notional: number;
  weightedNotional: number;
}

export async function runCombined(cluster: ClusterLike, spec: TradesSpec): Promise<{ sectors: SectorSummary[]; seconds: number }> {
  const client = await Client.connect(cluster);
  try {
    const started = performance.now();
    const reference = client.fromTable(referenceTable(spec.securities), { npartitions: 1 });
    const perSecurity = client
      .fromTable(seeds(spec), { npartitions: spec.partitions })
      .mapPartitions(generateTrades)
      .mapPartitions(function notional(t: arrow.Table, ctx: { arrow: typeof arrow }) {
        const price = t.getChild('price') as arrow.Vector;
        const qty = t.getChild('qty') as arrow.Vector;
        const out = new Float64Array(t.numRows);
        for (let i = 0; i < t.numRows; i++) out[i] = (price.get(i) as number) * (qty.get(i) as number);
        return t.select(['security']).assign(new ctx.arrow.Table({ notional: ctx.arrow.makeVector(out) }));
      })
      .groupBy('security')
      .agg({ notional: 'sum' });
    const joined = perSecurity.join(reference, 'security').mapPartitions(function weighted(t: arrow.Table, ctx: { arrow: typeof arrow }) {
      const n = t.getChild('notional') as arrow.Vector;
      const w = t.getChild('weight') as arrow.Vector;
      const out = new Float64Array(t.numRows);
      for (let i = 0; i < t.numRows; i++) out[i] = (n.get(i) as number) * (w.get(i) as number);
      return t.assign(new ctx.arrow.Table({ weighted: ctx.arrow.makeVector(out) }));
    });
    const bySector = await joined.groupBy('sector').agg({ securities: ['security', 'count'], notional: ['notional', 'sum'], weightedNotional: ['weighted', 'sum'] }).toTable();
    return { sectors: bySector.toArray().map((r) => r.toJSON() as SectorSummary), seconds: (performance.now() - started) / 1000 };
  } finally {
    await client.close();
  }
}

/** The same in this process. */
export function runCombinedLocally(spec: TradesSpec): SectorSummary[] {
  const ref = referenceTable(spec.securities);
  const info = new Map<string, { sector: string; weight: number }>();
  for (let i = 0; i < ref.numRows; i++) info.set(ref.getChild('security')?.get(i) as string, { sector: ref.getChild('sector')?.get(i) as string, weight: ref.getChild('weight')?.get(i) as number });
  const notional = new Map<string, number>();
  const parts = seeds(spec);
  for (let p = 0; p < spec.partitions; p++) {
    const t = generateTrades(parts.slice(p, p + 1), { arrow, partition: p });
    for (let i = 0; i < t.numRows; i++) {
      const s = t.getChild('security')?.get(i) as string;
      notional.set(s, (notional.get(s) ?? 0) + (t.getChild('price')?.get(i) as number) * (t.getChild('qty')?.get(i) as number));
    }
  }
  const out = new Map<string, SectorSummary>();
  for (const [s, n] of notional) {
    const r = info.get(s);
    if (!r) continue;
    const e = out.get(r.sector) ?? { sector: r.sector, securities: 0, notional: 0, weightedNotional: 0 };
    e.securities++;
    e.notional += n;
    e.weightedNotional += n * r.weight;
    out.set(r.sector, e);
  }
  return [...out.values()].sort((a, b) => (a.sector < b.sector ? -1 : 1));
}

export function sameSectors(a: readonly SectorSummary[], b: readonly SectorSummary[]): boolean {
  const close = (x: number, y: number) => Math.abs(x - y) <= 1e-9 * Math.max(1, Math.abs(y));
  return a.length === b.length && a.every((x, i) => {
    const y = b[i] as SectorSummary;
    return x.sector === y.sector && x.securities === y.securities && close(x.notional, y.notional) && close(x.weightedNotional, y.weightedNotional);
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const spec: TradesSpec = { rows: Number(process.env.ROWS ?? 1_000_000), securities: Number(process.env.SECURITIES ?? 2_000), days: 504, partitions: Number(process.env.PARTITIONS ?? 16) };
  const cluster = await clusterFromEnv(process.env, { onProgress: (e) => process.stdout.write(`cluster ${e.status}\n`) });
  try {
    const { sectors, seconds } = await runCombined(cluster, spec);
    process.stdout.write(`serial reference + parallel aggregation + join in ${seconds.toFixed(1)} s\n`);
    const local = runCombinedLocally(spec);
    process.stdout.write(`matches the single-process result: ${sameSectors(sectors, local)}\n`);
    for (const s of sectors) process.stdout.write(`${JSON.stringify(s)}\n`);
  } finally {
    await cluster.close();
  }
}
