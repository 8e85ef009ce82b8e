import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, listJobsQuery, type JobApiDeps } from './job-api.ts';

/** `GET /jobs[?all=true][&limit=N][&nextToken=T]` → 200 `{jobs, nextToken}`: the caller's (every owner's with all, admins), newest first, 100 a page by default. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'listJobs', query: listJobsQuery }, async ({ query, caller, jobs }) => ({
    statusCode: 200,
    body: await jobs.listPage(caller, {
      all: query.all === 'true',
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
    }),
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
