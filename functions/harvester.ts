import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import { runHarvester, type HarvestReport, type HarvesterDeps } from '../control/harvester.ts';
import type { GrantChange } from '../shared/ports/compute-backend.ts';
import { lazyHandler } from './commons/lazy.ts';

/**
 * The harvester function, run by an EventBridge schedule (rate 5 minutes, see
 * serverless.yml). One run = `runHarvester`: reap idle / expired / leased-out /
 * unreachable clusters (→ DELETING with the reason, handed to the provisioner
 * through the queue), fail vanished or stuck ones, remove orphans and the
 * access grants of clusters that are gone, and fail
 * scheduled-job runs stuck past their deadline or without their cluster. Level-
 * triggered: a failed or missed run is caught up by the next one, so the
 * handler does not retry anything itself. Dependencies are built once per
 * cold start (`./harvester-deps.ts`, loaded lazily so importing this module
 * reads no configuration).
 */
export interface HarvesterSummary {
  considered: number;
  reaped: HarvestReport['reaped'];
  failed: HarvestReport['failed'];
  orphansRemoved: string[];
  /** Scheduled-job runs failed because they were stuck past their deadline or lost their cluster. */
  runsFailed: { runId: string; reason: string }[];
  /** Access grants (EKS access entries, Pod Identity associations) of clusters that are gone, removed or narrowed. */
  grantsRemoved: GrantChange[];
  errors: number;
}

export function summarize(report: HarvestReport): HarvesterSummary {
  return {
    considered: report.considered,
    reaped: report.reaped,
    failed: report.failed,
    orphansRemoved: report.orphansRemoved,
    runsFailed: report.runsFailed ?? [],
    grantsRemoved: report.grantsRemoved ?? [],
    errors:
      report.actions.filter((a) => a.outcome === 'error').length + report.observeErrors.length + (report.listError ? 1 : 0) + (report.grantSweepError ? 1 : 0),
  };
}

export function makeHandler(deps: HarvesterDeps) {
  return middy(async (_event: ScheduledEvent | Record<string, never>, context: Context): Promise<HarvesterSummary> => {
    const logger = deps.logger.child({ requestId: context.awsRequestId });
    const summary = summarize(await runHarvester({ ...deps, logger }));
    // One line per run; the stage's HarvesterFailures metric filter counts `errors` (serverless.yml).
    logger.info('harvest finished', { considered: summary.considered, reaped: summary.reaped.length, failed: summary.failed.length, orphansRemoved: summary.orphansRemoved.length, grantsRemoved: summary.grantsRemoved.length, errors: summary.errors });
    return summary;
  });
}

export const handler = lazyHandler(async () => {
  const { harvesterDepsFromEnv } = await import('./harvester-deps.ts');
  return makeHandler(await harvesterDepsFromEnv(process.env));
});
