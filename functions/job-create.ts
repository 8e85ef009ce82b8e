import { z } from 'zod';
import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, type JobApiDeps } from './job-api.ts';

/** `POST /jobs` → 201 `{job}`; the body is the job definition (validated whole: 400 with a detail per problem). */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'createJob', body: z.unknown() }, async ({ body, caller, jobs }) => ({ statusCode: 201, body: { job: await jobs.create(caller, body) } }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
