/**
 * Arrow IPC streams of one schema and record batches, written and read
 * without Arrow JS's stream machinery (RecordBatchStreamWriter,
 * RecordBatchReader): the same bytes, from the same metadata encoder and
 * vector assembler and loader, called directly.
 *
 * Why: a shuffle writes and reads one small stream per (input, output) pair,
 * 400 of each for 20 partitions, two per shard for a groupBy().apply. Per
 * stream Arrow's writer sets up a sink and an async byte queue and encodes
 * the schema, and its reader sets up a message reader over an iterator and
 * decodes the schema again: more than the batch itself costs for shards of
 * a few hundred kB. Here the schema message is encoded once per Schema
 * object and its fields decoded once per distinct schema bytes. Measured in
 * bench/FINDINGS.md §8c.
 *
 * Streams this path does not cover (dictionaries, compression, anything
 * malformed) go through Arrow's own reader and writer, so any valid stream reads, and what is written is byte for byte
 * what RecordBatchStreamWriter writes (test/unit/tables/ipc-stream.test.ts).
 */
import { MessageHeader, RecordBatch, RecordBatchStreamWriter, Schema, Struct, Table, makeData, tableFromIPC, type Data, type Field } from 'apache-arrow';
import { Message, RecordBatch as RecordBatchMeta } from 'apache-arrow/ipc/metadata/message';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { DataType } from 'apache-arrow/type';
import { _InternalEmptyPlaceholderRecordBatch as EmptyBatch } from 'apache-arrow/recordbatch';

/** The stream continuation marker and the end-of-stream marker (Arrow's format since 0.15). */
const CONTINUATION = 0xffffffff;
const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
const PAD = new Uint8Array(8);

/** An encapsulated message: continuation, metadata length, the flatbuffer, padded to 8 bytes. */
function encapsulate(message: Message): Uint8Array {
  const fb = Message.encode(message);
  const size = (fb.byteLength + 8 + 7) & ~7;
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  view.setUint32(0, CONTINUATION, true);
  view.setInt32(4, size - 8, true);
  out.set(fb, 8);
  return out;
}

const schemaMessages = new WeakMap<Schema, Uint8Array>();

function schemaMessage(schema: Schema): Uint8Array {
  let m = schemaMessages.get(schema);
  if (!m) schemaMessages.set(schema, (m = encapsulate(Message.from(schema))));
  return m;
}

/** Whether a field's type (or a child's) is dictionary-encoded: those streams carry dictionary batches. */
function hasDictionary(type: DataType): boolean {
  return DataType.isDictionary(type) || (type.children ?? []).some((f: Field) => hasDictionary(f.type));
}

function plainSchema(schema: Schema): boolean {
  return !schema.fields.some((f) => hasDictionary(f.type));
}

/**
 * The IPC stream of `t` as pieces (the schema message, then per batch its
 * message and its body buffers with their padding, then end of stream), not
 * joined: callers write them once into the memory they travel in.
 */
export function streamPieces(t: Table): Uint8Array[] {
  if (!plainSchema(t.schema)) return arrowWriterPieces(t);
  const pieces: Uint8Array[] = [schemaMessage(t.schema)];
  for (const batch of t.batches) {
    const { byteLength, nodes, bufferRegions, buffers, variadicBufferCounts } = VectorAssembler.assemble(batch) as unknown as Assembled;
    const meta = new RecordBatchMeta(batch.numRows, nodes, bufferRegions, null, variadicBufferCounts, batch.metadata);
    pieces.push(encapsulate(Message.from(meta, byteLength)));
    for (const b of buffers) {
      if (b.byteLength === 0) continue;
      // The assembler hands each buffer as its column's typed array (Int32Array, BigInt64Array...): as bytes.
      pieces.push(b instanceof Uint8Array ? b : new Uint8Array(b.buffer, b.byteOffset, b.byteLength));
      const pad = ((b.byteLength + 7) & ~7) - b.byteLength;
      if (pad > 0) pieces.push(PAD.subarray(0, pad));
    }
  }
  pieces.push(EOS);
  return pieces;
}

/**
 * The objects one write and one read of `t` make (shapes.ts keeps them, so their hidden classes, and the code
 * optimized against them, outlive each task).
 */
