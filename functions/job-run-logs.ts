import { lazyHandler } from './commons/api.ts';
import { jobApiDepsFromEnv, jobHandler, runIdParams, type JobApiDeps } from './job-api.ts';

/** `GET /runs/{id}/logs` → 200 `{runId, status, logs}`: the driver's output, copied before its cluster was deleted. */
export function makeHandler(deps: JobApiDeps) {
  return jobHandler(deps, { name: 'getRunLogs', path: runIdParams }, async ({ path, caller, jobs }) => ({ statusCode: 200, body: await jobs.logs(caller, path.id) }));
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
