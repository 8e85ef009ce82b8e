import { ReccError } from '../../shared/core/errors.ts';
import { BackendUnavailableError } from '../../shared/ports/errors.ts';

/** Errors of the WorkQueue adapters. */

/** SQS could not be reached or refused the message (retryable, 503). */
export class QueueUnavailableError extends BackendUnavailableError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}

/** A received message body is not a provisioning message (poison; goes to the DLQ after its retries). */
export class MalformedQueueMessageError extends ReccError {
  readonly messageId: string | undefined;
  constructor(messageId: string | undefined, reason: string, options: { cause?: unknown } = {}) {
    super(`queue message ${messageId ?? '?'} is not a provisioning message: ${reason}`, { statusCode: 500, ...options });
    this.messageId = messageId;
  }
}
