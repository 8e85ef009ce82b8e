import type { ClusterRecord } from '../lifecycle/types.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../harvest/types.ts';
import { budgetFor, type BudgetConfig } from './alerts.ts';
import { accrue, billedUntil } from './accrual.ts';
import { billedWithin, groupKey, round2, type GroupBy } from './aggregate.ts';
import { forecastMonth, monthOf, type MonthForecast } from './forecast.ts';

/**
 * Cost over time (pure): per group (user, namespace or job), the cost of each
 * hour or day bucket in a period, the running total, the group's monthly
 * budget and its month forecast. This is what the console charts; the
 * bucket figures spread a cluster's cost as `clusterCostIn` (`GET /costs`)
 * does, exactly, so a group's total equals its `GET /costs` cost.
 */
export const INTERVALS = ['hour', 'day'] as const;
export type Interval = (typeof INTERVALS)[number];

const STEP: Record<Interval, number> = { hour: 3_600_000, day: 86_400_000 };

/** Most buckets one series may have: a leap year of days, or 31 days of hours. */
export const MAX_BUCKETS: Record<Interval, number> = { hour: 744, day: 366 };

/** Most groups charted; the rest are summed into OTHER_KEY so the answer stays bounded. */
export const MAX_SERIES = 12;
export const OTHER_KEY = '(others)';

export interface CostSeriesLine {
  key: string;
  /** Dollars in each bucket (aligned with `buckets`). */
  cost: number[];
  /** Running total over the period, bucket by bucket. */
  cumulative: number[];
  total: number;
  /** Monthly budget of this user, namespace or job (absent on OTHER_KEY). */
  budget?: number;
  /** This group's month-to-date and linear month forecast (shared/cost/forecast.ts). */
  month: MonthForecast;
}

export interface CostSeries {
  groupBy: GroupBy;
  interval: Interval;
  from: string;
  to: string;
  asOf: string;
  currency: 'USD';
  /** Start of each bucket, epoch milliseconds (uPlot's x values are these / 1000). */
  buckets: number[];
  /** Highest total first; ties by key. */
  series: CostSeriesLine[];
  /** All visible clusters for the current month. */
  month: MonthForecast;
}

export interface SeriesOptions {
  groupBy: GroupBy;
  interval: Interval;
  from: number;
  to: number;
  now: number;
  budgets: BudgetConfig;
  harvest?: HarvestConfig;
}

/** Bucket starts: aligned to UTC hours or days, from the bucket holding `from` up to `to` (exclusive). */
export function bucketStarts(from: number, to: number, interval: Interval): number[] {
  const step = STEP[interval];
  const out: number[] = [];
  for (let t = Math.floor(from / step) * step; t < to; t += step) out.push(t);
  return out;
}

export function costSeries(records: readonly ClusterRecord[], options: SeriesOptions): CostSeries {
  const { groupBy, interval, from, to, now, budgets } = options;
  const harvest = options.harvest ?? DEFAULT_HARVEST_CONFIG;
  const buckets = bucketStarts(from, to, interval);
  const step = STEP[interval];
  const month = monthOf(now);
  // Exact figures per group; rounded once at the end so the running total does not drift.
  const perGroup = new Map<string, { cost: number[]; mtd: number }>();
  let monthTotal = 0;
  for (const record of records) {
    const inPeriod = billedWithin(record, from, to, now);
    const inMonth = billedWithin(record, month.start, now, now);
    if (!inPeriod && !inMonth) continue;
    const key = groupKey(record, groupBy);
    let g = perGroup.get(key);
    if (!g) {
      g = { cost: new Array<number>(buckets.length).fill(0), mtd: 0 };
      perGroup.set(key, g);
    }
    // As clusterCostIn: cost to date spread evenly over the billed interval, kept exact (rounded once per line).
    const toDate = accrue(record, now, harvest).toDate;
    const start = Date.parse(record.provisioningAt ?? '');
    const end = billedUntil(record, now);
    const perMs = end > start ? toDate / (end - start) : 0;
    const overlap = (lo: number, hi: number): number => Math.max(0, Math.min(end, hi) - Math.max(start, lo));
    if (inPeriod) {
      for (let i = 0; i < buckets.length; i++) {
        const b = buckets[i] as number;
        g.cost[i] = (g.cost[i] as number) + perMs * overlap(Math.max(b, from), Math.min(b + step, to));
      }
    }
    if (inMonth) {
      const mtd = perMs * overlap(month.start, now);
      g.mtd += mtd;
      monthTotal += mtd;
    }
  }
  const lines: CostSeriesLine[] = [];
  for (const [key, g] of perGroup) {
    lines.push(line(key, g.cost, g.mtd, now, budgetFor(groupBy, key, budgets)));
  }
  lines.sort((a, b) => b.total - a.total || a.key.localeCompare(b.key));
  let series = lines;
  if (lines.length > MAX_SERIES) {
    const rest = lines.slice(MAX_SERIES - 1);
    const cost = buckets.map((_, i) => rest.reduce((s, l) => s + (l.cost[i] as number), 0));
    series = [...lines.slice(0, MAX_SERIES - 1), line(OTHER_KEY, cost, rest.reduce((s, l) => s + l.month.monthToDate, 0), now, undefined)];
  }
  return {
    groupBy,
    interval,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    asOf: new Date(now).toISOString(),
    currency: 'USD',
    buckets,
    series,
    month: forecastMonth(monthTotal, now),
  };
}

function line(key: string, exact: number[], mtd: number, now: number, budget: number | undefined): CostSeriesLine {
  let running = 0;
  const cumulative = exact.map((c) => round2((running += c)));
  return {
    key,
    cost: exact.map(round2),
    cumulative,
    total: round2(running),
    ...(budget !== undefined ? { budget } : {}),
    month: forecastMonth(mtd, now),
  };
}
