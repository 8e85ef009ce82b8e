import { ReccError } from '../../shared/core/errors.ts';

/** The bridge could not record a submission durably (disk full, unwritable state directory): the envelope is not acknowledged. */
export class SubmissionStoreError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 503, ...options });
  }
}

/** The bridge's configuration (RECC_SQS_* environment) is invalid. */
export class SqsBridgeConfigError extends ReccError {
  constructor(message: string, details: Array<{ path: string; message: string }>) {
    super(message, { statusCode: 500, details });
  }
}
