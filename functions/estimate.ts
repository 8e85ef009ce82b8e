import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { estimateBody, noQuery, splitOverrides } from './commons/schemas.ts';

/** `POST /estimates` with `{template?, ...overrides}` → 200 `{spec, plan}`; creates nothing. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'estimate', query: noQuery, body: estimateBody.optional() }, async ({ body, service }) => {
    const { overrides } = splitOverrides(body ?? {}, ['template']);
    const result = service.estimate({ ...(body?.template === undefined ? {} : { template: body.template }), overrides });
    return { statusCode: 200, body: result };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
