import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { runCostReporter, type CostReport, type CostReporterDeps } from '../control/cost-reporter.ts';
import { lazyHandler } from './commons/lazy.ts';
import type { PriceRefreshResult } from '../adapters/pricing/price-list.ts';

/**
 * The cost reporter function, run by an EventBridge schedule (see
 * serverless.yml). One run = `runCostReporter` (accrue and store costs,
 * aggregate, keep one AWS Budget per user, send threshold alerts once).
 * Dependencies are built once per cold start from the environment
 * (`./cost-reporter-deps.ts` is loaded lazily, so importing this module reads
 * no configuration). A failed run throws, and EventBridge's retry policy
 * re-runs it; alerts are deduplicated by the ledger, so a re-run never
 * repeats a message.
 */
export interface CostReporterSummary {
  month: string;
  monthToDate: number;
  users: number;
  alertsSent: number;
  alertsFailed: number;
  budgets: number;
  costsUpdated: number;
}

export function summarize(report: CostReport): CostReporterSummary {
  return {
    month: report.month,
    monthToDate: report.byUser.total,
    users: report.byUser.groups.length,
    alertsSent: report.alerts.filter((a) => a.outcome === 'sent').length,
    alertsFailed: report.alerts.filter((a) => a.outcome === 'failed').length,
    budgets: report.budgets.length,
    costsUpdated: report.costsUpdated,
  };
}

/** The cost reporter's dependencies, plus the daily EC2 price refresh (adapters/pricing/price-list.ts). */
export type CostReporterHandlerDeps = CostReporterDeps & { refreshPrices?: () => Promise<PriceRefreshResult> };

export function makeHandler(deps: CostReporterHandlerDeps) {
  return middy(async (_event: ScheduledEvent | Record<string, never>, context: Context): Promise<CostReporterSummary & { prices?: PriceRefreshResult }> => {
    const report = await runCostReporter({ ...deps, logger: deps.logger.child({ requestId: context.awsRequestId }) });
    // After the report, and never failing it: a refresh that fails leaves the cached or static prices.
    const prices = deps.refreshPrices ? await deps.refreshPrices() : undefined;
    return { ...summarize(report), ...(prices ? { prices } : {}) };
  });
}

export const handler = lazyHandler(async () => {
  const { costReporterDepsFromEnv } = await import('./cost-reporter-deps.ts');
  return makeHandler(await costReporterDepsFromEnv(process.env));
});
