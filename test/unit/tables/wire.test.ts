import { Table, tableToIPC } from 'apache-arrow';
import pl from 'nodejs-polars';
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue, encodeValueView } from '../../../comm/payload.ts';
import { priceRows, priceTable, rowsOf } from './fixtures.ts';

describe('tables on the wire', () => {
  const rows = priceRows(5_000);
  const table = priceTable(rows);

  it('a task result that is a Table travels as Arrow IPC: about its IPC size, decoded with schema and values', () => {
    const bytes = encodeValue(table, 'result');
    const ipc = tableToIPC(table, 'stream').byteLength;
    // msgpack of 5,000 row objects would be several times larger; the frame is the IPC bytes after an 8-byte header (6 + 2 padding).
    expect(bytes.byteLength).toBe(ipc + 8);
    const back = decodeValue(bytes) as Table;
    expect(back).toBeInstanceOf(Table);
    expect(back.schema.fields.map((f) => `${f.name}:${String(f.type)}`)).toEqual(['date:Date32<DAY>', 'sid:Utf8', 'px:Float64', 'vol:Int32']);
    expect(rowsOf(back)).toEqual(rows);
    // Aligned in the frame, so the float column is a view of the received bytes, not a copy.
    expect(back.getChild('px')?.data[0]?.values.buffer).toBe(bytes.buffer);
    expect(encodeValueView(table).byteLength).toBe(ipc + 8);
  });

  it('tables nested in other values (arguments, objects) travel too', () => {
    const back = decodeValue(encodeValue({ t: table.slice(0, 10), n: 1, list: [table.slice(10, 12)] }, 'args')) as { t: Table; n: number; list: Table[] };
    expect(back.n).toBe(1);
    expect(rowsOf(back.t)).toEqual(rows.slice(0, 10));
    expect(rowsOf(back.list[0] as Table)).toEqual(rows.slice(10, 12));
  });

  it('a polars DataFrame arrives as a DataFrame with the same frame', () => {
    const df = pl.DataFrame({ sid: ['A', null, 'C'], px: [1.5, 2.5, null] });
    const back = decodeValue(encodeValue(df)) as typeof df;
    expect(back.frameEqual(df, true)).toBe(true);
    expect(back.height).toBe(3);
  });
});
