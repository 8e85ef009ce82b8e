import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { noQuery } from './commons/schemas.ts';

/** `GET /templates` → 200 `{templates: [{name, description, spec}]}`. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'templates', query: noQuery }, async ({ service }) => {
    return { statusCode: 200, body: { templates: service.templates() } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
