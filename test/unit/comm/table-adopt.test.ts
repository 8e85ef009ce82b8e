import * as arrow from 'apache-arrow';
import { beforeAll, describe, expect, it } from 'vitest';
import { SerializationError } from '../../../comm/errors.ts';
import { decodeValue, encodeValue } from '../../../comm/payload.ts';
import { isArrowTable } from '../../../comm/table-codec.ts';
import { toArrowTable } from '../../../adapters/tables/convert.ts';
import { loadSecondArrow } from '../../support/second-arrow.ts';

/**
 * A task module bundled by `client.module()` carries its own apache-arrow.
 * Its Tables pass `instanceof Table` across copies (Arrow's Symbol.for mark),
 * but Arrow's IPC writer wrote them as an empty table. The codec rebuilds
 * them around the same buffers; plain objects that copy their shape are never
 * taken for tables, and forged instances fail with the part named.
 */
let other: typeof import('apache-arrow');

beforeAll(async () => {
  other = await loadSecondArrow();
}, 60_000);

function foreignTable(n: number) {
  const B = other;
  return new B.Table({
    i8: B.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 100) - 50), new B.Int8()),
    u64: B.vectorFromArray(Array.from({ length: n }, (_, i) => BigInt(i) * 3n), new B.Uint64()),
    f: B.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 9 === 0 ? null : i / 4)), new B.Float64()),
    s: B.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 7 === 0 ? null : `v${i}`)), new B.Utf8()),
    b: B.vectorFromArray(Array.from({ length: n }, (_, i) => i % 3 === 0), new B.Bool()),
    day: B.vectorFromArray(Array.from({ length: n }, (_, i) => new Date(Date.UTC(2024, 0, 1 + (i % 30)))), new B.DateDay()),
    ts: B.vectorFromArray(Array.from({ length: n }, (_, i) => 1_700_000_000_000 + i), new B.TimestampMillisecond('UTC')),
    dict: B.vectorFromArray(Array.from({ length: n }, (_, i) => `k${i % 3}`), new B.Dictionary(new B.Utf8(), new B.Int32())),
    list: B.vectorFromArray(Array.from({ length: n }, (_, i) => (i % 5 === 0 ? null : [i, i + 1])), new B.List(new B.Field('item', new B.Int32(), true))),
    st: B.vectorFromArray(Array.from({ length: n }, (_, i) => ({ x: i, y: `y${i}` })), new B.Struct([new B.Field('x', new B.Int32(), true), new B.Field('y', new B.Utf8(), true)])),
  });
}

/** Every row as plain values, for comparing tables of different copies. */
function rows(t: { numRows: number; toArray(): Array<{ toJSON(): Record<string, unknown> }> }): unknown[] {
  return t.toArray().map((r) => JSON.parse(JSON.stringify(r.toJSON(), (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v && typeof v === 'object' && 'toArray' in v ? Array.from((v as { toArray(): ArrayLike<unknown> }).toArray()) : v))));
}

