/**
 * Large byte results travel from a task thread as msgpack bin32 in shared
 * memory: `[0xc6][u32 BE length][bytes…]` (comm/payload.ts `encodeValue`).
 * A producer that knows its result's size up front (the table operations'
 * Arrow IPC and shard frames) writes it into `headedBytes(n)`, whose 5 bytes
 * before the view already hold that header, so encoding it is a view, not a
 * copy of the whole result. The view starts 8-aligned in its memory, and so do
 * the bytes a later task decodes from it (Arrow copies IPC bodies that are not). No imports: the table task module bundles this.
 */

const HEADER = 5;
/** The bytes start 8-aligned in their memory (the header just before them), so Arrow reads IPC bodies in place, not a copy. */
const DATA_AT = 8;
const BIN32 = 0xc6;
/** Memory made by headedBytes, per thread (shared by every bundle in it through the symbol registry). */
const KEY = Symbol.for('recc.headedBytes');

function made(): WeakSet<object> {
  const g = globalThis as Record<symbol, unknown>;
  return (g[KEY] ??= new WeakSet<object>()) as WeakSet<object>;
}

/** `n` writable bytes in a SharedArrayBuffer of their own, preceded by their bin32 header. */
export function headedBytes(n: number): Uint8Array {
  const buf = new SharedArrayBuffer(DATA_AT + n);
  const all = new Uint8Array(buf);
  all[DATA_AT - HEADER] = BIN32;
  new DataView(buf).setUint32(DATA_AT - HEADER + 1, n, false);
  made().add(buf);
  return all.subarray(DATA_AT);
}

/**
 * The encoded form of `value` (header and bytes) if `value` is the whole of a
 * `headedBytes` result, else undefined. Only memory made here qualifies (not
 * bytes that merely look alike, such as a received frame another task
 * returned as is), and only once: it now belongs to the encoded result.
 */
export function headedFrame(value: Uint8Array): Uint8Array | undefined {
  const buf = value.buffer;
  if (!(buf instanceof SharedArrayBuffer) || value.byteOffset !== DATA_AT || buf.byteLength !== DATA_AT + value.byteLength) return undefined;
  if (!made().delete(buf)) return undefined;
  return new Uint8Array(buf, DATA_AT - HEADER, HEADER + value.byteLength);
}
