/**
 * The dataframe pattern: a large table of trades, generated on the workers,
 * indexed by security (a sample pass and a range shuffle), a per-security
 * rolling statistic (groupBy().apply: a hash shuffle brings each security's
 * rows together), then a per-date summary (groupBy().agg: a tree
 * reduction). The same computation then runs in this process and the two
 * are compared.
 *
 *   RECC_CLUSTER=local:4 npx tsx examples/dataframe.ts
 *   ROWS=20000000 SECURITIES=2000 RECC_CLUSTER=template:default npx tsx examples/dataframe.ts
 */
import { fileURLToPath } from 'node:url';
import { performance } from 'node:perf_hooks';
import * as arrow from 'apache-arrow';
import { Client, clusterFromEnv, type ClusterLike } from 'recc';

export interface TradesSpec {
  rows: number;
  securities: number;
  /** Trading days the trades spread over (2 years ≈ 504). */
  days: number;
  partitions: number;
}

export type Ctx = { arrow: typeof arrow; partition: number; key?: Record<string, unknown> };

/**
 * One partition of synthetic trades from its seed row (deterministic: the
 * same seed gives the same trades on any machine). Inline: no imports, no
 * captured variables; Arrow comes in `ctx`.
 */
export function generateTrades(seed: arrow.Table, ctx: Ctx): arrow.Table {
  const a = ctx.arrow;
  const part = seed.getChild('part')?.get(0) as number;
  const n = seed.getChild('rows')?.get(0) as number;
  const securities = seed.getChild('securities')?.get(0) as number;
  const days = seed.getChild('days')?.get(0) as number;
  let x = (part + 1) * 2654435761;
  const rand = () => {
    x = (x ^ (x << 13)) >>> 0;
    x = (x ^ (x >>> 17)) >>> 0;
    x = (x ^ (x << 5)) >>> 0;
    return x / 4294967296;
  };
  // The security ids (SEC00042) go straight into the Utf8 column's buffers, one ASCII byte per character: an
  // array of a JS string per row, then encoded by Arrow's builder, was most of a worker's peak memory.
  const width = 3 + Math.max(5, String(Math.max(0, securities - 1)).length);
  const ids = new Uint8Array(n * width);
  const offsets = new Int32Array(n + 1);
  const date = new Int32Array(n);
  const price = new Float64Array(n);
  const qty = new Int32Array(n);
  let at = 0;
  for (let i = 0; i < n; i++) {
    const s = Math.floor(rand() * securities);
    const digits = String(s).padStart(5, '0');
    ids[at++] = 83; // S
    ids[at++] = 69; // E
    ids[at++] = 67; // C
    for (let d = 0; d < digits.length; d++) ids[at++] = digits.charCodeAt(d);
    offsets[i + 1] = at;
    date[i] = Math.floor(rand() * days);
    price[i] = Math.round((50 + (s % 97) + (date[i] as number) * 0.05 + rand() * 2) * 100) / 100;
    qty[i] = 1 + Math.floor(rand() * 500);
  }
  const security = a.makeVector(a.makeData({ type: new a.Utf8(), length: n, nullCount: 0, valueOffsets: offsets, data: ids.subarray(0, at) }));
  return new a.Table({ security, date: a.makeVector(date), price: a.makeVector(price), qty: a.makeVector(qty) });
}

/** Per security: trades ordered by date (then price), with the mean price of the last 20 trades. */
export function rollingMean(group: arrow.Table, ctx: Ctx): arrow.Table {
  const a = ctx.arrow;
  const n = group.numRows;
  const date = group.getChild('date') as arrow.Vector;
  const price = group.getChild('price') as arrow.Vector;
  const qty = group.getChild('qty') as arrow.Vector;
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => (date.get(i) as number) - (date.get(j) as number) || (price.get(i) as number) - (price.get(j) as number) || (qty.get(i) as number) - (qty.get(j) as number));
  const outDate = new Int32Array(n);
  const outPrice = new Float64Array(n);
  const outQty = new Int32Array(n);
  const rolling = new Float64Array(n);
  let sum = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k] as number;
    outDate[k] = date.get(i) as number;
    outPrice[k] = price.get(i) as number;
    outQty[k] = qty.get(i) as number;
    sum += outPrice[k] as number;
    if (k >= 20) sum -= outPrice[k - 20] as number;
    rolling[k] = sum / Math.min(k + 1, 20);
  }
  const security = a.vectorFromArray(new Array(n).fill(ctx.key?.security as string), new a.Utf8());
  return new a.Table({ security, date: a.makeVector(outDate), price: a.makeVector(outPrice), qty: a.makeVector(outQty), rolling: a.makeVector(rolling) });
}

