import type { Table } from 'apache-arrow';
import { arrowToDataFrame, dataFrameToArrow, polars } from './engine.ts';

/**
 * CSV and JSON lines through the engine's readers and writers (no parser of
 * our own): bytes → polars DataFrame → Arrow via IPC.
 */
export async function decodeText(format: 'csv' | 'jsonl', bytes: Uint8Array): Promise<Table> {
  const pl = polars();
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const df = format === 'csv' ? pl.readCSV(buf, { hasHeader: true, tryParseDates: true }) : pl.readJSON(buf, { format: 'lines' });
  return dataFrameToArrow(df);
}

export async function encodeText(format: 'csv' | 'jsonl', table: Table): Promise<Uint8Array> {
  const df = arrowToDataFrame(table);
  const out = format === 'csv' ? df.writeCSV() : df.writeJSON({ format: 'lines' });
  return new Uint8Array(out as unknown as Buffer);
}
