import type { AsyncBuffer } from 'hyparquet';
import type { Datastore } from '../../shared/datastores/port.ts';

/**
 * A Parquet reader's view of an object in a Datastore: every slice is one
 * ranged read (an S3 GET with a Range header), so reading two columns of a
 * wide file fetches the footer and those column chunks only. `fetched`
 * counts requests and bytes, for tests and the bench.
 */
export interface StoreBuffer extends AsyncBuffer {
  readonly fetched: { requests: number; bytes: number };
}

export async function storeBuffer(store: Datastore, key: string, knownSize?: number): Promise<StoreBuffer> {
  const byteLength = knownSize ?? (await store.stat(key)).size;
  const fetched = { requests: 0, bytes: 0 };
  return {
    byteLength,
    fetched,
    async slice(start: number, end?: number): Promise<ArrayBuffer> {
      const from = Math.max(0, start < 0 ? byteLength + start : start);
      const to = Math.min(byteLength, end === undefined ? byteLength : end < 0 ? byteLength + end : end);
      if (to <= from) return new ArrayBuffer(0);
      const bytes = await store.read(key, { offset: from, length: to - from });
      fetched.requests++;
      fetched.bytes += bytes.byteLength;
      return toArrayBuffer(bytes);
    },
  };
}

/** The whole object already in memory, as an AsyncBuffer. */
export function memoryBuffer(bytes: Uint8Array): StoreBuffer {
  const ab = toArrayBuffer(bytes);
  return { byteLength: ab.byteLength, fetched: { requests: 1, bytes: ab.byteLength }, slice: (s, e) => ab.slice(s, e) };
}

function toArrayBuffer(bytes: Uint8Array): ArrayBuffer {
  if (bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength && bytes.buffer instanceof ArrayBuffer) return bytes.buffer;
  // Uint8Array's slice copies; a Buffer's own slice would be a view of its (pooled) memory.
  return Uint8Array.prototype.slice.call(bytes).buffer as ArrayBuffer;
}
