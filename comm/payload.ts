import { Packr, addExtension } from 'msgpackr';
import { headedFrame } from './raw-result.ts';
import {
  ARROW_ALIGNED_EXT, ARROW_EXT, ArrowTableClass, POLARS_EXT, PolarsDataFrameClass, dataFrameFromIpcBytes, isArrowTable, dataFrameToIpcBuffer, encodeColumnarFrame, isDataFrame, tableFromAlignedIpcBytes,
  tableFromIpcBytes, tableToIpcBuffer,
} from './table-codec.ts';
import { describeUnencodable, encodeFailure, type PathRoot } from './unencodable.ts';

/**
 * Task values on the wire: arguments and results are msgpack (structured
 * clone: Maps, Sets, Dates, typed arrays, BigInt, cycles and undefined survive).
 * A reference to another task's result inside the arguments is a `KeyRef`;
 * the worker replaces it with that result before calling the function.
 */
export class KeyRef {
  constructor(readonly key: string) {}
}

let resolving: ((key: string) => unknown) | null = null;

addExtension({
  Class: KeyRef,
  type: 0x52,
  pack: (ref: KeyRef) => Buffer.from(ref.key, 'utf8'),
  unpack: (bytes: Uint8Array) => {
    const key = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
    return resolving ? resolving(key) : new KeyRef(key);
  },
});

/**
 * Inside encodeValue only: msgpackr's extension lookup (`value instanceof
 * Class`) asks this about every object that is not a plain object, array or
 * Map, so values it would silently turn into `{}` or a plain object (a
 * WeakMap, a Promise, a class instance with methods) make the encoder throw,
 * and encodeFailure names their paths. Extensions are global to msgpackr,
 * hence the flag: other packers in the process are unaffected.
 */
let guarding = false;

class Unencodable {
  static [Symbol.hasInstance](value: unknown): boolean {
    return guarding && describeUnencodable(value) !== undefined;
  }
}

addExtension({
  Class: Unencodable,
  type: 0x53,
  write: () => {
    throw new TypeError('unencodable value');
  },
});

/**
 * Arrow Tables and polars DataFrames travel as Arrow IPC (comm/table-codec.ts).
 * Registered after Unencodable on purpose: msgpackr asks the most recently
 * added extension first, so a table is never refused as a class instance.
 */
addExtension({ Class: ArrowTableClass, type: ARROW_EXT, pack: tableToIpcBuffer, unpack: tableFromIpcBytes });
addExtension({ Class: PolarsDataFrameClass, type: POLARS_EXT, pack: dataFrameToIpcBuffer, unpack: dataFrameFromIpcBytes });
// Decode-only: encodeValue writes top-level tables in this padded form itself.
addExtension({ type: ARROW_ALIGNED_EXT, unpack: tableFromAlignedIpcBytes });

const packr = new Packr({
  structuredClone: true,
  useRecords: true,
  mapsAsObjects: false,
  moreTypes: true,
  // Functions (msgpackr writes them as nil by default) fail the encode, and encodeFailure names their paths.
  writeFunction: () => {
    throw new TypeError('function value');
  },
});

/** Pack with the guard on; any failure becomes a SerializationError naming the offending paths. */
function packGuarded(value: unknown, root: PathRoot): Buffer {
  const previous = guarding;
  guarding = true;
  try {
    return packr.pack(value);
  } catch (err) {
    throw encodeFailure(value, root, err);
  } finally {
    guarding = previous;
  }
}

/** Byte results at least this large skip the msgpack encoder (one copy, plain bin32 header). */
const RAW_BYTES_THRESHOLD = 64 * 1024;

/**
 * Encode a value into a Buffer of its own (safe to keep or transfer). Throws
 * SerializationError, naming each path under `root` (such as `args[1].cb`),
 * for values that cannot travel: functions, symbols, WeakMaps, Promises,
 * class instances whose methods would be lost (see unencodable.ts).
 */
export function encodeValue(value: unknown, root: PathRoot = 'value'): Buffer {
  // A table is a few large buffers: one copy into a frame of its own, as large byte arrays below.
  if (isArrowTable(value) || isDataFrame(value)) return encodeColumnarFrame(value);
  if (value instanceof Uint8Array && value.byteLength >= RAW_BYTES_THRESHOLD && value.byteLength <= 0xffffffff) {
    // Written by its producer after its header already (comm/raw-result.ts): the frame is the bytes themselves.
    const headed = headedFrame(value);
    if (headed) return Buffer.from(headed.buffer, headed.byteOffset, headed.byteLength);
    // msgpack bin32: decodes to a Buffer viewing the received bytes (no copy on the way in).
    // Shared memory, so threads and the worker pass it around without copying.
    const out = Buffer.from(new SharedArrayBuffer(5 + value.byteLength));
    out[0] = 0xc6;
    out.writeUInt32BE(value.byteLength, 1);
    out.set(value, 5);
    return out;
  }
  const packed = packGuarded(value, root);
  // Small values share Node's buffer pool (cheap); large ones get their own memory.
  const own = packed.length < 4096 ? Buffer.allocUnsafe(packed.length) : Buffer.allocUnsafeSlow(packed.length);
  packed.copy(own);
  return own;
}

/**
 * Encode a value into a view that is valid only until the next encode (the
 * caller copies it at once). Large byte arrays still come back as their own
 * buffer. Workers encode task results with it, hence the default root.
 */
export function encodeValueView(value: unknown, root: PathRoot = 'result'): Uint8Array {
  if ((value instanceof Uint8Array && value.byteLength >= RAW_BYTES_THRESHOLD) || isArrowTable(value) || isDataFrame(value)) return encodeValue(value, root);
  return packGuarded(value, root);
}

/** Decode a value; KeyRefs stay KeyRefs unless `resolve` maps them. */
export function decodeValue(bytes: Uint8Array, resolve?: (key: string) => unknown): unknown {
  const previous = resolving;
  resolving = resolve ?? null;
  try {
    return packr.unpack(bytes);
  } finally {
    resolving = previous;
  }
}

/** How a task's function is defined. Sent once per function, then referred to by id. */
export type FunctionDef =
  | { kind: 'inline'; name: string; source: string }
  | { kind: 'module'; name: string; hash: string; exportName: string }
  | { kind: 'command'; name: string; argv: string[]; cwd?: string; env?: Record<string, string>; allowNonZero?: boolean }
  | { kind: 'identity'; name: string };

/** What the scheduler keeps per task and sends to the worker: function id and encoded arguments. */
export interface RunSpec {
  f: string;
  a: Uint8Array;
}

/** Errors travel as data with the original name, message and stack. */
export interface WireError {
  name: string;
  message: string;
  stack?: string;
}

export function toWireError(err: unknown): WireError {
  if (err instanceof Error) return { name: err.name, message: err.message, ...(err.stack ? { stack: err.stack } : {}) };
  return { name: 'Error', message: typeof err === 'string' ? err : `non-Error value thrown: ${safeString(err)}` };
}

function safeString(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** Identity of the built-in function used by `scatter`. */
export const IDENTITY_FN = 'identity';
