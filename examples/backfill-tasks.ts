/**
 * The task functions of the example backfill: a daily risk model over a
 * universe of securities. `client.module()` bundles this file and ships it to
 * the workers once; `mod.fn('riskForDate')` refers to one export. It imports
 * only Node built-ins, so it runs the same on a laptop, in `recc up` and on EKS.
 *
 * Prices come with the task (`days`, read by the driver through its
 * datastores: examples/prices.ts), or from CSV files, one directory per date:
 *   <dataDir>/date=YYYY-MM-DD/prices.csv   symbol,close,volume
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface DayRisk {
  date: string;
  securities: number;
  /** Annualised volatility of the minimum-variance portfolio. */
  minVarVol: number;
  /** Annualised volatility of the equal-weight portfolio. */
  equalWeightVol: number;
  /** Mean pairwise correlation over the lookback window. */
  avgCorrelation: number;
  /** Largest absolute one-day return on this date. */
  topMover: { symbol: string; ret: number };
}

export interface BackfillSummary {
  days: number;
  from: string;
  to: string;
  meanMinVarVol: number;
  meanEqualWeightVol: number;
  meanAvgCorrelation: number;
  /** Equal-weight vol over min-variance vol, averaged: what diversification buys. */
  diversificationRatio: number;
  riskiestDay: { date: string; equalWeightVol: number };
  biggestMove: { date: string; symbol: string; ret: number };
}

function readDay(dataDir: string, date: string): { symbols: string[]; close: Float64Array } {
  const text = readFileSync(join(dataDir, `date=${date}`, 'prices.csv'), 'utf8');
  const lines = text.split('\n');
  const symbols: string[] = [];
  const close: number[] = [];
  for (let i = 1; i < lines.length; i += 1) {
    const line = lines[i] as string;
    if (!line) continue;
    const a = line.indexOf(',');
    const b = line.indexOf(',', a + 1);
    symbols.push(line.slice(0, a));
    close.push(Number(line.slice(a + 1, b)));
  }
  return { symbols, close: Float64Array.from(close) };
}

/**
 * Risk for one date from the `window` of dates that ends on it (oldest
 * first): covariance of daily log returns, the minimum-variance portfolio
 * (conjugate gradient on Σw = 1, normalised), its volatility and the
 * equal-weight volatility, the mean correlation, and the day's top mover.
 */
