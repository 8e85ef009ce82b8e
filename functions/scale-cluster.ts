import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterIdParams, noQuery, scaleClusterBody } from './commons/schemas.ts';

/** `PATCH /clusters/{id}` with `{nWorkers}` → 202 `{cluster}`. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(
    deps,
    { name: 'scaleCluster', path: clusterIdParams, query: noQuery, body: scaleClusterBody },
    async ({ path, body, caller, service }) => {
      const cluster = await service.scale(caller, path.id, body.nWorkers, { ...(body.retire ? { retire: body.retire } : {}), ...(body.clamp !== undefined ? { clamp: body.clamp } : {}) });
      return { statusCode: 202, body: { cluster } };
    },
  );
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
