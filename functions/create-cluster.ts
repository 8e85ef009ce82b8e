import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { createClusterBody, splitOverrides } from './commons/schemas.ts';

/** `POST /clusters` → 202 `{cluster, plan, estimate, created}`. Idempotent by clientToken. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'createCluster', body: createClusterBody.optional() }, async ({ body, caller, service }) => {
    const { overrides } = splitOverrides(body ?? {}, ['template', 'name', 'job', 'clientToken']);
    const result = await service.create(caller, {
      ...(body?.template === undefined ? {} : { template: body.template }),
      ...(body?.name === undefined ? {} : { name: body.name }),
      ...(body?.job === undefined ? {} : { job: body.job }),
      ...(body?.clientToken === undefined ? {} : { clientToken: body.clientToken }),
      overrides,
    });
    return { statusCode: 202, body: result };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
