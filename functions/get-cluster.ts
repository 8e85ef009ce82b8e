import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterIdParams, noQuery } from './commons/schemas.ts';

/** `GET /clusters/{id}` → 200 `{cluster}`; another user's cluster is a 404. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'getCluster', path: clusterIdParams, query: noQuery }, async ({ path, caller, service }) => {
    const cluster = await service.get(caller, path.id);
    return { statusCode: 200, body: { cluster } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
