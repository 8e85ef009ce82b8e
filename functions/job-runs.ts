import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, runsQuery, type JobApiDeps } from './job-api.ts';

/** `GET /jobs/{name}/runs[?limit=N][&nextToken=T]` → 200 `{runs, nextToken}`: newest first (50 a page by default), with status, result, duration, cost and reason. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'listJobRuns', path: jobNameParams, query: runsQuery }, async ({ path, query, caller, jobs }) => ({
    statusCode: 200,
    body: await jobs.runsPage(caller, path.name, {
      ...(query.owner ? { owner: query.owner } : {}),
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
    }),
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
