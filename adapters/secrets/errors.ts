import { ReccError } from '../../shared/core/errors.ts';

/** Certificate or token generation failed (a platform problem, never the caller's). */
export class SecretsGenerationError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** A cluster's secret files are missing or unreadable. */
export class SecretsNotFoundError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}
