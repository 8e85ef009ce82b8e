import { ReccError, type ErrorDetail } from '../shared/core/errors.ts';
import { tellStory, type TransitionLogEntry } from '../shared/engine/transition-log.ts';

/** The worker state machine was asked for a transition its table does not allow (a bug). `story` is the task's logged transitions up to then. */
export class InvalidWorkerTransitionError extends ReccError {
  constructor(
    readonly key: string,
    readonly from: string,
    readonly to: string,
    readonly story: readonly TransitionLogEntry[],
  ) {
    super(`worker task ${key}: no transition from ${from} to ${to}${tellStory(story)}`, { statusCode: 500 });
  }
}

/** The worker could not start or register (bad address, rejected token, scheduler unreachable). */
export class WorkerStartError extends ReccError {
  constructor(message: string, options: { statusCode?: number; cause?: unknown } = {}) {
    super(message, { statusCode: options.statusCode ?? 500, ...(options.cause === undefined ? {} : { cause: options.cause }) });
  }
}

/** `new Worker(options)` was given invalid options; `details` lists every problem. */
export class WorkerOptionsError extends ReccError {
  constructor(details: ErrorDetail[]) {
    super(`invalid worker options: ${details.map((d) => `${d.path}: ${d.message}`).join('; ')}`, { statusCode: 400, details });
  }
}

/** A Worker method was called in a lifecycle state that does not allow it (e.g. start() twice, or after close()). */
export class IllegalWorkerStateError extends ReccError {
  constructor(
    readonly method: string,
    readonly state: string,
  ) {
    super(`worker: ${method}() is not allowed while ${state}`, { statusCode: 500 });
  }
}

/** A stored result could not be read back from the spill directory. */
export class SpillError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/**
 * A command task exited non-zero (and `allowNonZero` was not set), or could
 * not start at all (`spawnError`: the program is not found or not executable).
 */
export class CommandFailedError extends ReccError {
  readonly exitCode: number | null;
  readonly stderr: string;
  constructor(argv: readonly string[], exitCode: number | null, stderr: string, signal?: string | null, spawnError?: NodeJS.ErrnoException) {
    const tail = stderr.length > 2000 ? `…${stderr.slice(-2000)}` : stderr;
    const what = spawnError
      ? spawnError.code === 'ENOENT'
        ? 'not found (is it installed and on the worker\'s PATH?)'
        : `could not start: ${spawnError.code === 'EACCES' ? 'permission denied (not executable)' : spawnError.message}`
      : signal
        ? `was killed by ${signal}`
        : `exited with code ${exitCode}`;
    super(`command ${JSON.stringify(argv[0])} ${what}${tail ? `: ${tail.trim()}` : ''}`, { statusCode: 500, ...(spawnError ? { cause: spawnError } : {}) });
    this.exitCode = exitCode;
    this.stderr = stderr;
  }
}

/**
 * An unpack task found fewer shards than its shuffle has inputs (a receiver
 * lost data, or a transfer of an older run was counted). The scheduler
 * restarts the shuffle on this error name instead of failing the task
 * (scheduler/state/shuffle.ts), so partial data never reaches a result.
 */
export class ShuffleIncompleteError extends ReccError {
  constructor(message: string) {
    super(message, { statusCode: 500 });
  }
}

/** Shards of a transfer could not be delivered to a receiving worker. */
export class ShuffleTransferError extends ReccError {
  /** Retrying cannot help (the task's result does not fit its shuffle). */
  readonly permanent: boolean;
  constructor(message: string, options: { cause?: unknown; permanent?: boolean } = {}) {
    super(message, { statusCode: 500, ...(options.cause === undefined ? {} : { cause: options.cause }) });
    this.permanent = options.permanent ?? false;
  }
}
