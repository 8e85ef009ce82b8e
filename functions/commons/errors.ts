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

/** Which identity mapping refused the caller (see `functions/commons/identity.ts`). */
export type IdentityMapping = 'malformed' | 'root' | 'federated-user' | 'account' | 'iam-user' | 'role' | 'cluster-role';

/**
 * The IAM principal is authenticated, but no mapping yields a recc user for
 * it, so it may do nothing. 403, naming the mapping that failed and the ARN.
 */
export class IdentityMappingError extends ReccError {
  readonly mapping: IdentityMapping;
  readonly principalArn: string;
  constructor(mapping: IdentityMapping, principalArn: string, message: string, hint: string, options: { cause?: unknown } = {}) {
    // JSON.stringify keeps control characters of a malformed ARN out of the message as raw bytes.
    super(`${message} (principal ${JSON.stringify(principalArn)}; mapping: ${mapping})`, {
      statusCode: 403,
      details: [{ path: 'identity', message: hint }],
      ...options,
    });
    this.mapping = mapping;
    this.principalArn = principalArn;
  }
}
