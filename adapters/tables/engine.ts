import { RecordBatch, Schema, Field, Table, Utf8, makeData, Struct, type Data } from 'apache-arrow';
import { isDataFrame, loadPolars, type PolarsModule } from '../../comm/table-codec.ts';
import { buildData } from './columns.ts';
import { decodeIpc, encodeIpcFile } from './ipc.ts';

/**
 * The columnar engine, nodejs-polars (chosen by measurement:
 * docs/data-engine.md). Loaded on first use: its native library is large, and
 * most processes (the scheduler, the CLI) never touch it. Tables cross
 * between Arrow and polars as IPC buffers.
 */
export type DataFrame = import('nodejs-polars').DataFrame;
export { isDataFrame };

export function polars(): PolarsModule {
  return loadPolars();
}

const VIEW_STRINGS = new Set(['Utf8View', 'LargeUtf8']);

/**
 * polars writes strings as Utf8View (IPC file) or LargeUtf8 (stream); recc's
 * tables use plain Utf8 everywhere, so schemas compare equal across formats.
 */
export function normalizeStrings(table: Table): Table {
  const fields = table.schema.fields;
  if (!fields.some((f) => VIEW_STRINGS.has(String(f.type)))) return table;
  const schema = new Schema(fields.map((f) => (VIEW_STRINGS.has(String(f.type)) ? new Field(f.name, new Utf8(), f.nullable) : f)));
  const batches = table.batches.map((b) => {
    const children = fields.map((f, i) => {
      const child = b.data.children[i] as Data;
      if (!VIEW_STRINGS.has(String(f.type))) return child;
      const v = b.getChildAt(i);
      const values = Array.from({ length: b.numRows }, (_, r) => v?.get(r) as string | null);
      return buildData(new Utf8(), values);
    });
    return new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: b.numRows, nullCount: 0, children }));
  });
  return new Table(schema, batches);
}

export function dataFrameToArrow(df: DataFrame): Table {
  return normalizeStrings(decodeIpc(df.writeIPC() as unknown as Uint8Array));
}

export function arrowToDataFrame(table: Table): DataFrame {
  return polars().readIPC(Buffer.from(encodeIpcFile(table)));
}
