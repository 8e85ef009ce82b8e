import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, listJobsQuery, type JobApiDeps } from './job-api.ts';

/** `GET /jobs` → 200 `{jobs}`: the caller's; `?all=true` every owner's (admins). */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'listJobs', query: listJobsQuery }, async ({ query, caller, jobs }) => ({
    statusCode: 200,
    body: { jobs: await jobs.list(caller, { all: query.all === 'true' }) },
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
