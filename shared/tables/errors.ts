import { ReccError, type ErrorDetail } from '../core/errors.ts';

/**
 * Errors of the table layer. Corrupt files and schema mismatches are the
 * datastore errors (`CorruptDataError`, `SchemaMismatchError`), re-exported
 * here so callers of readTable/openDataset import one module.
 */
export { CorruptDataError, SchemaMismatchError } from '../datastores/errors.ts';

/** Bad options to readTable/writeTable/openDataset (unknown column, malformed where, unknown format); every problem in `details`. */
export class TableOptionsError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(message, { statusCode: 400, details });
  }
}

/** A column type that a format cannot store (a nested list in CSV, a Parquet type recc does not map). */
export class UnsupportedColumnTypeError extends ReccError {
  constructor(message: string, details: ErrorDetail[] = []) {
    super(message, { statusCode: 422, details });
  }
}
