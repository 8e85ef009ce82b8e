import { ReccError, ValidationError, type ErrorDetail } from '../shared/core/errors.ts';

/**
 * A task failed on a worker. `name`, `message` and `stack` are the original
 * ones from the worker (so `err.name === 'RangeError'` when the task threw a
 * RangeError); `key` names the task and `blame` the task that actually failed
 * when this one erred because of a dependency.
 */
export class TaskError extends ReccError {
  readonly key: string;
  readonly blame: string | undefined;
  readonly remoteStack: string | undefined;
  constructor(key: string, remote: { name: string; message: string; stack?: string; blame?: string }) {
    super(remote.message, { statusCode: 422 });
    this.key = key;
    this.blame = remote.blame;
    this.remoteStack = remote.stack;
    this.name = remote.name || 'Error';
    if (remote.stack) this.stack = `${remote.stack}\n    --- re-raised on the client for task ${key}${remote.blame && remote.blame !== key ? ` (failed in ${remote.blame})` : ''}`;
  }
}

/** The task was running on workers that died `allowedFailures` times (3 by default). */
export class KilledWorkerError extends TaskError {}

/** The future was cancelled (by `cancel()`) before it finished. */
export class CancelledError extends ReccError {
  constructor(key: string) {
    super(`task ${key} was cancelled`, { statusCode: 409 });
  }
}

/** An inline function cannot ship: it refers to outer variables, or is native/bound. */
export class InlineFunctionError extends ValidationError {
  readonly outerVariables: string[];
  constructor(message: string, outerVariables: string[] = [], details: ErrorDetail[] = []) {
    super(message, details.length > 0 ? details : outerVariables.map((v) => ({ path: v, message: 'outer variable used by an inline function' })));
    this.outerVariables = outerVariables;
  }
}

/** The client is closed or lost its scheduler connection. */
export class ClientClosedError extends ReccError {
  constructor(message = 'the client is closed', options: { cause?: unknown } = {}) {
    super(message, { statusCode: 503, ...options });
  }
}

/** A LocalCluster could not start (a process failed or did not become ready in time). */
export class LocalClusterStartError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 500, ...options });
  }
}

/** A module could not be bundled for `client.module()` or `registerWorkerPlugin()`. */
export class ModuleBundleError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 400, ...options });
  }
}

/** Rebuild the right error class from a wire error. */
export function taskErrorFrom(key: string, remote: { name: string; message: string; stack?: string; blame?: string }): TaskError {
  if (remote.name === 'KilledWorkerError') return new KilledWorkerError(key, remote);
  return new TaskError(key, remote);
}
