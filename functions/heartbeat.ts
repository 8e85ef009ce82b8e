import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterIdParams, emptyBody, noQuery } from './commons/schemas.ts';

/** `POST /clusters/{id}/heartbeat` → 200 `{cluster}`: the client is alive (records activity). */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'heartbeat', path: clusterIdParams, query: noQuery, body: emptyBody }, async ({ path, caller, service }) => {
    const cluster = await service.heartbeat(caller, path.id);
    return { statusCode: 200, body: { cluster } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
