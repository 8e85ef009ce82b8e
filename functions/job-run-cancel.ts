import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, runIdParams, type JobApiDeps } from './job-api.ts';

/** `POST /runs/{id}/cancel` → 202 `{run}`: the driver is killed, then the cluster deleted. A finished run is returned as is. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'cancelRun', path: runIdParams }, async ({ path, caller, jobs }) => ({ statusCode: 202, body: { run: await jobs.cancel(caller, path.id) } }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
