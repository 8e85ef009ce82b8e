import { createRequire } from 'node:module';
import type { Table } from 'apache-arrow';
import { SerializationError } from './errors.ts';
import { ForeignTableError, TableAdopter, isMarkedArrowTable } from './table-adopt.ts';

/**
 * Columnar values on the wire: an Apache Arrow Table, or a nodejs-polars
 * DataFrame, travels as Arrow IPC (stream format) inside a msgpack extension
 * rather than as msgpack of its rows, so a table moves as a few large
 * buffers, is counted by its bytes in worker memory and spills as IPC.
 * Decoding is zero-copy: the Table's vectors view the received frame.
 */
export const ARROW_EXT = 0x54;
export const POLARS_EXT = 0x55;
/** A top-level table: two bytes of padding, then IPC, so its buffers sit 8-byte aligned and Arrow views them without copying. */
export const ARROW_ALIGNED_EXT = 0x56;

export type ArrowModule = typeof import('apache-arrow');

let arrowModule: ArrowModule | undefined;

/**
 * apache-arrow, loaded on first use: importing it statically added ~0.3 s to
 * every scheduler, worker and task-thread start (test/unit/engine/bundle-weight).
 * It is required by the path of its ES module build (require(esm), Node ≥ 20.19),
 * never by its CommonJS build, so its `Table` is the very class that
 * `import 'apache-arrow'` gives user code and `instanceof` holds.
 */
export function loadArrow(): ArrowModule {
  if (!arrowModule) {
    const require = createRequire(import.meta.url);
    arrowModule = require(require.resolve('apache-arrow').replace(/\.js$/, '.mjs')) as ArrowModule;
  }
  return arrowModule;
}

/**
 * An Arrow Table of this process's apache-arrow or of another copy (a bundled
 * task module carries its own): a class instance whose prototype chain holds
 * Arrow's `Symbol.for('apache-arrow/Table')` mark. Plain objects never are,
 * whatever keys they carry, and ordinary objects never load Arrow.
 */
export function isArrowTable(v: unknown): v is Table {
  return isMarkedArrowTable(v);
}

/** A Table of this process's Arrow copy (its IPC writer can write it as it is). */
function isOwnArrowTable(v: unknown): boolean {
  return Function.prototype[Symbol.hasInstance].call(loadArrow().Table, v);
}

/**
 * The table as this copy's Table: itself, or for another copy's table a
 * rebuild around the same buffers (comm/table-adopt.ts). A forged or
 * inconsistent one throws SerializationError naming the part.
 */
export function ownArrowTable(v: Table): Table {
  if (isOwnArrowTable(v)) return v;
  try {
    return new TableAdopter(loadArrow()).table(v);
  } catch (err) {
    if (err instanceof ForeignTableError) {
      throw new SerializationError(`cannot send an Arrow table made by another apache-arrow copy: ${err.message}`, [{ path: err.path, message: err.message }], { cause: err });
    }
    throw err;
  }
}

/**
 * For msgpackr's extension lookup, which asks `value instanceof Class` of
 * every object that is not a plain object, array or Map, in every packer of
 * the process (extensions are global): the wire's own byte fields (task
 * arguments, inline results) included, several per task. Byte views are
 * answered at once; the prototype walk of isMarkedArrowTable cost each of
 * them ~0.1 µs.
 */
export class ArrowTableClass {
  static [Symbol.hasInstance](v: unknown): boolean {
    return !ArrayBuffer.isView(v) && isArrowTable(v);
  }
}

export type PolarsModule = typeof import('nodejs-polars').default;

let polarsModule: PolarsModule | undefined;

/** nodejs-polars, loaded on first use (its native library is large and most processes never need it). */
export function loadPolars(): PolarsModule {
  if (!polarsModule) {
    const mod = createRequire(import.meta.url)('nodejs-polars') as PolarsModule & { default?: PolarsModule };
    polarsModule = mod.default ?? mod;
  }
  return polarsModule;
}

