import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterIdParams, noQuery } from './commons/schemas.ts';

/** `DELETE /clusters/{id}` → 202 `{cluster}`; idempotent. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'deleteCluster', path: clusterIdParams, query: noQuery }, async ({ path, caller, service }) => {
    const cluster = await service.delete(caller, path.id);
    return { statusCode: 202, body: { cluster } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
