import type { Clock } from '../shared/core/clock.ts';
import { ValidationError, type ErrorDetail } from '../shared/core/errors.ts';
import { aggregateCosts, GROUP_BY, type CostSummary, type GroupBy } from '../shared/cost/aggregate.ts';
import { forecastMonth, monthOf, type MonthForecast } from '../shared/cost/forecast.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../shared/harvest/types.ts';
import type { BudgetConfig } from '../shared/cost/alerts.ts';
import { costSeries, INTERVALS, MAX_BUCKETS, type CostSeries, type Interval } from '../shared/cost/series.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';

/**
 * The `GET /costs?groupBy=user|namespace|job&from=&to=` use case. Users see
 * their own clusters' costs; admins see everyone's. Costs are accrued fresh
 * from the records at request time (`shared/cost/`), so the answer does not
 * wait for the cost reporter's next run.
 *
 * `from`/`to` are ISO dates or times (`2026-11-01`, `2026-11-15T12:00:00Z`);
 * the default period is the current UTC month up to now. The month-to-date
 * forecast always covers the current month of the caller's visible clusters.
 */
export interface CostsDeps {
  store: ClusterStore;
  clock: Clock;
  harvest?: HarvestConfig;
}

export interface CostsCaller {
  user: string;
  admin: boolean;
}

export interface CostsQuery {
  groupBy?: string;
  from?: string;
  to?: string;
}

export interface CostsResult extends CostSummary {
  /** `own` for users, `all` for admins. */
  scope: 'own' | 'all';
  /** Month-to-date and forecast of the visible clusters for the current month. */
  month: MonthForecast;
}

/** Longest period one query may cover. */
export const MAX_PERIOD_DAYS = 366;

export async function queryCosts(deps: CostsDeps, caller: CostsCaller, query: CostsQuery): Promise<CostsResult> {
  const now = deps.clock.now();
  const { groupBy, from, to } = parseCostsQuery(query, now);
  const records = caller.admin ? await deps.store.listAll() : await deps.store.listByOwner(caller.user);
  const harvest = deps.harvest ?? DEFAULT_HARVEST_CONFIG;
  const summary = aggregateCosts(records, { groupBy, from, to, now, harvest });
  const month = monthOf(now);
  const mtd = aggregateCosts(records, { groupBy: 'user', from: month.start, to: now, now, harvest });
  return { ...summary, scope: caller.admin ? 'all' : 'own', month: forecastMonth(mtd.total, now) };
}

/** Validate the query; every problem is listed. */
export function parseCostsQuery(query: CostsQuery, now: number): { groupBy: GroupBy; from: number; to: number } {
  const details: ErrorDetail[] = [];
  const groupBy = (query.groupBy ?? 'user') as GroupBy;
  if (!GROUP_BY.includes(groupBy)) details.push({ path: 'groupBy', message: `must be one of ${GROUP_BY.join(', ')}` });
  const from = query.from === undefined ? monthOf(now).start : parseTime(query.from, 'from', details);
  const to = query.to === undefined ? now : parseTime(query.to, 'to', details);
  if (details.length === 0) {
    if (from >= to) details.push({ path: 'from', message: 'must be before to' });
    else if (to - from > MAX_PERIOD_DAYS * 86_400_000) details.push({ path: 'from', message: `the period may cover at most ${MAX_PERIOD_DAYS} days` });
  }
  if (details.length > 0) throw new ValidationError('the cost query is invalid', details);
  return { groupBy, from, to };
}

const ISO = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

function parseTime(value: string, path: string, details: ErrorDetail[]): number {
  const t = ISO.test(value) ? Date.parse(value) : Number.NaN;
  if (Number.isNaN(t)) {
    details.push({ path, message: 'must be an ISO date or time such as 2026-11-01 or 2026-11-01T12:00:00Z' });
    return 0;
  }
  return t;
}

export interface CostSeriesQuery extends CostsQuery {
  interval?: string;
}

/**
 * `GET /costs/series?groupBy=&interval=hour|day&from=&to=`: the cost of each
 * hour or day per user, namespace or job, with each group's budget and month
 * forecast (shared/cost/series.ts). Same visibility and period rules as
 * `queryCosts`; the period may hold at most MAX_BUCKETS buckets.
 */
export async function queryCostSeries(deps: CostsDeps & { budgets: BudgetConfig }, caller: CostsCaller, query: CostSeriesQuery): Promise<CostSeries & { scope: 'own' | 'all' }> {
  const now = deps.clock.now();
  const details: ErrorDetail[] = [];
  const interval = (query.interval ?? 'day') as Interval;
  if (!INTERVALS.includes(interval)) details.push({ path: 'interval', message: `must be one of ${INTERVALS.join(', ')}` });
  let parsed: { groupBy: GroupBy; from: number; to: number } | undefined;
  try {
    parsed = parseCostsQuery(query, now);
  } catch (err) {
    if (err instanceof ValidationError) details.push(...err.details);
    else throw err;
  }
  if (parsed && details.length === 0) {
    const step = interval === 'hour' ? 3_600_000 : 86_400_000;
    const count = Math.ceil(parsed.to / step) - Math.floor(parsed.from / step);
    if (count > MAX_BUCKETS[interval]) details.push({ path: 'from', message: `the period holds ${count} ${interval}s; at most ${MAX_BUCKETS[interval]} per query` });
  }
  if (!parsed || details.length > 0) throw new ValidationError('the cost series query is invalid', details);
  const records = caller.admin ? await deps.store.listAll() : await deps.store.listByOwner(caller.user);
  const series = costSeries(records, { ...parsed, interval, now, budgets: deps.budgets, harvest: deps.harvest ?? DEFAULT_HARVEST_CONFIG });
  return { ...series, scope: caller.admin ? 'all' : 'own' };
}
