import { ReccError } from '../../shared/core/errors.ts';

/** A cluster process could not be started (spawn failed: missing executable, no permission, …). */
export class LocalProcessStartError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** The state directory of the local backend is unusable (unwritable, corrupt state file). */
export class LocalStateError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/**
 * A cluster asks for more GPUs per worker than this machine has (or the
 * machine's GPU count is misdeclared). Exposable: the cluster fails with this
 * message, which says how to override.
 */
export class LocalGpuError extends ReccError {
  constructor(message: string) {
    super(message, { statusCode: 400 });
  }
}
