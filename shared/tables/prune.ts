import type { ErrorDetail } from '../core/errors.ts';
import { TableOptionsError } from './errors.ts';
import type { PartitionKind } from './manifest.ts';
import { coerceCondition, daysFromIsoDate, valueMatches, type ColumnCondition, type ValueDomain } from './where.ts';

/**
 * Partition pruning: which partitions can hold rows matching a where, judged
 * from their key values alone (from the manifest or the paths), so no data
 * file is opened for a partition that cannot match.
 */
export interface PartitionColumn {
  name: string;
  kind: PartitionKind;
}

const DOMAIN: Record<PartitionKind, ValueDomain> = { date: 'days', int: 'number', string: 'string' };

/** A partition value (as written in the path) in its kind's domain; undefined if it does not parse. */
export function partitionValue(kind: PartitionKind, raw: string | null): string | number | null | undefined {
  if (raw === null) return null;
  if (kind === 'string') return raw;
  if (kind === 'date') return daysFromIsoDate(raw);
  const n = Number(raw);
  return /^-?\d+$/.test(raw) && Number.isSafeInteger(n) ? n : undefined;
}

export interface PartitionFilter {
  /** Conditions on partition columns, in their domains, with each column's index in the values. */
  conditions: Array<{ index: number; condition: ColumnCondition['condition'] }>;
  columns: PartitionColumn[];
}

/** Keeps the conditions that name partition columns, coerced to their kinds (TableOptionsError for values of the wrong kind). */
export function partitionFilter(columns: PartitionColumn[], where: ColumnCondition[]): PartitionFilter {
  const problems: ErrorDetail[] = [];
  const conditions: PartitionFilter['conditions'] = [];
  for (const { column, condition } of where) {
    const index = columns.findIndex((c) => c.name === column);
    if (index < 0) continue;
    const col = columns[index] as PartitionColumn;
    const coerced = coerceCondition(column, condition, DOMAIN[col.kind]);
    problems.push(...coerced.problems);
    conditions.push({ index, condition: coerced.condition });
  }
  if (problems.length > 0) throw new TableOptionsError(`invalid where: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  return { conditions, columns };
}

/** Whether a partition with these raw values may hold matching rows. */
export function partitionMatches(filter: PartitionFilter, values: ReadonlyArray<string | null>): boolean {
  for (const { index, condition } of filter.conditions) {
    const col = filter.columns[index] as PartitionColumn;
    const v = partitionValue(col.kind, values[index] ?? null);
    if (v === undefined || !valueMatches(condition, v)) return false;
  }
  return true;
}

/** The kind a partition column of this Arrow type gets, or undefined if it cannot partition (floats, lists). */
export function partitionKindOfType(type: string): PartitionKind | undefined {
  if (type.startsWith('Date32')) return 'date';
  if (/^U?[Ii]nt(8|16|32|64)$/.test(type)) return 'int';
  if (type === 'Utf8' || type === 'LargeUtf8' || type.startsWith('Dictionary<') || type === 'Bool') return 'string';
  return undefined;
}