/** The seed table: one row per partition, telling its worker what to generate. */
export function seeds(spec: TradesSpec): arrow.Table {
  const p = spec.partitions;
  const rows = Array.from({ length: p }, (_, i) => Math.floor(((i + 1) * spec.rows) / p) - Math.floor((i * spec.rows) / p));
  return arrow.tableFromArrays({
    part: Int32Array.from({ length: p }, (_, i) => i),
    rows: Int32Array.from(rows),
    securities: Int32Array.from({ length: p }, () => spec.securities),
    days: Int32Array.from({ length: p }, () => spec.days),
  });
}

export interface DailySummary {
  date: number;
  trades: number;
  volume: number;
  meanRolling: number;
}

export async function runDataframe(cluster: ClusterLike, spec: TradesSpec): Promise<{ daily: DailySummary[]; seconds: number }> {
  const client = await Client.connect(cluster);
  try {
    const started = performance.now();
    const trades = client.fromTable(seeds(spec), { npartitions: spec.partitions }).mapPartitions(generateTrades);
    const bySecurity = trades.setIndex('security');
    const rolled = bySecurity.groupBy('security').apply(rollingMean);
    const daily = await rolled.groupBy('date').agg({ trades: ['security', 'count'], volume: ['qty', 'sum'], meanRolling: ['rolling', 'mean'] }).toTable();
    return { daily: daily.toArray().map((r) => r.toJSON() as DailySummary), seconds: (performance.now() - started) / 1000 };
  } finally {
    await client.close();
  }
}

/** The same computation in this process, without the cluster (plain loops over the same generated partitions). */
export function runLocally(spec: TradesSpec): DailySummary[] {
  const parts = seeds(spec);
  const bySecurity = new Map<string, arrow.Table[]>();
  for (let p = 0; p < spec.partitions; p++) {
    const t = generateTrades(parts.slice(p, p + 1), { arrow, partition: p });
    const sec = t.getChild('security') as arrow.Vector;
    const rows = new Map<string, number[]>();
    for (let i = 0; i < t.numRows; i++) {
      const s = sec.get(i) as string;
      const l = rows.get(s);
      if (l) l.push(i);
      else rows.set(s, [i]);
    }
    for (const [s, idx] of rows) {
      const sub = arrow.tableFromArrays({
        security: idx.map(() => s),
        date: Int32Array.from(idx, (i) => t.getChild('date')?.get(i) as number),
        price: Float64Array.from(idx, (i) => t.getChild('price')?.get(i) as number),
        qty: Int32Array.from(idx, (i) => t.getChild('qty')?.get(i) as number),
      });
      const l = bySecurity.get(s);
      if (l) l.push(sub);
      else bySecurity.set(s, [sub]);
    }
  }
  const daily = new Map<number, { trades: number; volume: number; sum: number }>();
  for (const [s, tables] of bySecurity) {
    const [first, ...rest] = tables as [arrow.Table, ...arrow.Table[]];
    const out = rollingMean(first.concat(...rest), { arrow, partition: 0, key: { security: s } });
    for (let i = 0; i < out.numRows; i++) {
      const d = out.getChild('date')?.get(i) as number;
      const e = daily.get(d) ?? { trades: 0, volume: 0, sum: 0 };
      e.trades++;
      e.volume += out.getChild('qty')?.get(i) as number;
      e.sum += out.getChild('rolling')?.get(i) as number;
      daily.set(d, e);
    }
  }
  return [...daily].sort((x, y) => x[0] - y[0]).map(([date, e]) => ({ date, trades: e.trades, volume: e.volume, meanRolling: e.sum / e.trades }));
}

/** Equal up to float rounding (sums taken in another order). */
export function sameSummary(a: readonly DailySummary[], b: readonly DailySummary[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as DailySummary;
    return x.date === y.date && x.trades === y.trades && x.volume === y.volume && Math.abs(x.meanRolling - y.meanRolling) <= 1e-9 * Math.max(1, Math.abs(y.meanRolling));
  });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const spec: TradesSpec = {
    rows: Number(process.env.ROWS ?? 2_000_000),
    securities: Number(process.env.SECURITIES ?? 2_000),
    days: Number(process.env.DAYS ?? 504),
    partitions: Number(process.env.PARTITIONS ?? 32),
  };
  const cluster = await clusterFromEnv(process.env, { onProgress: (e) => process.stdout.write(`cluster ${e.status}\n`) });
  try {
    const { daily, seconds } = await runDataframe(cluster, spec);
    process.stdout.write(`${spec.rows} trades, ${spec.securities} securities: setIndex + groupBy().apply + groupBy().agg on the cluster in ${seconds.toFixed(1)} s\n`);
    const started = performance.now();
    const local = runLocally(spec);
    process.stdout.write(`the same in this process: ${((performance.now() - started) / 1000).toFixed(1)} s; results ${sameSummary(daily, local) ? 'match' : 'DIFFER'}\n`);
    for (const d of daily.slice(0, 5)) process.stdout.write(`${JSON.stringify(d)}\n`);
  } finally {
    await cluster.close();
  }
}
