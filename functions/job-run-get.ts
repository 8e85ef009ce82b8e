import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, runIdParams, type JobApiDeps } from './job-api.ts';

/** `GET /runs/{id}` → 200 `{run}`. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'getRun', path: runIdParams }, async ({ path, caller, jobs }) => ({ statusCode: 200, body: { run: await jobs.getRun(caller, path.id) } }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
