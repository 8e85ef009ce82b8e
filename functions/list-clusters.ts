import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { listClustersQuery } from './commons/schemas.ts';

/** `GET /clusters[?all=true][&status=S]` → 200 `{clusters}` (newest first). */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'listClusters', query: listClustersQuery }, async ({ query, caller, service }) => {
    const clusters = await service.list(caller, {
      all: query.all === 'true',
      ...(query.status === undefined ? {} : { status: query.status }),
    });
    return { statusCode: 200, body: { clusters } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
