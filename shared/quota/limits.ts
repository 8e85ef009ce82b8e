import { fromUnits, QUOTA_DIMENSIONS, type QuotaDimension, type Usage } from './usage.ts';

/**
 * Quota limits and the one check every store adapter applies. Limits are in
 * stored integer units (`usage.ts`); an absent dimension is unlimited.
 *
 * Scopes are strings `user:<name>` and `group:<name>`; a cluster records the
 * scopes it was charged to (`ClusterRecord.quotaScopes`).
 */
export type QuotaLimits = Partial<Record<QuotaDimension, number>>;

/** The limits of each scope a write may increase. A scope missing here is unlimited. */
export type QuotaLimitsByScope = ReadonlyMap<string, QuotaLimits>;

export type ScopeKind = 'user' | 'group';

export function scopeKey(kind: ScopeKind, name: string): string {
  return `${kind}:${name}`;
}

export function parseScope(scope: string): { kind: ScopeKind; name: string } {
  const at = scope.indexOf(':');
  const kind = scope.slice(0, at);
  return { kind: kind === 'group' ? 'group' : 'user', name: scope.slice(at + 1) };
}

/** One dimension of one scope that a request would take over its limit (stored units). */
export interface QuotaViolation {
  scope: string;
  dimension: QuotaDimension;
  limit: number;
  usage: number;
  adds: number;
}

/** Every dimension of `scope` that `usage + delta` would take over `limits`. Decreases never violate. */
export function quotaViolations(scope: string, usage: Usage, delta: Usage, limits: QuotaLimits | undefined): QuotaViolation[] {
  if (limits === undefined) return [];
  const out: QuotaViolation[] = [];
  for (const dimension of QUOTA_DIMENSIONS) {
    const limit = limits[dimension];
    const adds = delta[dimension];
    if (limit === undefined || adds <= 0) continue;
    if (usage[dimension] + adds > limit) out.push({ scope, dimension, limit, usage: usage[dimension], adds });
  }
  return out;
}

/** How each dimension reads in messages. */
export const DIMENSION_LABEL: Readonly<Record<QuotaDimension, string>> = Object.freeze({
  clusters: 'clusters',
  vcpus: 'vCPUs',
  gpus: 'GPUs',
  costPerHour: '$/hour',
});

/** A stored amount as text in shown units (`$/hour` with cents, vCPUs with up to 3 decimals). */
export function formatAmount(dimension: QuotaDimension, units: number): string {
  const shown = fromUnits(dimension, units);
  if (dimension === 'costPerHour') return `$${shown.toFixed(2)}`;
  return String(Math.round(shown * 1000) / 1000);
}
