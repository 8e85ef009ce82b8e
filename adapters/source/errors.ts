import { ReccError, ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';

/** The branch name, repository or store given to `recc source publish` is unusable; every problem is named. */
export class SourceInputError extends ValidationError {
  constructor(message: string, details: ErrorDetail[], options: { cause?: unknown } = {}) {
    super(message, details, options);
  }
}

/** A git command failed while publishing (the branch is missing, the repository is damaged); git's own message is kept. */
export class SourceGitError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 400, ...options });
  }
}

/**
 * A cluster asks for a branch that is not in the source store. Exposable: the
 * cluster fails with this message, which says how to publish the branch.
 */
export class SourceNotPublishedError extends ReccError {
  constructor(message: string) {
    super(message, { statusCode: 400 });
  }
}
