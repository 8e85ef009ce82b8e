import { own } from '../core/own.ts';
import { splitJobGroupKey, type ClusterCostLine, type CostGroup } from './aggregate.ts';
import { forecastMonth, type MonthForecast } from './forecast.ts';
import { formatUsd, formatUsdCents } from './money.ts';

/**
 * Cost alerts (pure): which thresholds a user's, a namespace's or a scheduled
 * job's month-to-date cost or month forecast has crossed, the dedupe key of
 * each alert, and its message. Sending and dedupe state live in
 * `control/cost-reporter.ts`.
 */
export const ALERT_SCOPES = ['user', 'namespace', 'job'] as const;
export type AlertScope = (typeof ALERT_SCOPES)[number];

export type AlertMeasure = 'month-to-date' | 'forecast';

/** A threshold as configured: dollars (`1000`) or a share of the budget (`80%`). */
export type ThresholdSpec = { kind: 'amount'; value: number } | { kind: 'percent'; value: number };

export interface BudgetConfig {
  /** Monthly budget per user in dollars, unless `userBudgets` names the user. */
  userBudgetUsd: number;
  userBudgets: Readonly<Record<string, number>>;
  /** Monthly budget per namespace. */
  namespaceBudgetUsd: number;
  /** Monthly budget per scheduled job (all its runs' clusters), unless `jobBudgets` names the job. */
  jobBudgetUsd?: number;
  jobBudgets?: Readonly<Record<string, number>>;
}

export interface AlertRules {
  budgets: BudgetConfig;
  thresholds: readonly ThresholdSpec[];
  scopes: readonly AlertScope[];
  /** Clusters named in a message. */
  topClusters: number;
}

export interface Crossing {
  scope: AlertScope;
  key: string;
  /** `YYYY-MM`. */
  period: string;
  measure: AlertMeasure;
  /** Dollars. */
  threshold: number;
  /** The threshold as configured, e.g. `80%` or `$1,000`. */
  thresholdLabel: string;
  budget: number;
  /** The figure that crossed: month-to-date or forecast. */
  value: number;
  forecast: MonthForecast;
  top: ClusterCostLine[];
}

export function budgetFor(scope: AlertScope, key: string, budgets: BudgetConfig): number {
  if (scope === 'user') return own(budgets.userBudgets, key) ?? budgets.userBudgetUsd;
  if (scope === 'job') {
    // `owner/job` names one user's job; a bare job name applies to every owner's job of that name.
    const name = splitJobGroupKey(key)?.job;
    const named = budgets.jobBudgets ? (own(budgets.jobBudgets, key) ?? (name === undefined ? undefined : own(budgets.jobBudgets, name))) : undefined;
    return named ?? budgets.jobBudgetUsd ?? budgets.namespaceBudgetUsd;
  }
  return budgets.namespaceBudgetUsd;
}

export function thresholdDollars(spec: ThresholdSpec, budget: number): number {
  return spec.kind === 'amount' ? spec.value : Math.round(budget * spec.value) / 100;
}

export function thresholdLabel(spec: ThresholdSpec): string {
  return spec.kind === 'amount' ? formatUsd(spec.value) : `${spec.value}%`;
}

/**
 * Every (measure, threshold) the group's month-to-date cost or forecast is
 * strictly above. `group.cost` must be the month-to-date cost of the group.
 */
export function findCrossings(
  scope: AlertScope,
  group: CostGroup,
  now: number,
  rules: AlertRules,
): Crossing[] {
  const forecast = forecastMonth(group.cost, now);
  const budget = budgetFor(scope, group.key, rules.budgets);
  const out: Crossing[] = [];
  const seen = new Set<number>();
  for (const spec of rules.thresholds) {
    const threshold = thresholdDollars(spec, budget);
    if (seen.has(threshold)) continue;
    seen.add(threshold);
    for (const [measure, value] of [
      ['month-to-date', forecast.monthToDate],
      ['forecast', forecast.forecast],
    ] as const) {
      if (value > threshold) {
        out.push({
          scope,
          key: group.key,
          period: forecast.month,
          measure,
          threshold,
          thresholdLabel: thresholdLabel(spec),
          budget,
          value,
          forecast,
          top: group.top.slice(0, rules.topClusters),
        });
      }
    }
  }
  return out;
}

/** Dedupe key: one alert per scope, key, measure, threshold, period and channel. */
export function alertKey(c: Crossing, channel: string): string {
  return ['cost-alert', c.period, c.scope, c.key, c.measure, c.threshold.toFixed(2), channel].join('#');
}

export interface AlertMessage {
  subject: string;
  text: string;
  /** The owner to copy on user alerts, when known. */
  user?: string;
  crossing: Crossing;
}

/**
 * The message: budget, threshold, forecast and the top clusters, e.g.
 * "forecasted month $1,024.08 > $1,000 threshold on a $2,000 budget".
 */
export function formatAlert(c: Crossing): AlertMessage {
  const what = c.measure === 'forecast' ? 'forecasted month' : 'month to date';
  const headline = `${what} ${formatUsdCents(c.value)} > ${formatUsd(c.threshold)} threshold on a ${formatUsd(c.budget)} budget`;
  const subject = `recc cost alert: ${c.scope} ${c.key}: ${headline}`;
  const lines = [
    `recc cost alert for ${c.scope} ${c.key} (${c.period}): ${headline}.`,
    `Month to date ${formatUsdCents(c.forecast.monthToDate)} after ${c.forecast.elapsedDays} of ${c.forecast.daysInMonth} days; forecast ${formatUsdCents(c.forecast.forecast)} (linear on elapsed days).`,
    `Threshold ${c.thresholdLabel} (${formatUsd(c.threshold)}) of a ${formatUsd(c.budget)} monthly budget.`,
  ];
  if (c.top.length > 0) {
    lines.push('Top clusters:');
    for (const t of c.top) {
      lines.push(
        `  ${t.clusterId} ${t.name} (${t.owner}, ${t.namespace}${t.job ? `, job ${t.job}` : ''}, ${t.status}): ${formatUsdCents(t.cost)} this month, ${formatUsdCents(t.perHour)}/h now`,
      );
    }
  }
  return { subject, text: lines.join('\n'), ...(c.scope === 'user' ? { user: c.key } : {}), crossing: c };
}
