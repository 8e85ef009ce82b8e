import { ReccError } from '../shared/core/errors.ts';
import { tellStory, type TransitionLogEntry } from '../shared/engine/transition-log.ts';

/** The state machine was asked for a transition that its table does not allow (a bug). `story` is the task's logged transitions up to then. */
export class InvalidTransitionError extends ReccError {
  constructor(
    readonly key: string,
    readonly from: string,
    readonly to: string,
    readonly story: readonly TransitionLogEntry[],
  ) {
    super(`task ${key}: no transition from ${from} to ${to}${tellStory(story)}`, { statusCode: 500 });
  }
}

/** More transitions than `maxTransitions` in one call: a loop in the recommendations (a bug). */
export class TransitionLimitError extends ReccError {
  constructor(limit: number) {
    super(`more than ${limit} transitions in one step; aborting (runaway guard)`, { statusCode: 500 });
  }
}

/** The scheduler process could not start (port in use, unreadable token or certificate). */
export class SchedulerStartError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** The scheduler refused a connecting peer (shutting down, a duplicate worker address, a role it does not serve). The peer is told why. */
export class SchedulerRefusedError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 409, ...options });
  }
}

/** The shuffle machine (state/shuffle.ts) was asked for a change its table does not allow (a bug). `story` is the shuffle's logged changes. */
export class InvalidShuffleTransitionError extends ReccError {
  constructor(
    readonly shuffleId: string,
    readonly from: string,
    readonly to: string,
    readonly story: readonly TransitionLogEntry[],
  ) {
    super(`shuffle ${shuffleId}: no transition from ${from} to ${to}${tellStory(story)}`, { statusCode: 500 });
  }
}
