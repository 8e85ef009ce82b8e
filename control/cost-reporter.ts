import type { Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import { accrue, costChanged } from '../shared/cost/accrual.ts';
import { aggregateCosts, type CostSummary } from '../shared/cost/aggregate.ts';
import { alertKey, budgetFor, findCrossings, formatAlert, type AlertScope } from '../shared/cost/alerts.ts';
import type { CostConfig } from '../shared/cost/config.ts';
import { forecastMonth, monthOf } from '../shared/cost/forecast.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../shared/harvest/types.ts';
import { revise } from '../shared/lifecycle/machine.ts';
import type { AlertLedger } from '../shared/ports/alert-ledger.ts';
import type { BudgetKeeper } from '../shared/ports/budgets.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { Notifier } from '../shared/ports/notifier.ts';

/**
 * One cost-reporter run (EventBridge on AWS, a timer in `recc up`):
 *
 * 1. accrues every record's cost and stores it where it moved by a cent or
 *    more (`cost: {toDate, perHour, asOf, projected}`), conditional on the
 *    version; a lost race is left to the next run. DELETING records are not
 *    rewritten (the harvester's DELETING deadline reads `updatedAt`);
 * 2. aggregates the month to date by user, namespace and job, with a
 *    month forecast per user and namespace (linear on elapsed days,
 *    `shared/cost/forecast.ts`);
 * 3. keeps one AWS Budget per user who spent this month or has a live
 *    cluster (`BudgetKeeper`, idempotent);
 * 4. alerts once per (period, scope, key, measure, threshold, channel): the
 *    key is claimed in the `AlertLedger` first (a conditional put), then the
 *    message is sent; when sending fails the claim is released so the next
 *    run retries. At most one message per key is sent, even with concurrent
 *    runs.
 */
export interface CostReporterDeps {
  store: ClusterStore;
  clock: Clock;
  logger: Logger;
  config: CostConfig;
  ledger: AlertLedger;
  notifiers: readonly Notifier[];
  budgets?: BudgetKeeper;
  harvest?: HarvestConfig;
  /** Store accrued costs on the records. @default true */
  persistCosts?: boolean;
}

export interface ForecastLine {
  scope: AlertScope;
  key: string;
  monthToDate: number;
  forecast: number;
  budget: number;
}

export interface AlertResult {
  key: string;
  channel: string;
  scope: AlertScope;
  group: string;
  measure: string;
  threshold: number;
  outcome: 'sent' | 'already-sent' | 'failed';
  error?: string;
}

export interface CostReport {
  at: string;
  month: string;
  elapsedDays: number;
  daysInMonth: number;
  byUser: CostSummary;
  byNamespace: CostSummary;
  byJob: CostSummary;
  forecasts: ForecastLine[];
  alerts: AlertResult[];
  budgets: { user: string; budgetName?: string; outcome: 'created' | 'updated' | 'failed'; error?: string }[];
  costsUpdated: number;
  costUpdateConflicts: number;
}

export async function runCostReporter(deps: CostReporterDeps): Promise<CostReport> {
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  const log = deps.logger.child({ component: 'cost-reporter' });
  const harvest = deps.harvest ?? DEFAULT_HARVEST_CONFIG;
  const rules = deps.config.rules;

  const records = await deps.store.listAll();
  let costsUpdated = 0;
  let costUpdateConflicts = 0;
  if (deps.persistCosts ?? true) {
    for (const record of records) {
      if (record.status === 'DELETING' || record.status === 'REQUESTED') continue;
      const cost = accrue(record, now, harvest);
      if (!costChanged(record.cost, cost)) continue;
      try {
        await deps.store.put(revise(record, { at, patch: { cost } }), record.version);
        costsUpdated += 1;
      } catch (err) {
        costUpdateConflicts += 1;
        log.debug('cost not stored; left to the next run', { clusterId: record.id, error: err });
      }
    }
  }

  const month = monthOf(now);
  const window = { from: month.start, to: now, now, top: Math.max(rules.topClusters, 1), harvest };
  const byUser = aggregateCosts(records, { ...window, groupBy: 'user' });
  const byNamespace = aggregateCosts(records, { ...window, groupBy: 'namespace' });
  const byJob = aggregateCosts(records, { ...window, groupBy: 'job' });
  const monthForecast = forecastMonth(byUser.total, now);

  const forecasts: ForecastLine[] = [];
  for (const [scope, summary] of [
    ['user', byUser],
    ['namespace', byNamespace],
  ] as const) {
    for (const g of summary.groups) {
      const f = forecastMonth(g.cost, now);
      forecasts.push({ scope, key: g.key, monthToDate: f.monthToDate, forecast: f.forecast, budget: budgetFor(scope, g.key, rules.budgets) });
    }
  }

  const budgets: CostReport['budgets'] = [];
  if (deps.budgets) {
    const users = new Set(byUser.groups.map((g) => g.key));
    for (const r of records) if (r.status !== 'DELETED' && r.status !== 'FAILED') users.add(r.owner);
    for (const user of [...users].sort()) {
      try {
        const out = await deps.budgets.ensureUserBudget({ user, amountUsd: budgetFor('user', user, rules.budgets) });
        budgets.push({ user, budgetName: out.budgetName, outcome: out.outcome });
      } catch (err) {
        budgets.push({ user, outcome: 'failed', error: message(err) });
        log.error('budget sync failed', { user, error: err });
      }
    }
  }

  const alerts: AlertResult[] = [];
  const expiresAt = new Date(month.end + 35 * 86_400_000).toISOString();
  for (const scope of rules.scopes) {
    const summary = scope === 'user' ? byUser : byNamespace;
    for (const group of summary.groups) {
      for (const crossing of findCrossings(scope, group, now, rules)) {
        const message_ = formatAlert(crossing);
        // The user's own address when a domain is configured: the user, or the owners of a namespace's clusters.
        const domain = deps.config.email?.userDomain;
        const people = scope === 'user' ? [group.key] : [...new Set(group.top.map((t) => t.owner))];
        const to = domain ? people.map((p) => `${p}@${domain}`) : undefined;
        for (const notifier of deps.notifiers) {
          const key = alertKey(crossing, notifier.channel);
          const result: AlertResult = {
            key,
            channel: notifier.channel,
            scope,
            group: group.key,
            measure: crossing.measure,
            threshold: crossing.threshold,
            outcome: 'already-sent',
          };
          if (await deps.ledger.claim(key, { at, expiresAt, note: message_.subject.slice(0, 200) })) {
            try {
              await notifier.send({ subject: message_.subject, text: message_.text, ...(to ? { to } : {}) });
              result.outcome = 'sent';
              log.info('cost alert sent', { key, channel: notifier.channel, subject: message_.subject });
            } catch (err) {
              result.outcome = 'failed';
              result.error = message(err);
              log.error('cost alert failed; will retry next run', { key, channel: notifier.channel, error: err });
              await deps.ledger.release(key).catch((e: unknown) => log.error('could not release alert claim', { key, error: e }));
            }
          }
          alerts.push(result);
        }
      }
    }
  }

  const report: CostReport = {
    at,
    month: month.id,
    elapsedDays: monthForecast.elapsedDays,
    daysInMonth: monthForecast.daysInMonth,
    byUser,
    byNamespace,
    byJob,
    forecasts,
    alerts,
    budgets,
    costsUpdated,
    costUpdateConflicts,
  };
  log.info('cost report', {
    month: month.id,
    monthToDate: byUser.total,
    forecast: monthForecast.forecast,
    users: byUser.groups.length,
    alertsSent: alerts.filter((a) => a.outcome === 'sent').length,
    alertsFailed: alerts.filter((a) => a.outcome === 'failed').length,
    budgets: budgets.length,
    costsUpdated,
  });
  return report;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

