import { ConflictError, ReccError, type ErrorDetail } from '../shared/core/errors.ts';
import type { ClusterStatus } from '../shared/lifecycle/types.ts';

/**
 * Errors of the cluster use cases (`control/clusters.ts`). Not-found is the
 * port's `ClusterNotFoundError` (another user's cluster is reported exactly
 * like a missing one, so ids cannot be probed).
 */

/** The caller may not do this at all (e.g. `?all=true` without an admin role). 403. */
export class ForbiddenError extends ReccError {
  constructor(message: string, details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 403, details, ...options });
  }
}

/** The caller's identity could not be established. 401. */
export class UnauthenticatedError extends ReccError {
  constructor(message: string, details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 401, details, ...options });
  }
}

/** Scaling is only possible while the cluster is being created or running. 409. */
export class ClusterNotScalableError extends ConflictError {
  readonly status: ClusterStatus;
  constructor(id: string, status: ClusterStatus, allowed: readonly ClusterStatus[]) {
    super(`cluster ${id} is ${status}; it can only be scaled while ${allowed.join(', ')}`, {
      details: [{ path: 'nWorkers', message: `cannot scale a ${status} cluster (allowed while ${allowed.join(', ')})` }],
    });
    this.status = status;
  }
}

/** Concurrent writers kept winning the race for this cluster; the caller may retry. 409. */
export class ClusterBusyError extends ConflictError {
  constructor(id: string, attempts: number, options: { cause?: unknown } = {}) {
    super(`cluster ${id} was changed concurrently ${attempts} times in a row; retry the request`, {
      details: [{ path: 'id', message: 'the cluster is being changed by another request; retry' }],
      ...options,
    });
  }
}

/** The same clientToken was used before with a different request. 409. */
export class ClientTokenReuseError extends ConflictError {
  constructor(clusterId: string) {
    super(`clientToken was already used to create cluster ${clusterId} with a different request`, {
      details: [{ path: 'clientToken', message: `already used for cluster ${clusterId} with a different request` }],
    });
  }
}

/**
 * kubectl `--edit` refused (issue 21 #3): the caller is not the cluster's
 * owner acting as themself, or the stage's RECC_KUBECTL_EDIT does not list
 * them. 403; the message says what to do.
 */
export class KubectlEditForbiddenError extends ForbiddenError {
  constructor(message: string) {
    super(message, [{ path: 'level', message }]);
  }
}

/** kubectl access is granted on a running cluster only. 409. */
export class KubectlAccessUnavailableError extends ConflictError {
  constructor(id: string, status: ClusterStatus) {
    super(`cluster ${id} is ${status}; kubectl edit access can only be granted while it is RUNNING`, {
      details: [{ path: 'id', message: `cannot grant kubectl edit on a ${status} cluster (allowed while RUNNING)` }],
    });
  }
}