export function riskForDate(input: { dataDir?: string; window: string[]; days?: Array<{ symbols: string[]; close: Float64Array }> }): DayRisk {
  const { dataDir, window } = input;
  // The prices of the window's dates, as the driver read them from its datastores, or CSV files under dataDir.
  const days = input.days ?? window.map((d) => readDay(dataDir ?? '.', d));
  if (days.length !== window.length) throw new Error(`riskForDate got ${days.length} days of prices for a window of ${window.length} dates`);
  const date = window[window.length - 1] as string;
  const first = days[0];
  if (!first || days.length < 3) throw new Error(`riskForDate needs at least 3 dates, got ${days.length}`);
  const n = first.symbols.length;
  const t = days.length - 1;
  // Returns matrix, T x N, demeaned per security.
  const r = new Float64Array(t * n);
  for (let k = 0; k < t; k += 1) {
    const a = (days[k] as { close: Float64Array }).close;
    const b = (days[k + 1] as { close: Float64Array }).close;
    for (let j = 0; j < n; j += 1) r[k * n + j] = Math.log((b[j] as number) / (a[j] as number));
  }
  for (let j = 0; j < n; j += 1) {
    let m = 0;
    for (let k = 0; k < t; k += 1) m += r[k * n + j] as number;
    m /= t;
    for (let k = 0; k < t; k += 1) r[k * n + j] = (r[k * n + j] as number) - m;
  }
  // Sample covariance N x N, shrunk halfway toward its diagonal: with more
  // securities than days the sample matrix is singular (Ledoit–Wolf style).
  const cov = new Float64Array(n * n);
  for (let k = 0; k < t; k += 1) {
    const row = k * n;
    for (let i = 0; i < n; i += 1) {
      const ri = r[row + i] as number;
      if (ri === 0) continue;
      const ci = i * n;
      for (let j = i; j < n; j += 1) cov[ci + j] = (cov[ci + j] as number) + ri * (r[row + j] as number);
    }
  }
  const shrink = 0.5;
  for (let i = 0; i < n; i += 1) {
    cov[i * n + i] = (cov[i * n + i] as number) / (t - 1);
    for (let j = i + 1; j < n; j += 1) {
      const v = ((1 - shrink) * (cov[i * n + j] as number)) / (t - 1);
      cov[i * n + j] = v;
      cov[j * n + i] = v;
    }
  }

  const mul = (x: Float64Array, out: Float64Array) => {
    for (let i = 0; i < n; i += 1) {
      let s = 0;
      const ci = i * n;
      for (let j = 0; j < n; j += 1) s += (cov[ci + j] as number) * (x[j] as number);
      out[i] = s;
    }
  };
  // Conjugate gradient for Σw = 1.
  const w = new Float64Array(n);
  const res = new Float64Array(n).fill(1);
  const p = Float64Array.from(res);
  const ap = new Float64Array(n);
  let rr = n;
  for (let it = 0; it < 60 && rr > 1e-12 * n; it += 1) {
    mul(p, ap);
    let pap = 0;
    for (let i = 0; i < n; i += 1) pap += (p[i] as number) * (ap[i] as number);
    const alpha = rr / pap;
    let next = 0;
    for (let i = 0; i < n; i += 1) {
      w[i] = (w[i] as number) + alpha * (p[i] as number);
      res[i] = (res[i] as number) - alpha * (ap[i] as number);
      next += (res[i] as number) ** 2;
    }
    const beta = next / rr;
    rr = next;
    for (let i = 0; i < n; i += 1) p[i] = (res[i] as number) + beta * (p[i] as number);
  }
  let sum = 0;
  for (let i = 0; i < n; i += 1) sum += w[i] as number;
  for (let i = 0; i < n; i += 1) w[i] = (w[i] as number) / sum;
  const variance = (x: Float64Array) => {
    mul(x, ap);
    let v = 0;
    for (let i = 0; i < n; i += 1) v += (x[i] as number) * (ap[i] as number);
    return v;
  };
  const minVarVol = Math.sqrt(variance(w) * 252);
  const equalWeightVol = Math.sqrt(variance(new Float64Array(n).fill(1 / n)) * 252);

  let corr = 0;
  for (let i = 0; i < n; i += 1) {
    for (let j = i + 1; j < n; j += 1) {
      corr += (cov[i * n + j] as number) / (1 - shrink) / Math.sqrt((cov[i * n + i] as number) * (cov[j * n + j] as number));
    }
  }
  const avgCorrelation = corr / ((n * (n - 1)) / 2);

  const last = days[days.length - 1] as { symbols: string[]; close: Float64Array };
  const prev = days[days.length - 2] as { close: Float64Array };
  let top = { symbol: '', ret: 0 };
  for (let j = 0; j < n; j += 1) {
    const ret = (last.close[j] as number) / (prev.close[j] as number) - 1;
    if (Math.abs(ret) > Math.abs(top.ret)) top = { symbol: last.symbols[j] as string, ret };
  }
  return { date, securities: n, minVarVol, equalWeightVol, avgCorrelation, topMover: top };
}

/** The reduction: one summary over every day of the backfill. */
export function summarize(days: DayRisk[]): BackfillSummary {
  if (days.length === 0) throw new Error('summarize needs at least one day');
  const sorted = [...days].sort((a, b) => a.date.localeCompare(b.date));
  const mean = (f: (d: DayRisk) => number) => sorted.reduce((s, d) => s + f(d), 0) / sorted.length;
  let riskiest = sorted[0] as DayRisk;
  let biggest = sorted[0] as DayRisk;
  for (const d of sorted) {
    if (d.equalWeightVol > riskiest.equalWeightVol) riskiest = d;
    if (Math.abs(d.topMover.ret) > Math.abs(biggest.topMover.ret)) biggest = d;
  }
  return {
    days: sorted.length,
    from: (sorted[0] as DayRisk).date,
    to: (sorted[sorted.length - 1] as DayRisk).date,
    meanMinVarVol: mean((d) => d.minVarVol),
    meanEqualWeightVol: mean((d) => d.equalWeightVol),
    meanAvgCorrelation: mean((d) => d.avgCorrelation),
    diversificationRatio: mean((d) => d.equalWeightVol / d.minVarVol),
    riskiestDay: { date: riskiest.date, equalWeightVol: riskiest.equalWeightVol },
    biggestMove: { date: biggest.date, symbol: biggest.topMover.symbol, ret: biggest.topMover.ret },
  };
}
