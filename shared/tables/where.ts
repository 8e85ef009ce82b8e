import type { ErrorDetail } from '../core/errors.ts';
import { TableOptionsError } from './errors.ts';

/**
 * Row filters: `{ date: { gte: '2024-01-01', lt: '2024-02-01' }, sid: { in: ['A', 'B'] }, venue: 'XNYS' }`.
 * Columns are ANDed; a bare value means `eq`. Used three ways: to skip
 * partitions by their key values, to skip Parquet row groups by their min/max
 * statistics, and to keep exactly the matching rows. A null value matches no
 * condition (as in SQL).
 */
export type Scalar = string | number | bigint | boolean | Date;

export interface Condition {
  eq?: Scalar;
  ne?: Scalar;
  in?: Scalar[];
  gt?: Scalar;
  gte?: Scalar;
  lt?: Scalar;
  lte?: Scalar;
}

export type Where = Record<string, Scalar | Condition>;

/** A validated where: one condition per column, in the order given. */
export type ColumnCondition = { column: string; condition: Condition };

const OPERATORS = ['eq', 'ne', 'in', 'gt', 'gte', 'lt', 'lte'] as const;

function isScalar(v: unknown): v is Scalar {
  return (typeof v === 'string' || (typeof v === 'number' && !Number.isNaN(v)) || typeof v === 'bigint' || typeof v === 'boolean' || (v instanceof Date && !Number.isNaN(v.getTime())));
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Date) return 'an invalid Date';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return String(v);
  return typeof v;
}

