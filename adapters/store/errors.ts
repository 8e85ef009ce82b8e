import { ReccError } from '../../shared/core/errors.ts';

/**
 * A store method was called with arguments that break the port's contract
 * (e.g. `next.version` is not `expectedVersion + 1`). A bug in the caller,
 * never a user mistake, hence 500.
 *
 * Races and missing records use the port errors instead
 * (`VersionConflictError`, `ClusterNotFoundError` in `shared/ports/errors.ts`).
 */
export class StoreUsageError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/**
 * DynamoDB answered with an error that is neither a lost race nor a missing
 * record nor a transient outage (e.g. a ValidationException, a missing table).
 * Logged in full; the caller sees a generic 500.
 */
export class ClusterStoreError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}
