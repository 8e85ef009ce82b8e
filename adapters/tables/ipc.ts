import { tableFromIPC, tableToIPC, type Table } from 'apache-arrow';

/**
 * Arrow IPC, recc's in-memory, wire and spill format. Files are the IPC
 * *file* format (footer with the block list), so a truncated file fails
 * instead of reading as fewer rows; the stream format is accepted on read
 * only when it ends with the end-of-stream marker, for the same reason.
 */
const FILE_MAGIC = [0x41, 0x52, 0x52, 0x4f, 0x57, 0x31]; // "ARROW1"

function startsWithMagic(bytes: Uint8Array, at: number): boolean {
  return FILE_MAGIC.every((b, i) => bytes[at + i] === b);
}

/** Decodes IPC bytes (file or stream format) or throws an Error saying what is wrong. */
export function decodeIpc(bytes: Uint8Array): Table {
  if (bytes.byteLength < 8) throw new Error(`${bytes.byteLength} bytes is too short for Arrow IPC`);
  if (startsWithMagic(bytes, 0)) {
    if (!startsWithMagic(bytes, bytes.byteLength - 6)) throw new Error('Arrow IPC file without its footer (truncated?)');
  } else {
    // Stream format: continuation marker + zero length closes it.
    const end = bytes.subarray(bytes.byteLength - 8);
    const eos = end[0] === 0xff && end[1] === 0xff && end[2] === 0xff && end[3] === 0xff && end[4] === 0 && end[5] === 0 && end[6] === 0 && end[7] === 0;
    if (!eos) throw new Error('Arrow IPC stream without its end-of-stream marker (truncated?), or not Arrow IPC');
  }
  return tableFromIPC(bytes);
}

export function encodeIpcFile(table: Table): Uint8Array {
  return tableToIPC(table, 'file');
}

export function encodeIpcStream(table: Table): Uint8Array {
  return tableToIPC(table, 'stream');
}
