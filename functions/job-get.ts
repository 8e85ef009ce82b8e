import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, ownerQuery, type JobApiDeps } from './job-api.ts';

/** `GET /jobs/{name}` → 200 `{job}` (with `nextFireAt`); another user's job is a 404 unless the caller is an admin. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'getJob', path: jobNameParams, query: ownerQuery }, async ({ path, query, caller, jobs }) => ({
    statusCode: 200,
    body: { job: await jobs.get(caller, path.name, query.owner) },
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
