import { ReccError, type ErrorDetail } from '../core/errors.ts';
import { DIMENSION_LABEL, formatAmount, parseScope, type QuotaViolation } from './limits.ts';
import { fromUnits, type QuotaDimension } from './usage.ts';

/** One exceeded dimension as the API shows it (shown units: vCPUs, GPUs, $/hour). */
export interface QuotaExceededEntry {
  scope: string;
  dimension: QuotaDimension;
  limit: number;
  usage: number;
  requested: number;
}

/**
 * A create or scale-up would take a quota over its limit; nothing was
 * written. 403 with, for every exceeded dimension, the quota, the usage and
 * what the request would add (`quota.exceeded` in the error body, and one
 * detail line each).
 */
export class QuotaExceededError extends ReccError {
  readonly violations: readonly QuotaViolation[];

  constructor(violations: readonly QuotaViolation[], options: { cause?: unknown } = {}) {
    const details: ErrorDetail[] = violations.map((v) => ({ path: `quota.${v.scope}.${v.dimension}`, message: describeViolation(v) }));
    const first = violations[0];
    const head = first === undefined ? 'quota exceeded' : `quota exceeded for ${scopeText(first.scope)}: ${describeViolation(first)}`;
    const more = violations.length > 1 ? ` (and ${violations.length - 1} more)` : '';
    super(`${head}${more}; delete or scale down a cluster, or ask an admin to raise the quota (recc quota shows usage)`, {
      statusCode: 403,
      details,
      ...options,
    });
    this.violations = violations;
  }

  /** Extra fields of the API error body. */
  get exposedFields(): { quota: { exceeded: QuotaExceededEntry[] } } {
    return {
      quota: {
        exceeded: this.violations.map((v) => ({
          scope: v.scope,
          dimension: v.dimension,
          limit: fromUnits(v.dimension, v.limit),
          usage: fromUnits(v.dimension, v.usage),
          requested: fromUnits(v.dimension, v.adds),
        })),
      },
    };
  }
}

function scopeText(scope: string): string {
  const { kind, name } = parseScope(scope);
  return `${kind} ${name}`;
}

function describeViolation(v: QuotaViolation): string {
  const label = DIMENSION_LABEL[v.dimension];
  return `limit ${formatAmount(v.dimension, v.limit)} ${label}, in use ${formatAmount(v.dimension, v.usage)}, this request adds ${formatAmount(v.dimension, v.adds)}`;
}
