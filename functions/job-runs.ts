import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, runsQuery, type JobApiDeps } from './job-api.ts';

/** `GET /jobs/{name}/runs` → 200 `{runs}`: newest first, with status, result, duration, cost and reason. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'listJobRuns', path: jobNameParams, query: runsQuery }, async ({ path, query, caller, jobs }) => ({
    statusCode: 200,
    body: { runs: await jobs.runs(caller, path.name, { ...(query.owner ? { owner: query.owner } : {}), ...(query.limit ? { limit: query.limit } : {}) }) },
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
