import type { Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import { accrue, costChanged } from '../shared/cost/accrual.ts';
import { aggregateCosts, type CostSummary } from '../shared/cost/aggregate.ts';
import { alertKey, budgetFor, findCrossings, formatAlert, type AlertScope } from '../shared/cost/alerts.ts';
import type { CostConfig } from '../shared/cost/config.ts';
import { forecastMonth, monthOf } from '../shared/cost/forecast.ts';
import { userEmailAddress, userEmailAddresses } from '../shared/cost/recipients.ts';
import { NO_JOB } from '../shared/cost/aggregate.ts';
import { formatRunAlert, runAlertKey, runNeedsAlert } from '../shared/jobs/run-alerts.ts';
import type { JobStore } from '../shared/ports/job-store.ts';
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
 *    runs. Scopes are users, namespaces and scheduled jobs (all the clusters
 *    of a job's runs, against the job's budget);
 * 5. with `jobs`: a scheduled-job run that ended FAILED or TIMED_OUT (in the
 *    last days) sends one alert per run and channel, claimed in the same
 *    persisted ledger, to the job owner's address.
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
  /** Scheduled jobs: failed runs are alerted once each. */
  jobs?: Pick<JobStore, 'listJobs' | 'listRuns'>;
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
  /** Alerts for failed or timed-out job runs. */
  runAlerts: { runId: string; job: string; channel: string; outcome: 'sent' | 'already-sent' | 'failed'; error?: string }[];
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
    ['job', byJob],
  ] as const) {
    for (const g of summary.groups) {
      if (scope === 'job' && g.key === NO_JOB) continue;
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
    const summary = scope === 'user' ? byUser : scope === 'job' ? byJob : byNamespace;
    for (const group of summary.groups) {
      if (scope === 'job' && group.key === NO_JOB) continue;
      for (const crossing of findCrossings(scope, group, now, rules)) {
        const message_ = formatAlert(crossing);
        // The user's own address when a domain is configured: the user, or the owners of a namespace's clusters.
        const domain = deps.config.email?.userDomain;
        const people = scope === 'user' ? [group.key] : [...new Set(group.top.map((t) => t.owner))];
        // Only plain mailbox names become addresses; a crafted owner (`a,b`, `x@evil`, a newline) is refused and the
        // alert goes to the configured recipients alone.
        const personal = domain ? userEmailAddresses(people, domain) : undefined;
        if (personal?.refused.length) log.warn('owner is not a plain mailbox name; not e-mailed', { owners: personal.refused.map((o) => JSON.stringify(o).slice(0, 80)) });
        const to = personal?.to.length ? personal.to : undefined;
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

  const runAlerts = deps.jobs ? await alertFailedRuns(deps, deps.jobs, now, at, expiresAt) : [];

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
    runAlerts,
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

/** One alert per failed or timed-out run and channel: claim in the ledger, send, release on failure. */
async function alertFailedRuns(
  deps: CostReporterDeps,
  jobs: NonNullable<CostReporterDeps['jobs']>,
  now: number,
  at: string,
  expiresAt: string,
): Promise<CostReport['runAlerts']> {
  const log = deps.logger.child({ component: 'cost-reporter' });
  const out: CostReport['runAlerts'] = [];
  const domain = deps.config.email?.userDomain;
  for (const job of await jobs.listJobs()) {
    for (const run of await jobs.listRuns(job.id, { limit: 50 })) {
      if (!runNeedsAlert(run, now)) continue;
      const alert = formatRunAlert(job, run);
      // The job owner's own address when it can have one; otherwise the configured recipients only.
      const own = domain ? userEmailAddress(job.owner, domain) : undefined;
      if (domain && own === undefined) log.warn('job owner is not a plain mailbox name; not e-mailed', { job: job.name, owner: JSON.stringify(job.owner).slice(0, 80) });
      for (const notifier of deps.notifiers) {
        const key = runAlertKey(run.id, notifier.channel);
        const result: CostReport['runAlerts'][number] = { runId: run.id, job: job.name, channel: notifier.channel, outcome: 'already-sent' };
        if (await deps.ledger.claim(key, { at, expiresAt, note: alert.subject.slice(0, 200) })) {
          try {
            await notifier.send({ subject: alert.subject, text: alert.text, ...(own ? { to: [own] } : {}) });
            result.outcome = 'sent';
            log.info('run alert sent', { key, channel: notifier.channel, subject: alert.subject });
          } catch (err) {
            result.outcome = 'failed';
            result.error = message(err);
            log.error('run alert failed; will retry next run', { key, channel: notifier.channel, error: err });
            await deps.ledger.release(key).catch((e: unknown) => log.error('could not release alert claim', { key, error: e }));
          }
        }
        out.push(result);
      }
    }
  }
  return out;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