/** Validates a where (throws TableOptionsError naming every problem); undefined → no conditions. */
export function parseWhere(where: unknown, path = 'where'): ColumnCondition[] {
  if (where === undefined) return [];
  if (where === null || typeof where !== 'object' || Array.isArray(where)) {
    throw new TableOptionsError(`invalid ${path}: expected an object of column conditions`, [{ path, message: `expected an object such as { date: { gte: '2024-01-01' } }, got ${describe(where)}` }]);
  }
  const problems: ErrorDetail[] = [];
  const out: ColumnCondition[] = [];
  for (const [column, raw] of Object.entries(where)) {
    const at = `${path}.${column}`;
    if (isScalar(raw)) {
      out.push({ column, condition: { eq: raw } });
      continue;
    }
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Date) {
      problems.push({ path: at, message: `expected a value or a condition such as { gte: …, lt: … }, got ${describe(raw)}` });
      continue;
    }
    const condition: Condition = {};
    const entries = Object.entries(raw as Record<string, unknown>);
    if (entries.length === 0) problems.push({ path: at, message: `expected at least one of ${OPERATORS.join(', ')}` });
    for (const [op, v] of entries) {
      if (!(OPERATORS as readonly string[]).includes(op)) {
        problems.push({ path: `${at}.${op}`, message: `unknown operator "${op}" (known: ${OPERATORS.join(', ')})` });
      } else if (op === 'in') {
        if (!Array.isArray(v) || !v.every(isScalar)) problems.push({ path: `${at}.in`, message: 'expected an array of strings, numbers, bigints, booleans or Dates' });
        else condition.in = v;
      } else if (!isScalar(v)) {
        problems.push({ path: `${at}.${op}`, message: `expected a string, number, bigint, boolean or Date, got ${describe(v)}` });
      } else {
        condition[op as Exclude<(typeof OPERATORS)[number], 'in'>] = v;
      }
    }
    out.push({ column, condition });
  }
  if (problems.length > 0) throw new TableOptionsError(`invalid ${path}: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  return out;
}

/** Total order across the scalar kinds a column holds (numbers and bigints compare by value). */
export function compareValues(a: unknown, b: unknown): number {
  const x = a instanceof Date ? a.getTime() : a;
  const y = b instanceof Date ? b.getTime() : b;
  if ((typeof x === 'number' || typeof x === 'bigint') && (typeof y === 'number' || typeof y === 'bigint')) return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'string' && typeof y === 'string') return x < y ? -1 : x > y ? 1 : 0;
  if (typeof x === 'boolean' && typeof y === 'boolean') return Number(x) - Number(y);
  // Different kinds never match; order them by kind name so sorting stays total.
  const kx = typeof x;
  const ky = typeof y;
  return kx < ky ? -1 : kx > ky ? 1 : 0;
}

function sameKind(a: unknown, b: unknown): boolean {
  const num = (v: unknown) => typeof v === 'number' || typeof v === 'bigint' || v instanceof Date;
  return (num(a) && num(b)) || typeof a === typeof b;
}

/** Whether one value satisfies a condition (values already in the column's domain: see coerceCondition). */
export function valueMatches(condition: Condition, value: unknown): boolean {
  if (value === null || value === undefined) return false;
  const cmp = (v: unknown) => (sameKind(value, v) ? compareValues(value, v) : NaN);
  if (condition.eq !== undefined && cmp(condition.eq) !== 0) return false;
  if (condition.ne !== undefined && cmp(condition.ne) === 0) return false;
  if (condition.in !== undefined && !condition.in.some((v) => cmp(v) === 0)) return false;
  if (condition.gt !== undefined && !(cmp(condition.gt) > 0)) return false;
  if (condition.gte !== undefined && !(cmp(condition.gte) >= 0)) return false;
  if (condition.lt !== undefined && !(cmp(condition.lt) < 0)) return false;
  if (condition.lte !== undefined && !(cmp(condition.lte) <= 0)) return false;
  return true;
}

/**
 * Whether any value in [min, max] could satisfy the condition. Unknown
 * bounds (no statistics) or bounds of another kind always may.
 */
export function rangeMayMatch(condition: Condition, min: unknown, max: unknown): boolean {
  if (min === undefined || min === null || max === undefined || max === null) return true;
  if (!sameKind(min, max)) return true;
  const lo = (v: unknown) => (sameKind(min, v) ? compareValues(min, v) : undefined);
  const hi = (v: unknown) => (sameKind(max, v) ? compareValues(max, v) : undefined);
  const inside = (v: unknown) => {
    const a = lo(v);
    const b = hi(v);
    return a === undefined || b === undefined || (a <= 0 && b >= 0);
  };
  if (condition.eq !== undefined && !inside(condition.eq)) return false;
  if (condition.in !== undefined && !condition.in.some(inside)) return false;
  if (condition.ne !== undefined && lo(condition.ne) === 0 && hi(condition.ne) === 0) return false;
  if (condition.gt !== undefined && (hi(condition.gt) ?? 1) <= 0) return false;
  if (condition.gte !== undefined && (hi(condition.gte) ?? 0) < 0) return false;
  if (condition.lt !== undefined && (lo(condition.lt) ?? -1) >= 0) return false;
  if (condition.lte !== undefined && (lo(condition.lte) ?? 0) > 0) return false;
  return true;
}

const DAY_MS = 86_400_000;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** 'YYYY-MM-DD' → days since 1970-01-01, or undefined if it is not a real date. */
export function daysFromIsoDate(s: string): number | undefined {
  const m = ISO_DATE.exec(s);
  if (!m) return undefined;
  const ms = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
  const d = new Date(ms);
  if (d.getUTCFullYear() !== Number(m[1]) || d.getUTCMonth() !== Number(m[2]) - 1 || d.getUTCDate() !== Number(m[3])) return undefined;
  return ms / DAY_MS;
}

export function isoDateFromDays(days: number): string {
  return new Date(days * DAY_MS).toISOString().slice(0, 10);
}

/** The domain a condition's values are compared in, from the Arrow type name of the column. */
export type ValueDomain = 'days' | 'epoch-ms' | 'number' | 'bigint' | 'string' | 'boolean' | 'other';

export function domainOfType(type: string): ValueDomain {
  if (type.startsWith('Date32')) return 'days';
  if (type.startsWith('Date64') || type.startsWith('Timestamp')) return 'epoch-ms';
  if (/^(Int64|Uint64)$/.test(type)) return 'bigint';
  if (/^(Int|Uint|Float)/.test(type)) return 'number';
  if (type === 'Utf8' || type === 'LargeUtf8' || type === 'Utf8View' || /^Dictionary<\w+, Utf8>$/.test(type)) return 'string';
  if (type === 'Bool') return 'boolean';
  return 'other';
}

/**
 * Converts a condition's values into the column's domain ('2024-01-02' or a
 * Date on a date column → days), so comparisons are exact. Values that
 * cannot be converted are problems naming the column.
 */
export function coerceCondition(column: string, condition: Condition, domain: ValueDomain, path = 'where'): { condition: Condition; problems: ErrorDetail[] } {
  const problems: ErrorDetail[] = [];
  const convert = (v: Scalar, op: string): Scalar => {
    const fail = (expected: string) => {
      problems.push({ path: `${path}.${column}.${op}`, message: `expected ${expected} for column "${column}", got ${typeof v === 'string' ? JSON.stringify(v) : describe(v)}` });
      return v;
    };
    switch (domain) {
      case 'days': {
        if (v instanceof Date) return Math.floor(v.getTime() / DAY_MS);
        if (typeof v === 'string') return daysFromIsoDate(v) ?? fail("a date 'YYYY-MM-DD' or a Date");
        if (typeof v === 'number' && Number.isInteger(v)) return v;
        return fail("a date 'YYYY-MM-DD' or a Date");
      }
      case 'epoch-ms': {
        if (v instanceof Date) return v.getTime();
        if (typeof v === 'string') {
          const t = Date.parse(v);
          return Number.isNaN(t) ? fail('an ISO date-time or a Date') : t;
        }
        if (typeof v === 'number') return v;
        return fail('an ISO date-time or a Date');
      }
      case 'number':
      case 'bigint':
        return typeof v === 'number' || typeof v === 'bigint' ? v : fail('a number');
      case 'string':
        return typeof v === 'string' ? v : fail('a string');
      case 'boolean':
        return typeof v === 'boolean' ? v : fail('true or false');
      default:
        return v;
    }
  };
  const out: Condition = {};
  for (const [op, v] of Object.entries(condition) as Array<[keyof Condition, Scalar | Scalar[]]>) {
    if (op === 'in') out.in = (v as Scalar[]).map((x) => convert(x, 'in'));
    else out[op] = convert(v as Scalar, op);
  }
  return { condition: out, problems };
}
