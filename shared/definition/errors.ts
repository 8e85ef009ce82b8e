import { ValidationError, type ErrorDetail } from '../core/errors.ts';

/** The input to `renderCluster` cannot become a valid cluster definition (every problem listed). */
export class DefinitionValidationError extends ValidationError {
  constructor(details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(`cannot render the cluster definition: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details, options);
  }
}