export function streamExemplars(t: Table): unknown[] {
  const kept: unknown[] = [];
  const batch = t.batches[0];
  if (!batch || !plainSchema(t.schema)) return kept;
  const { byteLength, nodes, bufferRegions, variadicBufferCounts } = VectorAssembler.assemble(batch) as unknown as Assembled;
  const meta = new RecordBatchMeta(batch.numRows, nodes, bufferRegions, null, variadicBufferCounts, batch.metadata);
  const message = Message.from(meta, byteLength);
  const bytes = Message.encode(message);
  kept.push(meta, message, Message.decode(bytes), Message.from(t.schema));
  return kept;
}

interface Assembled {
  byteLength: number;
  nodes: ConstructorParameters<typeof RecordBatchMeta>[1];
  bufferRegions: ConstructorParameters<typeof RecordBatchMeta>[2];
  buffers: ArrayBufferView[];
  variadicBufferCounts: number[];
}

function arrowWriterPieces(t: Table): Uint8Array[] {
  const writer = RecordBatchStreamWriter.writeAll(t);
  // The writer's sink holds the pieces it wrote (apache-arrow 21, pinned); another layout falls back to one joined piece.
  const pieces = (writer as unknown as { _sink?: { _values?: unknown } })._sink?._values;
  if (Array.isArray(pieces) && pieces.every((p) => p instanceof Uint8Array)) return pieces as Uint8Array[];
  return [writer.toUint8Array(true)];
}

/** Recently decoded schemas by their message bytes: the shards of one shuffle share one. */
const decoded: Array<{ bytes: Uint8Array; schema: Schema }> = [];
const DECODED_KEPT = 8;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * The schema of a schema message. A table gets a Schema of its own (its metadata Map a copy) over the decoded
 * fields: a user function that changes one table's schema metadata changes no other table's.
 */
function decodeSchema(fb: Uint8Array): Schema | null {
  const known = decoded.find((d) => sameBytes(d.bytes, fb))?.schema ?? decodeNew(fb);
  return known && new Schema(known.fields, new Map(known.metadata), known.dictionaries, known.metadataVersion);
}

function decodeNew(fb: Uint8Array): Schema | null {
  const message = Message.decode(fb);
  if (message.headerType !== MessageHeader.Schema) return null;
  const schema = message.header() as Schema;
  if (!plainSchema(schema)) return null;
  decoded.unshift({ bytes: fb.slice(), schema });
  if (decoded.length > DECODED_KEPT) decoded.pop();
  return schema;
}

/**
 * The table of an IPC stream. Batch bodies are views of `bytes` (no copy),
 * as with tableFromIPC. Anything but a plain schema followed by uncompressed
 * record batches is read by Arrow's reader.
 */
export function readStream(bytes: Uint8Array): Table {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  let schema: Schema | null = null;
  const batches: RecordBatch[] = [];
  while (at + 8 <= bytes.byteLength) {
    if (view.getUint32(at, true) !== CONTINUATION) return tableFromIPC(bytes);
    const len = view.getInt32(at + 4, true);
    if (len === 0) break;
    if (len < 0 || at + 8 + len > bytes.byteLength) return tableFromIPC(bytes);
    const fb = bytes.subarray(at + 8, at + 8 + len);
    at += 8 + len;
    if (schema === null) {
      schema = decodeSchema(fb);
      if (schema === null) return tableFromIPC(bytes);
      continue;
    }
    const message = Message.decode(fb);
    if (message.headerType !== MessageHeader.RecordBatch) return tableFromIPC(bytes);
    const header = message.header() as RecordBatchMeta & { variadicBufferCounts?: number[] };
    const bodyLength = Number(message.bodyLength);
    if (header.compression != null || bodyLength < 0 || at + bodyLength > bytes.byteLength) return tableFromIPC(bytes);
    // As Arrow's reader: a body not at an 8-byte boundary is copied (typed arrays of 8-byte values need alignment).
    const inPlace = bytes.subarray(at, at + bodyLength);
    const body = inPlace.byteOffset % 8 === 0 ? inPlace : inPlace.slice();
    at += bodyLength;
    const children = new VectorLoader(body, header.nodes, header.buffers, new Map(), schema.metadataVersion, header.variadicBufferCounts).visitMany(schema.fields) as Data[];
    batches.push(new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: header.length, children }), message.metadata));
  }
  if (schema === null) return tableFromIPC(bytes);
  // As Arrow's reader: a stream without batches reads as one empty batch (a table of no batches cannot be sliced).
  if (batches.length === 0) batches.push(new EmptyBatch(schema));
  return new Table(schema, batches);
}
