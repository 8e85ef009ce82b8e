/**
 * Hidden-class pins for the threads that run table tasks.
 *
 * Why: V8 gives an object a new hidden class (map) each time a property is
 * added, and holds those maps only weakly from their parent map. Optimized
 * code refers to the maps it checks weakly too. All of a task's objects die
 * when the task ends (Arrow's Data, Vector and Table, the flatbuffers Builder
 * of the IPC writer, the KeyDict of a shuffle). The next full GC then
 * collected their maps and deoptimized every function optimized against them:
 * about 90 functions per operation (`--trace-deopt`: "reason: weak objects").
 * The next task built the same maps anew and recompiled the same functions.
 * In a 5M-row groupBy().apply that recompiling took about 0.4 s of CPU per
 * worker on V8's helper threads (test/fixtures/weak-deopt-probe.ts shows it in one process).
 *
 * One live object of each shape keeps its maps, and with them the optimized
 * code, alive. The pins are made from the tasks' own tables (a one-row copy,
 * once per schema), not from a catalogue of column types: running the kernels
 * over types the tasks never use would make their type feedback polymorphic,
 * which cost more than the recompiling (measured: split 2× slower).
 */
import { MessageReader, RecordBatchReader, RecordBatchStreamWriter, makeBuilder, type Table } from 'apache-arrow';
import { VectorAssembler } from 'apache-arrow/visitor/vectorassembler';
import { VectorLoader } from 'apache-arrow/visitor/vectorloader';
import { Builder, ByteBuffer } from 'flatbuffers';
import { fromIPC, take, toIPC } from './kernels.ts';
import { KeyDict } from './keys.ts';
import { streamExemplars } from './ipc-stream.ts';

/** Schemas pinned so far; beyond this many, new ones are not pinned (a thread seeing endless schemas is not the common case). */
const MAX_SCHEMAS = 64;

/** One row of each schema seen, as made by take and as read from IPC, kept for the life of the thread. */
const bySchema = new Map<string, unknown[]>();
/** Objects of the classes every task makes, whatever its schema. */
const common: unknown[] = [];
let failure: unknown;

function pinCommon(): void {
  // The IPC writer's per-message builder and the buffer it writes into; a dictionary of one- and two-column keys.
  const b = new Builder(64);
  b.finish(b.createString('pin'));
  common.push(b, new ByteBuffer(b.asUint8Array()), new KeyDict(1), new KeyDict(2));
}

/** The signature of what decides a table's shapes: column names and types, and which columns of its first batch have nulls. */
function signature(t: Table): string {
  const first = t.batches[0];
  return t.schema.fields.map((f, i) => `${f.name}:${String(f.type)}:${(first?.getChildAt(i)?.nullCount ?? 0) > 0 ? 'n' : ''}`).join('|');
}

/** Largest table kept as it is (`itself`): its buffers' memory, so a slice of a large table is never kept. */
const MAX_KEPT_BYTES = 64 * 1024;

function heldBytes(t: Table): number {
  let n = 0;
  const visit = (d: { buffers: Array<ArrayBufferView | undefined>; children: unknown[] }): void => {
    for (const b of d.buffers) if (b) n += b.buffer.byteLength;
    for (const c of d.children) visit(c as typeof d);
  };
  for (const batch of t.batches) for (const d of batch.data.children) visit(d as unknown as Parameters<typeof visit>[0]);
  return n;
}

/**
 * Keep a one-row copy of `t` (and the same read back from IPC) if no table of
 * its signature is pinned yet; with `itself`, keep `t` too when it is small
 * (a group function's result, whose objects the user's code made). Cheap
 * after the first call per signature (one string built); never throws, since
 * pins are an optimization.
 */
export function pinLike(t: Table, options: { itself?: boolean } = {}): void {
  if (common.length === 0) pinCommon();
  if (t.numRows === 0 || bySchema.size >= MAX_SCHEMAS) return;
  try {
    const sig = signature(t);
    if (bySchema.has(sig)) return;
    bySchema.set(sig, exemplars(t, options.itself === true));
  } catch (err) {
    // A column a kernel refuses: the task itself reports it; this table is just not pinned.
    failure = err;
  }
}

/** `t`, with its shapes pinned for later tasks (pinLike). */
export function pinned(t: Table): Table {
  pinLike(t);
  return t;
}

/**
 * A one-row copy of `t` and the objects the kernels and Arrow make around a
 * table of its schema, each through the same constructors: written to IPC
 * (writer, assembler) and read back (message and batch readers), and built
 * column by column as vectorFromArray does (builders).
 */
function exemplars(t: Table, itself: boolean): unknown[] {
  const one = take(t, [0]);
  const bytes = toIPC(one);
  const kept: unknown[] = [one, fromIPC(bytes), RecordBatchStreamWriter.writeAll(one), ...streamExemplars(one)];
  const batch = one.batches[0];
  if (batch) kept.push(VectorAssembler.assemble(batch));
  const messages = new MessageReader(bytes);
  const schema = messages.readSchema();
  kept.push(messages, schema);
  for (let m = messages.readMessage(); m; m = messages.readMessage()) {
    const body = messages.readMessageBody(m.bodyLength);
    kept.push(m);
    // The loader the batch reader makes per batch, over this message's nodes and buffers.
    if (m.isRecordBatch() && schema) {
      const h = m.header();
      const loader = new VectorLoader(body, h.nodes, h.buffers, new Map(), schema.metadataVersion, h.variadicBufferCounts);
      kept.push(loader, loader.visitMany(schema.fields.map((f) => f.type)));
    }
  }
  const batches = RecordBatchReader.from(bytes);
  kept.push(batches, [...batches]);
  // What a group function gets (a slice) and reads (its columns).
  const slice = one.slice(0, 1);
  kept.push(slice, slice.schema.fields.map((_f, i) => slice.getChildAt(i)));
  one.schema.fields.forEach((f, i) => {
    const b = makeBuilder({ type: f.type, nullValues: [null] });
    b.append(one.getChildAt(i)?.get(0));
    b.finish();
    kept.push(b, b.toVector());
  });
  if (itself && heldBytes(t) <= MAX_KEPT_BYTES) kept.push(t);
  return kept;
}

/** @internal For tests: schemas pinned, common objects kept, and the last pinning failure (undefined if none). */
export function pinState(): { schemas: number; common: number; failure: unknown } {
  return { schemas: bySchema.size, common: common.length, failure };
}
