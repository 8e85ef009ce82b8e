import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { z } from 'zod';
import { pageByKey } from '../shared/api/pagination.ts';
import { pageQuery } from './commons/schemas.ts';

const templatesQuery = z.strictObject({ ...pageQuery });

/** `GET /templates[?limit&nextToken]` → 200 `{templates: [{name, description, spec}], nextToken}` (by name; `nextToken` null on the last page). */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'templates', query: templatesQuery }, async ({ service, query }) => {
    const page = pageByKey(service.templates(), (t) => t.name, query);
    return { statusCode: 200, body: { templates: page.items, nextToken: page.nextToken } };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
