import { z } from 'zod';
import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, jobNameParams, ownerQuery, type JobApiDeps } from './job-api.ts';

/** `PATCH /jobs/{name}` → 200 `{job}`: the fields given replace the stored ones; the whole is re-validated and the schedule updated. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'updateJob', body: z.unknown(), path: jobNameParams, query: ownerQuery }, async ({ body, path, query, caller, jobs }) => ({
    statusCode: 200,
    body: { job: await jobs.update(caller, path.name, body, query.owner) },
  }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
