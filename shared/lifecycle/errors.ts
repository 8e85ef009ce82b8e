import { ConflictError, ReccError } from '../core/errors.ts';
import type { ClusterStatus } from './types.ts';

/**
 * A status change that the transition table does not allow, e.g. DELETED →
 * RUNNING. 409: the request conflicts with the cluster's current status.
 */
export class InvalidTransitionError extends ConflictError {
  readonly from: ClusterStatus;
  readonly to: ClusterStatus;
  readonly allowed: readonly ClusterStatus[];

  constructor(
    clusterId: string,
    from: ClusterStatus,
    to: ClusterStatus,
    allowed: readonly ClusterStatus[],
    options: { cause?: unknown } = {},
  ) {
    const targets = allowed.length > 0 ? allowed.join(', ') : 'none (terminal status)';
    super(`cluster ${clusterId} cannot go from ${from} to ${to}; allowed from ${from}: ${targets}`, {
      details: [{ path: 'status', message: `cannot go from ${from} to ${to}` }],
      ...options,
    });
    this.from = from;
    this.to = to;
    this.allowed = allowed;
  }
}

/**
 * The caller asked for a change the lifecycle refuses for a reason other than
 * the table: a FAILED transition without a reason, or a patch that tries to
 * rewrite identity fields. A programming error in recc, hence 500.
 */
export class LifecycleUsageError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** A record or history broke a lifecycle invariant (see `assertRecordInvariants`). */
export class RecordInvariantError extends ReccError {
  readonly problems: readonly string[];
  constructor(subject: string, problems: readonly string[], options: { cause?: unknown } = {}) {
    super(`${subject} breaks lifecycle invariants: ${problems.join('; ')}`, {
      statusCode: 500,
      details: problems.map((message) => ({ path: '', message })),
      ...options,
    });
    this.problems = problems;
  }
}
