import { DateDay, Float64, Int32, Table, Utf8, makeData, makeVector, vectorFromArray } from 'apache-arrow';

/**
 * A prices-like table: date (days), security id, price (with nulls every
 * 7th row), volume. Deterministic, so tests can recompute what a filter
 * should keep.
 */
export interface PriceRow {
  date: number;
  sid: string;
  px: number | null;
  vol: number;
}

export function priceRows(n: number, days = 10, ids = 5): PriceRow[] {
  return Array.from({ length: n }, (_, i) => ({
    date: 19723 + Math.floor((i * days) / n),
    sid: `SEC${i % ids}`,
    px: i % 7 === 3 ? null : Math.round(((i * 7919) % 10007) * 100) / 100,
    vol: (i * 31) % 1000,
  }));
}

export function priceTable(rows: PriceRow[]): Table {
  return new Table({
    date: makeVector(makeData({ type: new DateDay(), length: rows.length, data: Int32Array.from(rows.map((r) => r.date)) })),
    sid: vectorFromArray(rows.map((r) => r.sid), new Utf8()),
    px: vectorFromArray(rows.map((r) => r.px), new Float64()),
    vol: vectorFromArray(rows.map((r) => r.vol), new Int32()),
  });
}

/** Rows of an Arrow table as plain objects; dates as days for comparison with PriceRow. */
export function rowsOf(t: Table): Array<Record<string, unknown>> {
  const out: Array<Record<string, unknown>> = [];
  const cols = t.schema.fields.map((f) => [f.name, t.getChild(f.name), String(f.type)] as const);
  for (let i = 0; i < t.numRows; i++) {
    const r: Record<string, unknown> = {};
    for (const [name, v, type] of cols) {
      const x = v?.get(i);
      r[name] = type.startsWith('Date') && typeof x === 'number' ? x / 86_400_000 : typeof x === 'bigint' ? Number(x) : x;
    }
    out.push(r);
  }
  return out;
}