describe('Function: encodeValue with a Table of another apache-arrow copy', () => {
  it('sends every row and column (Arrow\'s own writer of this copy sends none)', () => {
    // Prepare
    const t = foreignTable(1000);
    expect(t).toBeInstanceOf(arrow.Table); // Arrow's cross-copy mark...
    expect(arrow.tableToIPC(t as unknown as arrow.Table).byteLength).toBeLessThan(other.tableToIPC(t).byteLength / 10); // ...and the data loss it hides

    // Act
    const back = decodeValue(encodeValue(t)) as arrow.Table;

    // Assess
    expect(back.numRows).toBe(1000);
    expect(back.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(t.schema.fields.map((f) => `${f.name}:${String(f.type)}`));
    expect(rows(back)).toEqual(rows(t));
  });

  it('sends a slice, nested inside an ordinary value, with its offsets', () => {
    const t = foreignTable(300).slice(101, 250);
    const back = decodeValue(encodeValue({ part: t, n: 1 })) as { part: arrow.Table; n: number };
    expect(back.n).toBe(1);
    expect(back.part.numRows).toBe(149);
    expect(rows(back.part)).toEqual(rows(t));
  });

  it('writeTable\'s conversion takes it too (toArrowTable)', () => {
    const t = foreignTable(50);
    const own = toArrowTable(t as unknown as arrow.Table);
    expect(Object.getPrototypeOf(own)).toBe(arrow.Table.prototype);
    expect(rows(arrow.tableFromIPC(arrow.tableToIPC(own)))).toEqual(rows(t));
  });
});

describe('Function: isArrowTable', () => {
  it('never takes a plain object for a table, whatever keys and marks it carries', () => {
    // Prepare: the shape of a table and Arrow's own mark, on a plain object
    const forged = { [Symbol.for('apache-arrow/Table')]: true, batches: [], numRows: 5, schema: { fields: [] } };

    // Act
    const back = decodeValue(encodeValue(forged));

    // Assess: sent as the plain data it is
    expect(isArrowTable(forged)).toBe(false);
    expect(back).toEqual({ batches: [], numRows: 5, schema: { fields: [] } });
  });

  it('never takes an array or a byte view for a table, and still knows a table of either copy', () => {
    // An array or a byte view whose prototype chain carries the mark: still not a table (they are answered first).
    class MarkedArray extends Array {}
    Object.defineProperty(MarkedArray.prototype, Symbol.for('apache-arrow/Table'), { value: true });
    const arr = Object.assign(new MarkedArray(), { batches: [], schema: { fields: [] } });
    expect(isArrowTable(arr)).toBe(false);
    expect(isArrowTable([1, 2])).toBe(false);
    expect(isArrowTable(new Uint8Array(8))).toBe(false);
    expect(isArrowTable(arrow.tableFromArrays({ a: Int32Array.of(1) }))).toBe(true);
    expect(isArrowTable(other.tableFromArrays({ a: Int32Array.of(1) }))).toBe(true);
  });

  it('refuses a forged table instance with the broken part named, instead of sending garbage', () => {
    // Prepare: a class whose prototype carries the mark, with a column type no Arrow has
    class Forged {
      schema = { fields: [{ name: 'x', type: { typeId: 99 }, nullable: true }] };
      batches = [{ data: { length: 1, offset: 0, nullCount: 0, children: [{}] } }];
    }
    Object.defineProperty(Forged.prototype, Symbol.for('apache-arrow/Table'), { value: true });
    const overlong = foreignTable(10);
    const child = (overlong.batches[0]!.data.children[2] as unknown as { length: number });
    Object.defineProperty(child, 'length', { value: 1_000_000 });

    // Act
    const errors = [new Forged(), overlong].map((v) => {
      try {
        encodeValue(v, 'result');
        return undefined;
      } catch (err) {
        return err;
      }
    });

    // Assess
    expect(errors[0]).toBeInstanceOf(SerializationError);
    expect((errors[0] as SerializationError).message).toMatch(/schema\.fields\[0\]\.type\.typeId: Arrow type 99/);
    expect(errors[1]).toBeInstanceOf(SerializationError);
    expect((errors[1] as SerializationError).message).toMatch(/batches\[0\]\.data\.children\[2\]\.(values|nullBitmap): holds \d+ bytes/);
  });

  it('stops at a type that contains itself instead of overflowing the stack', () => {
    class Cyclic {
      schema: { fields: unknown[] } = { fields: [] };
      batches = [];
    }
    Object.defineProperty(Cyclic.prototype, Symbol.for('apache-arrow/Table'), { value: true });
    const v = new Cyclic();
    const list: { typeId: number; children: unknown[] } = { typeId: arrow.Type.List, children: [] };
    list.children.push({ name: 'item', type: list, nullable: true });
    v.schema.fields.push({ name: 'x', type: list, nullable: true });
    expect(() => encodeValue(v)).toThrow(/nested deeper than 64/);
  });
});
