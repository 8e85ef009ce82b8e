import { ReccError, type ErrorDetail } from '../core/errors.ts';

/** Base of every datastore error; `store` names the datastore (e.g. `S3`), `key` the object. */
export class DatastoreError extends ReccError {
  readonly store: string;
  readonly key: string | undefined;
  constructor(
    message: string,
    options: { store: string; key?: string; statusCode?: number; details?: ErrorDetail[]; cause?: unknown },
  ) {
    super(message, options);
    this.store = options.store;
    this.key = options.key;
  }
}

export class DatastoreNotFoundError extends DatastoreError {
  constructor(store: string, key: string, options: { cause?: unknown } = {}) {
    super(`${store}: no object at "${key}"`, { store, key, statusCode: 404, ...options });
  }
}

export class DatastoreAccessDeniedError extends DatastoreError {
  constructor(store: string, what: string, options: { cause?: unknown } = {}) {
    super(`${store}: access denied to ${what}; expected read and write permission on that bucket and prefix`, {
      store,
      statusCode: 403,
      ...options,
    });
  }
}

/** The backend asked us to slow down (S3 503 SlowDown); retried with backoff before this is raised. */
export class DatastoreThrottledError extends DatastoreError {
  constructor(store: string, key: string | undefined, options: { cause?: unknown } = {}) {
    super(`${store}: throttled${key === undefined ? '' : ` on "${key}"`} after retries`, {
      store,
      key,
      statusCode: 503,
      ...options,
    });
  }
}

/** An object's bytes are not what its format promises (truncated Parquet, bad IPC...). */
export class CorruptDataError extends DatastoreError {
  constructor(store: string, key: string, problem: string, options: { cause?: unknown } = {}) {
    super(`${store}: "${key}" is corrupt: ${problem}`, { store, key, statusCode: 422, ...options });
  }
}

/** A key that cannot name an object (empty, absolute, `..`). */
export class DatastoreKeyError extends DatastoreError {
  constructor(store: string, key: string, problem: string) {
    super(`${store}: invalid key "${key}": ${problem}`, { store, key, statusCode: 400, details: [{ path: 'key', message: problem }] });
  }
}

/** The datastore configuration is malformed or names a store that does not exist. */
export class DatastoreConfigError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = [], options: { cause?: unknown } = {}) {
    super(message, { statusCode: 400, details, ...options });
  }
}

/** Two partitions of one dataset do not share a schema. */
export class SchemaMismatchError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(message, { statusCode: 422, details });
  }
}

/** An upload was cut off before it completed; no object was created. */
export class DatastoreWriteAbortedError extends DatastoreError {
  constructor(store: string, key: string, options: { cause?: unknown } = {}) {
    super(`${store}: write of "${key}" did not complete; nothing was stored`, { store, key, statusCode: 500, ...options });
  }
}
