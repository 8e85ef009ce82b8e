import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { listClustersQuery } from './commons/schemas.ts';

/** `GET /clusters[?all=true][&status=S][&limit=N][&nextToken=T]` → 200 `{clusters, nextToken}` (newest first, 100 a page by default). */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'listClusters', query: listClustersQuery }, async ({ query, caller, service }) => {
    const page = await service.listPage(caller, {
      all: query.all === 'true',
      ...(query.status === undefined ? {} : { status: query.status }),
      ...(query.limit === undefined ? {} : { limit: query.limit }),
      ...(query.nextToken === undefined ? {} : { nextToken: query.nextToken }),
    });
    return { statusCode: 200, body: page };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
