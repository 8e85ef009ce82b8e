import { ConflictError, ReccError, ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';

/** The definition plus EKS configuration cannot become valid Kubernetes objects (every problem listed). */
export class EksManifestError extends ValidationError {
  constructor(details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(`cannot build the Kubernetes objects: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details, options);
  }
}

/** The Kubernetes API answered with an error the applier cannot handle (status kept for logs). */
export class KubernetesApiError extends ReccError {
  readonly code: number;
  readonly reason: string | undefined;
  constructor(message: string, code: number, reason: string | undefined, options: { cause?: unknown } = {}) {
    // 4xx from the API server other than the ones we handle are our own bugs or RBAC problems: never the caller's.
    super(message, { statusCode: 502, ...options });
    this.code = code;
    this.reason = reason;
  }
}

/** A replace kept losing to concurrent writers. */
export class KubernetesConflictError extends ConflictError {}

/**
 * EKS refused the user's access entry for a reason no retry fixes (issue 22 #8): the
 * user's IAM role does not exist, or the cluster's authentication mode is CONFIG_MAP.
 * Raised before any object is applied, so the refused cluster leaves nothing behind.
 */
export class EksAccessEntryRefusedError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 422, ...options });
  }
}

/** An AWS call for node capacity or identity mapping failed unexpectedly. */
export class EksAwsError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 502, ...options });
  }
}
