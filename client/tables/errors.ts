import { ReccError, type ErrorDetail } from '../../shared/core/errors.ts';

/**
 * Errors of distributed tables raised on the client, before any task runs.
 * Errors of the user's functions come back from the workers as TaskError
 * with the original name (MetaMismatchError, the function's own error).
 */

/** A column an operation names is not in the table; `details` name each missing one and the table's columns. */
export class ColumnNotFoundError extends ReccError {
  constructor(operation: string, missing: readonly string[], columns: readonly string[]) {
    super(`${operation}: no column ${missing.map((c) => JSON.stringify(c)).join(', ')} in the table (columns: ${columns.join(', ') || 'none'})`, {
      statusCode: 400,
      details: missing.map((c) => ({ path: c, message: `not a column; the table has ${columns.join(', ') || 'no columns'}` })),
    });
  }
}

/** Bad arguments to a table operation; every problem in `details`. */
export class TableArgumentError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(details.length > 0 ? `${message}: ${details.map((d) => `${d.path ? `${d.path}: ` : ''}${d.message}`).join('; ')}` : message, { statusCode: 400, details });
  }
}

/** `toTable()` would gather more than its limit to the client. */
export class TableTooLargeError extends ReccError {
  constructor(
    readonly bytes: number,
    readonly limitBytes: number,
  ) {
    super(
      `toTable refused: the table is ${mib(bytes)} on the workers, above the limit of ${mib(limitBytes)}; reduce it first (filter, select, agg, head) or raise { maxBytes } (or RECC_TABLE_MAX_COLLECT_BYTES)`,
      { statusCode: 413 },
    );
  }
}

/** A table whose persisted partitions were released (or one derived from it, not yet computed) was used. */
export class TableReleasedError extends ReccError {
  constructor(operation: string) {
    super(`${operation}: the table's persisted partitions were released (table.release()); persist it again from its source`, { statusCode: 400 });
  }
}

function mib(n: number): string {
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}

/** A shuffle shard whose layout does not parse (a bug or corrupted bytes, never the user's input): the task fails with it. */
export class ShardFormatError extends ReccError {
  constructor(message: string) {
    super(`shuffle shard: ${message}`, { statusCode: 500 });
  }
}
