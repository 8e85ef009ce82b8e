import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterAccessBody, clusterIdParams, noQuery } from './commons/schemas.ts';

/**
 * `POST /clusters/{id}/access` with `{"level": "edit"}` → 202 `{cluster}`
 * (issue 21 #3): the owner asks for kubectl edit on a running cluster; 403
 * when the stage's RECC_KUBECTL_EDIT does not list them, 404 for another
 * user's cluster. The provisioner makes the grant (`kubectlEditAt` on the
 * record says it was allowed).
 */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'clusterAccess', path: clusterIdParams, query: noQuery, body: clusterAccessBody }, async ({ path, caller, service }) => {
    const cluster = await service.grantKubectlEdit(caller, path.id);
    return { statusCode: 202, body: { cluster } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
