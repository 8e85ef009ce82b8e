import middy from '@middy/core';
import type { Context, ScheduledEvent } from 'aws-lambda';
import type { RunDriver } from '../control/job-runs.ts';
import { lazyHandler } from './commons/lazy.ts';

/**
 * Drives scheduled-job runs on AWS, every minute (EventBridge, see
 * serverless.yml): one `RunDriver.stepAll()` over every unfinished run.
 * Each step is idempotent and level-triggered (observe the run, its cluster
 * and its driver — a Kubernetes Job in the cluster's namespace — then one
 * conditional write, then act), so a missed or failed invocation is caught up
 * by the next one. A new run is picked up within a minute of its trigger;
 * the harvester fails runs this function leaves stuck (`control/job-reconcile.ts`).
 */
export function makeHandler(runner: Pick<RunDriver, 'stepAll'>) {
  return middy(async (_event: ScheduledEvent | Record<string, never>, _context: Context): Promise<{ stepped: true }> => {
    await runner.stepAll();
    return { stepped: true };
  });
}

export const handler = lazyHandler(async () => {
  const { runDriverFromEnv } = await import('./job-runner-deps.ts');
  return makeHandler(await runDriverFromEnv(process.env));
});
