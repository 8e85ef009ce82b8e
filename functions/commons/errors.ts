import { NotFoundError, ReccError, type ErrorDetail } from '../../shared/core/errors.ts';

/**
 * Errors of the Lambda and HTTP layer (`functions/`, `local/api-server.ts`). Use-case
 * errors live in `control/errors.ts`; validation problems are the core
 * `ValidationError` with one detail per offending field.
 */

/** No route matches the method and path (local API server only; API Gateway answers this itself). */
export class RouteNotFoundError extends NotFoundError {
  constructor(method: string, path: string) {
    super(`no route for ${method} ${path}`, { details: [{ path: 'path', message: `no route for ${method} ${path}` }] });
  }
}

/** The local API server requires a bearer token and the request had none or a wrong one. 401. */
export class BearerTokenError extends ReccError {
  constructor(details: ErrorDetail[]) {
    super('a valid bearer token is required', { statusCode: 401, details });
  }
}

/** The request body is larger than the server accepts. 413. */
export class PayloadTooLargeError extends ReccError {
  constructor(limitBytes: number) {
    super(`request body is larger than ${limitBytes} bytes`, {
      statusCode: 413,
      details: [{ path: 'body', message: `must be at most ${limitBytes} bytes` }],
    });
  }
}

/** Raised when at least one message of the batch failed, so SQS retries it. */
export class ProvisionerStepFailedError extends ReccError {
  readonly failedMessageIds: string[];
  constructor(failedMessageIds: string[], options: { cause?: unknown } = {}) {
    super(`provisioner step failed for message(s) ${failedMessageIds.join(', ')}; SQS will redeliver`, { statusCode: 500, ...options });
    this.failedMessageIds = failedMessageIds;
  }
}
