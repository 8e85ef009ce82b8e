/**
 * The single-process reference for table tests: random Arrow tables and the
 * same operations computed on plain rows (Arrow's toArray + JS), never with
 * the kernels under test. Results compare as sorted JSON rows.
 */
import fc from 'fast-check';
import { Float64, Int32, Table, Utf8, vectorFromArray } from 'apache-arrow';

export interface Row {
  key: string | null;
  k2: number | null;
  value: number | null;
}

/** Rows with nulls in every column and a skewed key: about half the rows hold one key. */
export const rowsArb = (maxRows: number): fc.Arbitrary<Row[]> =>
  fc.array(
    fc.record({
      key: fc.oneof({ weight: 5, arbitrary: fc.constant('HOT') }, { weight: 4, arbitrary: fc.constantFrom('a', 'b', 'c', 'd', 'constructor', '__proto__') }, { weight: 1, arbitrary: fc.constant(null) }),
      k2: fc.option(fc.integer({ min: -50, max: 50 }), { freq: 8 }),
      value: fc.option(fc.double({ min: -1e6, max: 1e6, noNaN: true, noDefaultInfinity: true }), { freq: 6 }),
    }),
    { minLength: 0, maxLength: maxRows },
  );

export function tableOfRows(rows: readonly Row[]): Table {
  return new Table({
    key: vectorFromArray(rows.map((r) => r.key), new Utf8()),
    k2: vectorFromArray(rows.map((r) => r.k2), new Int32()),
    value: vectorFromArray(rows.map((r) => r.value), new Float64()),
  });
}

/** Plain rows of any Arrow table (BigInts as strings, so rows compare as JSON). */
export function rowsOf(t: Table): Array<Record<string, unknown>> {
  return t.toArray().map((r: { toJSON(): Record<string, unknown> }) => {
    const o = r.toJSON();
    for (const [k, v] of Object.entries(o)) if (typeof v === 'bigint') o[k] = v.toString();
    return { ...o };
  });
}

export const sortedJson = (rows: ReadonlyArray<Record<string, unknown>>): string[] => rows.map((r) => JSON.stringify(r, Object.keys(r).sort())).sort();

/** Group rows by a JSON key of the given columns, in first-appearance order. */
export function groupsOf(rows: readonly Row[], by: ReadonlyArray<keyof Row>): Map<string, Row[]> {
  const out = new Map<string, Row[]>();
  for (const r of rows) {
    const id = JSON.stringify(by.map((c) => r[c]));
    const g = out.get(id);
    if (g) g.push(r);
    else out.set(id, [r]);
  }
  return out;
}

/** Float sums depend on order: compare rounded. */
export const round = (x: number | null | undefined): number | null => (x === null || x === undefined ? null : Math.round(x * 1e3) / 1e3);
