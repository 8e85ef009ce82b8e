import { ReccError } from '../../shared/core/errors.ts';

/** EventBridge Scheduler refused a call for a reason other than a missing or existing schedule. */
export class SchedulerCallError extends ReccError {
  constructor(message: string, options: { cause?: unknown; statusCode?: number } = {}) {
    super(message, { statusCode: options.statusCode ?? 502, ...(options.cause === undefined ? {} : { cause: options.cause }) });
  }
}
