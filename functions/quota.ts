import { z } from 'zod';
import { QuotaService } from '../control/quotas.ts';
import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';

/** `?user=NAME` (admins: another user's quota). */
export const quotaQuery = z.strictObject({
  user: z.string().regex(/^[A-Za-z0-9_+=,.@-]{1,64}$/, 'must be 1-64 characters A-Z a-z 0-9 _+=,.@-').optional(),
});

/** `GET /quota[?user=NAME]` → 200 `{user, scopes: [{scope, kind, name, limits, usage, available}]}`. */
export function makeHandler(deps: ApiDeps) {
  return apiHandler(deps, { name: 'quota', query: quotaQuery }, async ({ query, caller, deps: d }) => {
    const report = await new QuotaService(d).show(caller, query.user === undefined ? {} : { user: query.user });
    return { statusCode: 200, body: report };
  });
}

export const handler = lazyHandler(() => makeHandler(apiDepsFromEnv()));
