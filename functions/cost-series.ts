import { z } from 'zod';
import { queryCostSeries } from '../control/costs.ts';
import { GROUP_BY } from '../shared/cost/aggregate.ts';
import type { BudgetConfig } from '../shared/cost/alerts.ts';
import { budgetConfigFromEnv } from '../shared/cost/config.ts';
import { INTERVALS } from '../shared/cost/series.ts';
import type { HarvestConfig } from '../shared/harvest/types.ts';
import { apiHandler, type ApiDeps, type ApiHandler } from './commons/api.ts';
import { lazyHandler } from './commons/lazy.ts';

/**
 * `GET /costs/series?groupBy=user|namespace|job&interval=hour|day&from=&to=`
 * → 200 `{series}`: cost per bucket and running total per group, with the
 * group's monthly budget and month forecast (what the console charts).
 * Users see their own clusters; admins everyone's.
 */
export const costSeriesQuery = z.strictObject({
  groupBy: z.enum(GROUP_BY, `must be one of ${GROUP_BY.join(', ')}`).optional(),
  interval: z.enum(INTERVALS, `must be one of ${INTERVALS.join(', ')}`).optional(),
  from: z.string().max(40, 'must be an ISO date or time').optional(),
  to: z.string().max(40, 'must be an ISO date or time').optional(),
});

/** `budgets` default to the cost reporter's variables (`RECC_COST_*_BUDGET*`), read once when the handler is built. */
export function makeHandler(deps: ApiDeps & { harvest?: HarvestConfig; budgets?: BudgetConfig }): ApiHandler {
  const budgets = deps.budgets ?? budgetConfigFromEnv(process.env);
  return apiHandler(deps, { name: 'costSeries', query: costSeriesQuery }, async ({ query, caller }) => {
    const series = await queryCostSeries({ store: deps.store, clock: deps.clock, budgets, ...(deps.harvest ? { harvest: deps.harvest } : {}) }, caller, query);
    return { statusCode: 200, body: { series } };
  });
}

/** The Lambda entry point; dependencies are built once per cold start (`./commons/deps.ts`). */
export const handler = lazyHandler(async () => {
  const { apiDepsFromEnv } = await import('./commons/deps.ts');
  return makeHandler(apiDepsFromEnv());
});
