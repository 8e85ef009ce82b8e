import { ConflictError, NotFoundError, ReccError, type ErrorDetail } from '../core/errors.ts';
import type { ClusterRecord } from '../lifecycle/types.ts';

/**
 * Errors that port adapters raise and use cases catch. They live beside the
 * ports (not in adapters) so the pure core can handle them.
 */

/** A conditional write lost a race: the stored version was not the expected one. */
export class VersionConflictError extends ConflictError {
  readonly current: ClusterRecord | undefined;
  constructor(id: string, expectedVersion: number, current: ClusterRecord | undefined, options: { cause?: unknown } = {}) {
    super(
      `cluster ${id} was changed concurrently (expected version ${expectedVersion}, found ${current?.version ?? 'none'})`,
      options,
    );
    this.current = current;
  }
}

export class ClusterNotFoundError extends NotFoundError {
  constructor(id: string, options: { details?: ErrorDetail[]; cause?: unknown } = {}) {
    super(`cluster ${id} not found`, options);
  }
}

/** A backend or store could not be reached or answered unexpectedly (retryable). */
export class BackendUnavailableError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 503, ...options });
  }
}

/** A cluster or session id does not make a valid SQS queue name (shared/ports/cluster-queues.ts). */
export class QueueNameError extends ReccError {
  constructor(details: ErrorDetail[]) {
    super(`invalid queue name: ${details.map((d) => `${d.path} ${d.message}`).join('; ')}`, { statusCode: 400, details });
  }
}

/** The cluster (or the session) has no queues: never created, or already deleted. */
export class ClusterQueuesNotFoundError extends NotFoundError {
  constructor(what: string, options: { cause?: unknown } = {}) {
    super(`${what} does not exist (the cluster was deleted, or it has no SQS route)`, options);
  }
}
