import { BackendUnavailableError } from '../../shared/ports/errors.ts';

/**
 * Errors of the ClusterQueues adapters. Missing queues and bad names use the
 * port errors (`ClusterQueuesNotFoundError`, `QueueNameError` in
 * `shared/ports/errors.ts`).
 */

/** SQS could not be reached, throttled past the retries, or refused a call (retryable, 503). */
export class ClusterQueuesUnavailableError extends BackendUnavailableError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, options);
  }
}
