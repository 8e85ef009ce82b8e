import { ReccError } from '../../shared/core/errors.ts';

/** Errors of the CloudWatch Logs adapter (shipping and reading cluster logs). */

/** A deleted cluster's logs are past the log group's retention: the caller is told when they expired. */
export class LogsExpiredError extends ReccError {
  constructor(
    readonly clusterId: string,
    readonly expiredAt: string,
    readonly retentionDays: number,
  ) {
    super(`the logs of cluster ${clusterId} expired on ${expiredAt} (kept ${retentionDays} days after the last line)`, { statusCode: 410 });
  }
}

/** CloudWatch Logs refused or failed a read; shown as a generic 502, logged in full. */
export class LogsUnavailableError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 502, ...options });
  }
}

/** The stage's log group or its configuration is wrong (fail fast at start). */
export class LogsConfigError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** This API has no cluster log group configured (e.g. a local API server without `recc up`'s log route). */
export class LogsNotConfiguredError extends ReccError {
  constructor() {
    super('this API does not serve cluster logs (no log group is configured)', { statusCode: 404 });
  }
}
