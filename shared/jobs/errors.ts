import { ConflictError, NotFoundError, ReccError, ValidationError, type ErrorDetail } from '../core/errors.ts';
import type { RunStatus } from './types.ts';

/** A job definition (or a schedule expression, time zone, spec, entry) failed validation; one detail per problem. */
export class JobValidationError extends ValidationError {
  constructor(details: ErrorDetail[], options: { cause?: unknown } = {}) {
    const inline = details.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`).join('; ');
    super(`invalid job definition: ${inline}`, details, options);
  }
}

export class JobNotFoundError extends NotFoundError {
  constructor(what: string, options: { cause?: unknown } = {}) {
    super(`job ${what} not found`, options);
  }
}

export class RunNotFoundError extends NotFoundError {
  constructor(runId: string, options: { cause?: unknown } = {}) {
    super(`run ${runId} not found`, options);
  }
}

/** A job with this name already exists for the owner. */
export class JobExistsError extends ConflictError {
  constructor(name: string, options: { cause?: unknown } = {}) {
    super(`job ${name} already exists; use update`, { details: [{ path: 'name', message: 'already exists' }], ...options });
  }
}

/** A run status change the run transition table does not allow. 409. */
export class InvalidRunTransitionError extends ConflictError {
  readonly from: RunStatus;
  readonly to: RunStatus;
  constructor(runId: string, from: RunStatus, to: RunStatus, allowed: readonly RunStatus[], options: { cause?: unknown } = {}) {
    const targets = allowed.length > 0 ? allowed.join(', ') : 'none (terminal status)';
    super(`run ${runId} cannot go from ${from} to ${to}; allowed from ${from}: ${targets}`, {
      details: [{ path: 'status', message: `cannot go from ${from} to ${to}` }],
      ...options,
    });
    this.from = from;
    this.to = to;
  }
}

/** A caller of the run machine broke its contract (no reason for FAILED, a bad time). A recc bug: 500. */
export class RunMachineUsageError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** A run record or history broke a run invariant (see `assertRunInvariants`). */
export class RunInvariantError extends ReccError {
  readonly problems: readonly string[];
  constructor(subject: string, problems: readonly string[], options: { cause?: unknown } = {}) {
    super(`${subject} breaks run invariants: ${problems.join('; ')}`, {
      statusCode: 500,
      details: problems.map((message) => ({ path: '', message })),
      ...options,
    });
    this.problems = problems;
  }
}

/** A conditional job or run write lost a race; `current` is the stored record (undefined when gone). */
export class JobStoreConflictError extends ConflictError {
  readonly current: unknown;
  constructor(what: string, expectedVersion: number, current: { version: number } | undefined, options: { cause?: unknown } = {}) {
    super(`${what} was changed concurrently (expected version ${expectedVersion}, found ${current?.version ?? 'none'})`, options);
    this.current = current;
  }
}

/** A job store method was called against its contract (a recc bug): 500. */
export class JobStoreUsageError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}
