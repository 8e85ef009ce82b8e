import { notifiersFromConfig } from '../adapters/notify/index.ts';
import { InMemoryAlertLedger } from '../adapters/store/alert-ledger-memory.ts';
import { runCostReporter } from '../control/cost-reporter.ts';
import { runHarvester } from '../control/harvester.ts';
import { reconcileStuckRuns } from '../control/job-reconcile.ts';
import { getNumber, type Env } from '../shared/core/env.ts';
import { costConfigFromEnv } from '../shared/cost/config.ts';
import { harvestConfigFromEnv } from '../shared/harvest/config.ts';
import type { PeriodicJob } from './stack.ts';

/**
 * The timers `recc up` runs, the local stand-ins for the EventBridge
 * schedules: the harvester (idle/lifetime/lease reaping, orphan sweep) every
 * `RECC_UP_HARVEST_SECONDS` (60) and the cost reporter every
 * `RECC_UP_COST_SECONDS` (300). Both read their usual configuration
 * (`RECC_HARVEST_*`, `RECC_COST_*`) once, here. Locally there are no AWS
 * Budgets; alert de-duplication markers live in the local store (the stack's
 * `alertLedger`, so a restart of `recc up` does not repeat an alert), in
 * memory only when a caller runs the jobs without one. With the stack's job
 * store, the harvester also fails stuck scheduled-job runs and the cost
 * reporter alerts failed ones (once each).
 */
export async function defaultPeriodicJobs(env: Env): Promise<PeriodicJob[]> {
  const harvest = harvestConfigFromEnv(env);
  const cost = costConfigFromEnv(env);
  const notifiers = await notifiersFromConfig(cost);
  const ledger = new InMemoryAlertLedger();
  return [
    {
      name: 'harvester',
      intervalMs: getNumber(env, 'RECC_UP_HARVEST_SECONDS', 60) * 1000,
      run: ({ store, backend, clock, logger, queue, clusterQueues, jobs }) =>
        runHarvester({
          store,
          backend,
          clock,
          logger,
          queue,
          config: harvest,
          actor: 'harvester',
          ...(clusterQueues ? { queues: clusterQueues } : {}),
          ...(jobs ? { runs: { reconcile: () => reconcileStuckRuns({ jobs, clusterStore: store, clock }) } } : {}),
        }),
    },
    {
      name: 'cost-reporter',
      intervalMs: getNumber(env, 'RECC_UP_COST_SECONDS', 300) * 1000,
      run: ({ store, clock, logger, alertLedger, jobs }) => runCostReporter({ store, clock, logger, config: cost, ledger: alertLedger ?? ledger, notifiers, harvest, ...(jobs ? { jobs } : {}) }),
    },
  ];
}
