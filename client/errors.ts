import { ConflictError, NotFoundError, ReccError, ValidationError, type ErrorDetail } from '../shared/core/errors.ts';
import type { TaskErrorInfo } from '../shared/engine/task-error.ts';
import type { ClusterStatus } from '../shared/lifecycle/types.ts';

/**
 * A task failed on a worker. `name`, `message` and `stack` are the original
 * ones from the worker (so `err.name === 'RangeError'` when the task threw a
 * RangeError); `key` names the task, `functionName` the function the key was
 * made from, `args` a short redacted repr of the arguments of the call that
 * failed, and `blame` the task that actually failed when this one erred
 * because of a dependency. The stack ends with a line naming the call.
 *
 * The HTTP fields every ReccError carries (`statusCode`, `type`, `details`)
 * are meant for the API; here they are non-enumerable, so neither printing
 * the error nor `Object.keys` shows them.
 */
export class TaskError extends ReccError {
  readonly key: string;
  readonly functionName: string;
  /** e.g. `({ path: '/data/x.csv', token: '[redacted]' }, [ 0, 1, 2, … 497 more ])`; empty when unknown. */
  readonly args: string;
  readonly blame: string | undefined;
  readonly remoteStack: string | undefined;
  constructor(key: string, remote: TaskErrorInfo) {
    super(remote.message, { statusCode: 422 });
    for (const field of ['statusCode', 'type', 'details']) Object.defineProperty(this, field, { enumerable: false });
    this.key = key;
    this.functionName = functionNameOfKey(remote.blame ?? key);
    this.args = remote.args ?? '';
    this.blame = remote.blame;
    this.remoteStack = remote.stack;
    this.name = remote.name || 'Error';
    const call = `${this.functionName}${this.args || '(…)'}`;
    const where = remote.blame && remote.blame !== key ? ` (failed in ${remote.blame}: ${call})` : `: ${call}`;
    this.stack = `${remote.stack ?? `${this.name}: ${this.message}`}\n    --- re-raised on the client for task ${key}${where}`;
  }
}

/**
 * The function part of a task key: keys are `<function>-<16 or 24 hex>`
 * (client.ts, delayed.ts); an explicit key is returned whole.
 */
export function functionNameOfKey(key: string): string {
  const m = /^(.+)-[0-9a-f]{16}(?:[0-9a-f]{8})?$/.exec(key);
  return m ? (m[1] as string) : key;
}

/** `delayed(...).compute()` or `getClient()` found no open client to use. */
export class NoClientError extends ReccError {
  constructor() {
    super('no open client: connect one first (`await Client.connect(cluster)`), which becomes the default client, or call client.get(value) on a client you hold', {
      statusCode: 400,
    });
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

// --------------------------------------------------------------------------- API answers (api-client.ts)

interface ServerError {
  statusCode: number;
  serverType: string;
  requestId: string | undefined;
}

/** The API refused the request as invalid (400); `details` name every offending field. */
export class ApiValidationError extends ValidationError implements ServerError {
  readonly serverType: string;
  readonly requestId: string | undefined;
  constructor(message: string, details: ErrorDetail[], serverType: string, requestId: string | undefined) {
    super(message, details);
    this.serverType = serverType;
    this.requestId = requestId;
  }
}

/** No such cluster visible to the caller (404). */
export class ApiNotFoundError extends NotFoundError implements ServerError {
  readonly serverType: string;
  readonly requestId: string | undefined;
  constructor(message: string, details: ErrorDetail[], serverType: string, requestId: string | undefined) {
    super(message, { details });
    this.serverType = serverType;
    this.requestId = requestId;
  }
}

/** The request conflicts with the cluster's state or a concurrent change (409). */
export class ApiConflictError extends ConflictError implements ServerError {
  readonly serverType: string;
  readonly requestId: string | undefined;
  constructor(message: string, details: ErrorDetail[], serverType: string, requestId: string | undefined) {
    super(message, { details });
    this.serverType = serverType;
    this.requestId = requestId;
  }
}

/** Any other error answer (401, 403, 5xx, …). */
export class ApiRequestError extends ReccError implements ServerError {
  readonly serverType: string;
  readonly requestId: string | undefined;
  constructor(statusCode: number, message: string, details: ErrorDetail[], serverType: string, requestId: string | undefined) {
    super(message, { statusCode, details });
    this.serverType = serverType;
    this.requestId = requestId;
  }
}

/** The API could not be reached (connection refused, DNS, timeout). */
export class ApiUnreachableError extends ReccError {
  readonly apiUrl: string;
  constructor(apiUrl: string, cause: unknown) {
    const why = cause instanceof Error ? (cause.cause instanceof Error ? cause.cause.message : cause.message) : String(cause);
    // One line for the CLI: the message names the URL, so no details repeat it.
    super(`cannot reach the recc API at ${apiUrl} (${why}); start it with \`recc up\`, or point --api or RECC_API_URL at it`, {
      statusCode: 503,
      cause,
    });
    // The message is actionable for the user even though it is a 503.
    this.apiUrl = apiUrl;
  }
  override get exposable(): boolean {
    return true;
  }
}

// --------------------------------------------------------------------------- managed clusters (recc-cluster.ts)

/** The cluster failed or was deleted before it became RUNNING. */
export class ClusterFailedError extends ReccError {
  readonly clusterId: string;
  readonly status: ClusterStatus;
  constructor(clusterId: string, status: ClusterStatus, reason: string | undefined) {
    super(`cluster ${clusterId} is ${status}${reason ? `: ${reason}` : ''}`, {
      statusCode: 409,
      details: [{ path: 'status', message: reason ?? status }],
    });
    this.clusterId = clusterId;
    this.status = status;
  }
}

/** The cluster did not become RUNNING in time (`create` then deletes it; `connect` leaves it as it is). */
export class ClusterReadyTimeoutError extends ReccError {
  readonly clusterId: string;
  constructor(clusterId: string, status: ClusterStatus, timeoutMs: number) {
    super(`cluster ${clusterId} is still ${status} after ${Math.round(timeoutMs / 1000)} s`, {
      statusCode: 408,
      details: [{ path: 'status', message: `still ${status}` }],
    });
    this.clusterId = clusterId;
  }
}

/** The cluster is RUNNING but the API did not give this caller its connection details. */
export class ClusterConnectionUnavailableError extends ReccError {
  constructor(clusterId: string) {
    super(`cluster ${clusterId} has no connection details for this caller (only the owner gets the token)`, {
      statusCode: 409,
      details: [{ path: 'connection', message: 'missing' }],
    });
  }
}

/** Rebuild the right error class from a wire error. */
export function taskErrorFrom(key: string, remote: TaskErrorInfo): TaskError {
  if (remote.name === 'KilledWorkerError') return new KilledWorkerError(key, remote);
  return new TaskError(key, remote);
}

/**
 * The SQS route did not answer: no heartbeat from the cluster's scheduler on
 * the request queue within the connect timeout, or the session's reply queue
 * could not be made. The message says which, and what was waited on.
 */
export class SqsRouteUnavailableError extends ReccError {
  constructor(message: string, options: { cause?: unknown } = {}) {
    super(message, { statusCode: 503, ...options });
  }
}
