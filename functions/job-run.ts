import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, ownerQuery, type JobApiDeps } from './job-api.ts';

/** `POST /jobs/{name}/runs` → 202 `{run, created}`: run now, through the same trigger path as a scheduled fire. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'runJob', path: jobNameParams, query: ownerQuery }, async ({ path, query, caller, jobs }) => ({
    statusCode: 202,
    body: await jobs.runNow(caller, path.name, query.owner),
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
