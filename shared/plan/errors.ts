import { ValidationError, type ErrorDetail } from '../core/errors.ts';

/** The spec cannot be planned: a pod does not fit the instance type (details say which and why). */
export class PlanInfeasibleError extends ValidationError {
  constructor(details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(`cannot plan this cluster: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, details, options);
  }
}

/** Planner options (region, control plane share, overhead) are out of range. */
export class PlanOptionsError extends ValidationError {}
