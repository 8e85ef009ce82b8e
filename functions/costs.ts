import { z } from 'zod';
import { queryCosts } from '../control/costs.ts';
import { GROUP_BY } from '../shared/cost/aggregate.ts';
import type { HarvestConfig } from '../shared/harvest/types.ts';
import { apiHandler, type ApiDeps, type ApiHandler } from './commons/api.ts';
import { lazyHandler } from './commons/lazy.ts';

/**
 * `GET /costs?groupBy=user|namespace|job&from=&to=` → 200 `{costs}`: cost in
 * the period grouped as asked, with node-hours, top clusters and the
 * month-to-date forecast. Users see their own clusters; admins everyone's.
 * `from`/`to` are ISO dates or times (default: this UTC month up to now).
 */
export const costsQuery = z.strictObject({
  groupBy: z.enum(GROUP_BY, `must be one of ${GROUP_BY.join(', ')}`).optional(),
  from: z.string().max(40, 'must be an ISO date or time').optional(),
  to: z.string().max(40, 'must be an ISO date or time').optional(),
});

export function makeHandler(deps: ApiDeps & { harvest?: HarvestConfig }): ApiHandler {
  return apiHandler(deps, { name: 'costs', query: costsQuery }, async ({ query, caller }) => {
    const costs = await queryCosts({ store: deps.store, clock: deps.clock, ...(deps.harvest ? { harvest: deps.harvest } : {}) }, caller, query);
    return { statusCode: 200, body: { costs } };
  });
}

/** The Lambda entry point; dependencies are built once per cold start (`./commons/deps.ts`). */
export const handler = lazyHandler(async () => {
  const { apiDepsFromEnv } = await import('./commons/deps.ts');
  return makeHandler(apiDepsFromEnv());
});
