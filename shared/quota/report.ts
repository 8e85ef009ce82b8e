import type { QuotaPolicy } from './config.ts';
import { parseScope } from './limits.ts';
import { fromUnits, QUOTA_DIMENSIONS, type QuotaDimension, type Usage } from './usage.ts';

/** One scope's quota and usage in shown units (`null` limit = unlimited). */
export interface QuotaScopeView {
  scope: string;
  kind: 'user' | 'group';
  name: string;
  limits: Record<QuotaDimension, number | null>;
  usage: Record<QuotaDimension, number>;
  /** What is left before each limit (`null` = unlimited). */
  available: Record<QuotaDimension, number | null>;
}

/** `GET /quota`: the user's scopes, their limits and usage. */
export interface QuotaReport {
  user: string;
  scopes: QuotaScopeView[];
}

export function quotaReport(user: string, policy: QuotaPolicy, usage: ReadonlyMap<string, Usage>): QuotaReport {
  const scopes = policy.scopesFor(user).map((scope): QuotaScopeView => {
    const limits = policy.limitsOf(scope);
    const used = usage.get(scope);
    const view: QuotaScopeView = { scope, ...parseScope(scope), limits: {} as QuotaScopeView['limits'], usage: {} as QuotaScopeView['usage'], available: {} as QuotaScopeView['available'] };
    for (const d of QUOTA_DIMENSIONS) {
      const limit = limits[d];
      const u = used?.[d] ?? 0;
      view.limits[d] = limit === undefined ? null : fromUnits(d, limit);
      view.usage[d] = fromUnits(d, u);
      view.available[d] = limit === undefined ? null : fromUnits(d, Math.max(0, limit - u));
    }
    return view;
  });
  return { user, scopes };
}
