import type { ErrorDetail } from '../core/errors.ts';
import { TableOptionsError } from './errors.ts';

/**
 * Hive-style partition paths: `date=2024-01-02/sid=AAPL/part-0.parquet`.
 * Values are percent-encoded (so a value may hold `/`, `=` or `%`), and a
 * null value is Hive's `__HIVE_DEFAULT_PARTITION__`, as Spark, DuckDB and
 * polars spell it, so those engines read recc's datasets too.
 */
export const NULL_PARTITION = '__HIVE_DEFAULT_PARTITION__';
const KEY_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export type PartitionValues = ReadonlyArray<readonly [key: string, value: string | null]>;

export function checkPartitionKeys(keys: readonly string[], path = 'partitionBy'): void {
  const problems: ErrorDetail[] = [];
  keys.forEach((k, i) => {
    if (typeof k !== 'string' || !KEY_NAME.test(k)) problems.push({ path: `${path}[${i}]`, message: `expected a column name of letters, digits and "_" (not starting with a digit), got ${JSON.stringify(k)}` });
  });
  if (new Set(keys).size !== keys.length) problems.push({ path, message: 'expected each partition column once' });
  if (problems.length > 0) throw new TableOptionsError(`invalid partition columns: ${problems.map((p) => p.message).join('; ')}`, problems);
}

function encodeValue(v: string | null): string {
  if (v === null) return NULL_PARTITION;
  // encodeURIComponent leaves . ! ~ * ' ( ) alone; a value "." or ".." must not become a path segment of its own.
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** `date=2024-01-02/sid=AAPL` for the given values (in key order). */
export function partitionDir(values: PartitionValues): string {
  return values.map(([k, v]) => `${k}=${encodeValue(v)}`).join('/');
}

export interface ParsedPartitionKey {
  /** The partition directory, e.g. `date=2024-01-02` ('' when not partitioned). */
  dir: string;
  values: Array<[string, string | null]>;
  /** The file name inside the partition directory. */
  file: string;
}

/**
 * Parses a key relative to a dataset root. Returns undefined for keys that
 * are not data files of a Hive layout (a segment without `=`, a bad escape),
 * so stray files (`_SUCCESS`, `.crc`) are skipped rather than misread.
 */
export function parsePartitionKey(relativeKey: string): ParsedPartitionKey | undefined {
  const parts = relativeKey.split('/');
  const file = parts.pop() ?? '';
  if (file === '' || file.startsWith('_') || file.startsWith('.')) return undefined;
  const values: Array<[string, string | null]> = [];
  for (const seg of parts) {
    const eq = seg.indexOf('=');
    if (eq <= 0) return undefined;
    const key = seg.slice(0, eq);
    if (!KEY_NAME.test(key)) return undefined;
    const raw = seg.slice(eq + 1);
    let value: string | null;
    try {
      value = raw === NULL_PARTITION ? null : decodeURIComponent(raw);
    } catch {
      return undefined;
    }
    values.push([key, value]);
  }
  return { dir: parts.join('/'), values, file };
}
