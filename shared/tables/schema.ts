import type { ErrorDetail } from '../core/errors.ts';

/**
 * A column as recc records it in manifests and compares across partitions.
 * `type` is Apache Arrow's name for the type (`Float64`, `Utf8`,
 * `Date32<DAY>`, `Timestamp<MILLISECOND>`), the in-memory and wire format.
 */
export interface ColumnSchema {
  name: string;
  type: string;
  nullable: boolean;
}

/**
 * Every way `actual` differs from `expected`, one detail per column
 * (missing, unexpected, different type). Nullability is not compared: a
 * partition without nulls in a nullable column is still the same table.
 */
export function schemaDifferences(expected: readonly ColumnSchema[], actual: readonly ColumnSchema[]): ErrorDetail[] {
  const out: ErrorDetail[] = [];
  const want = new Map(expected.map((c) => [c.name, c]));
  const got = new Map(actual.map((c) => [c.name, c]));
  for (const c of expected) {
    const g = got.get(c.name);
    if (!g) out.push({ path: c.name, message: `missing column "${c.name}" (expected ${c.type})` });
    else if (g.type !== c.type) out.push({ path: c.name, message: `column "${c.name}" is ${g.type}, expected ${c.type}` });
  }
  for (const c of actual) if (!want.has(c.name)) out.push({ path: c.name, message: `unexpected column "${c.name}" (${c.type})` });
  return out;
}

/** `date: Date32<DAY>, sid: Utf8` for messages. */
export function describeSchema(schema: readonly ColumnSchema[]): string {
  return schema.map((c) => `${c.name}: ${c.type}`).join(', ');
}