/** A polars DataFrame, recognised without loading polars (a value that is one came from it). */
export function isDataFrame(v: unknown): v is import('nodejs-polars').DataFrame {
  return v !== null && typeof v === 'object' && !Array.isArray(v) && typeof (v as { writeIPC?: unknown }).writeIPC === 'function' && typeof (v as { lazy?: unknown }).lazy === 'function' && typeof (v as { height?: unknown }).height === 'number';
}

/** For msgpackr's extension lookup, which asks `value instanceof Class` (byte views at once, as above). */
export class PolarsDataFrameClass {
  static [Symbol.hasInstance](v: unknown): boolean {
    return !ArrayBuffer.isView(v) && isDataFrame(v);
  }
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function tableToIpcBuffer(t: Table): Buffer {
  return asBuffer(loadArrow().tableToIPC(ownArrowTable(t), 'stream'));
}

/**
 * Arrow views IPC buffers in place only when they are 8-byte aligned; otherwise
 * it copies each one on a slow path (measured: 180 ms for 49 MB against 16 ms
 * aligned). A frame that landed unaligned in a receive buffer is copied once.
 */
function aligned(bytes: Uint8Array): Uint8Array {
  if (bytes.byteOffset % 8 === 0) return bytes;
  // Buffer#copy is a memcpy; a typed-array slice of shared memory copies element by element.
  const out = Buffer.allocUnsafeSlow(bytes.byteLength);
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).copy(out);
  return out;
}

export function tableFromIpcBytes(bytes: Uint8Array): Table {
  return loadArrow().tableFromIPC(aligned(bytes));
}

export function tableFromAlignedIpcBytes(bytes: Uint8Array): Table {
  return loadArrow().tableFromIPC(aligned(bytes.subarray(2)));
}

/** A DataFrame as polars' own IPC stream; it arrives as a DataFrame again. */
export function dataFrameToIpcBuffer(df: import('nodejs-polars').DataFrame): Buffer {
  return asBuffer(df.writeIPCStream() as unknown as Uint8Array);
}

export function dataFrameFromIpcBytes(bytes: Uint8Array): import('nodejs-polars').DataFrame {
  return loadPolars().readIPCStream(asBuffer(bytes));
}

/**
 * A table's IPC stream as the writer's own pieces: message headers and views
 * of the columns' buffers. Arrow's tableToIPC joins them into one new array,
 * a copy (into fresh memory, which page-faults) that encodeColumnarFrame then
 * copies again; the pieces let it copy once. The writer's queue of pieces is
 * not public API (apache-arrow 21.2.0 is pinned), so anything unexpected there
 * falls back to the joined array.
 */
function ipcPieces(t: Table): Uint8Array[] {
  const writer = loadArrow().RecordBatchStreamWriter.writeAll(t);
  const pieces = (writer as unknown as { _sink?: { _values?: unknown } })._sink?._values;
  if (Array.isArray(pieces) && pieces.every((p) => p instanceof Uint8Array)) return pieces as Uint8Array[];
  return [writer.toUint8Array(true)];
}

/**
 * A top-level table as a msgpack ext32 value in a buffer of its own
 * (shared memory, like large byte results): header, then the IPC bytes.
 */
export function encodeColumnarFrame(value: Table | import('nodejs-polars').DataFrame): Buffer {
  const arrow = isArrowTable(value);
  const pieces = arrow ? ipcPieces(ownArrowTable(value)) : [dataFrameToIpcBuffer(value as import('nodejs-polars').DataFrame)];
  const size = pieces.reduce((n, p) => n + p.byteLength, 0);
  const pad = arrow ? 2 : 0;
  const out = Buffer.from(new SharedArrayBuffer(6 + pad + size));
  out[0] = 0xc9;
  out.writeUInt32BE(pad + size, 1);
  out.writeInt8(arrow ? ARROW_ALIGNED_EXT : POLARS_EXT, 5);
  // Buffer#copy is a memcpy; TypedArray#set into shared memory is far slower here.
  let at = 6 + pad;
  for (const p of pieces) at += asBuffer(p).copy(out, at);
  return out;
}

export type { Table };
