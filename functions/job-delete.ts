import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, ownerQuery, type JobApiDeps } from './job-api.ts';

/** `DELETE /jobs/{name}` → 200 `{deleted, cancelledRuns}`: the schedule goes first, active runs are cancelled, run records stay until their TTL. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'deleteJob', path: jobNameParams, query: ownerQuery }, async ({ path, query, caller, jobs }) => ({
    statusCode: 200,
    body: await jobs.delete(caller, path.name, query.owner),
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
