import { ValidationError, type ErrorDetail } from '../core/errors.ts';

/**
 * A cluster spec (or the template, file or overrides it came from) is
 * invalid. `details` lists every problem at once, each with its field path
 * (`nWorkers`, `resources.GPU`, `template`) and a plain message.
 */
export class SpecValidationError extends ValidationError {
  constructor(details: ErrorDetail[], options: { message?: string; cause?: unknown } = {}) {
    const n = details.length;
    super(options.message ?? `invalid cluster spec: ${n} problem${n === 1 ? '' : 's'}`, details, options);
  }
}
