import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { FileMetaData } from 'hyparquet';

/**
 * Parquet decoding under a watchdog. hyparquet trusts the lengths and run
 * counts inside a file: a damaged page (say a flipped byte in a run length)
 * can make it loop for minutes or grow an array without bound, and a loop
 * cannot be interrupted on the thread that runs it. So column chunks are
 * fetched here, decoded on a separate thread with a heap limit, and a decode
 * that outlives its deadline or its heap is stopped and reported as corrupt.
 * The thread returns Arrow-ready buffers (values, offsets, validity), moved
 * rather than copied.
 */
export type ColumnKind = { kind: 'bytes' } | { kind: 'bool' } | { kind: 'typed'; ctor: string };

export interface DecodedColumn {
  values: ArrayBufferView;
  offsets?: Int32Array;
  validity?: Uint8Array;
  nullCount: number;
  length: number;
}

export interface DecodeRequest {
  byteLength: number;
  ranges: Array<{ start: number; bytes: Uint8Array }>;
  metadata: FileMetaData;
  columns: string[];
  rowStart: number;
  rows: number;
  kinds: Record<string, ColumnKind>;
}

/** The thread body (plain JavaScript: it must run the same from source, under tsx, and from the worker bundle). */
const THREAD_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const hyparquet = import(workerData.hyparquet);
const PARSERS = { dateFromDays: (d) => d, timestampFromMilliseconds: (v) => v, timestampFromMicroseconds: (v) => v, timestampFromNanoseconds: (v) => v, stringFromBytes: (b) => b, jsonFromBytes: (b) => b };
function sparse(byteLength, ranges) {
  return { byteLength, slice(start, end) {
    end = end === undefined ? byteLength : end;
    for (const r of ranges) if (start >= r.start && end <= r.start + r.bytes.byteLength) { const b = r.bytes.subarray(start - r.start, end - r.start); return b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength); }
    throw new Error('read outside the column chunks the footer names (' + start + '..' + end + ')');
  } };
}
function validityOf(values) {
  let nulls = 0;
  for (let i = 0; i < values.length; i++) if (values[i] === null || values[i] === undefined) nulls++;
  if (nulls === 0) return { validity: undefined, nullCount: 0 };
  const bits = new Uint8Array((values.length + 7) >> 3);
  for (let i = 0; i < values.length; i++) if (values[i] !== null && values[i] !== undefined) bits[i >> 3] |= 1 << (i & 7);
  return { validity: bits, nullCount: nulls };
}
function concat(pieces, rows, name) {
  pieces.sort((a, b) => a.rowStart - b.rowStart);
  let total = 0; for (const p of pieces) total += p.columnData.length;
  if (total !== rows) throw new Error('column "' + name + '" decoded ' + total + ' values for a row group of ' + rows + ' rows');
  if (pieces.length === 1) return pieces[0].columnData;
  const first = pieces[0] && pieces[0].columnData;
  if (ArrayBuffer.isView(first) && pieces.every((p) => p.columnData.constructor === first.constructor)) {
    const out = new first.constructor(total); let at = 0;
    for (const p of pieces) { out.set(p.columnData, at); at += p.columnData.length; }
    return out;
  }
  const out = new Array(total); let at = 0;
  for (const p of pieces) for (let i = 0; i < p.columnData.length; i++) out[at++] = p.columnData[i];
  return out;
}
function encode(values, kind, transfer) {
  const n = values.length;
  if (kind.kind === 'bytes') {
    const { validity, nullCount } = validityOf(values);
    const offsets = new Int32Array(n + 1); let total = 0;
    for (let i = 0; i < n; i++) { const v = values[i]; if (v) total += v.byteLength; offsets[i + 1] = total; }
    const data = new Uint8Array(total);
    for (let i = 0; i < n; i++) { const v = values[i]; if (v && v.byteLength) data.set(v, offsets[i]); }
    transfer.push(offsets.buffer, data.buffer); if (validity) transfer.push(validity.buffer);
    return { values: data, offsets, validity, nullCount, length: n };
  }
  if (kind.kind === 'bool') {
    const { validity, nullCount } = validityOf(values);
    const bits = new Uint8Array((n + 7) >> 3);
    for (let i = 0; i < n; i++) if (values[i]) bits[i >> 3] |= 1 << (i & 7);
    transfer.push(bits.buffer); if (validity) transfer.push(validity.buffer);
    return { values: bits, validity, nullCount, length: n };
  }
  const Ctor = globalThis[kind.ctor];
  let out = values;
  let v = { validity: undefined, nullCount: 0 };
  if (!(values instanceof Ctor)) {
    v = validityOf(values);
    const big = Ctor === BigInt64Array || Ctor === BigUint64Array;
    out = new Ctor(n);
    for (let i = 0; i < n; i++) { const x = values[i]; if (x === null || x === undefined) continue; out[i] = big ? (typeof x === 'bigint' ? x : BigInt(x)) : (typeof x === 'bigint' ? Number(x) : x); }
  } else if (out.byteOffset !== 0 || out.byteLength !== out.buffer.byteLength) out = out.slice();
  transfer.push(out.buffer); if (v.validity) transfer.push(v.validity.buffer);
  return { values: out, validity: v.validity, nullCount: v.nullCount, length: n };
}
parentPort.on('message', async (req) => {
  try {
    const { parquetRead } = await hyparquet;
    const pieces = new Map(req.columns.map((c) => [c, []]));
    await parquetRead({ file: sparse(req.byteLength, req.ranges), metadata: req.metadata, columns: req.columns, rowStart: req.rowStart, rowEnd: req.rowStart + req.rows, parsers: PARSERS,
      onChunk: (c) => { const l = pieces.get(c.columnName); if (l && c.rowStart >= req.rowStart && c.rowEnd <= req.rowStart + req.rows) l.push(c); } });
    const transfer = []; const out = {};
    for (const [name, list] of pieces) out[name] = encode(concat(list, req.rows, name), req.kinds[name], transfer);
    parentPort.postMessage({ id: req.id, columns: out }, transfer);
  } catch (err) {
    parentPort.postMessage({ id: req.id, error: String(err && err.message || err) });
  }
});
`;

/** hyparquet reads column chunks less than 8 KiB apart in one slice; fetch them the same way. */
const MERGE_GAP = 1 << 13;

/** Default deadline for one row group: generous on a loaded machine, short of a hang. */
export function defaultDecodeDeadlineMs(bytes: number): number {
  return 20_000 + Math.ceil(bytes / 1e6) * 4_000;
}

/** Heap of the decode thread: a damaged run count fails here instead of growing without bound. */
const HEAP_MB = 1536;

let hyparquetUrl: string | undefined;
function hyparquetEntry(): string {
  hyparquetUrl ??= pathToFileURL(createRequire(import.meta.url).resolve('hyparquet')).href;
  return hyparquetUrl;
}

class DecodeThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: Record<string, DecodedColumn>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  dead = false;

  constructor() {
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { hyparquet: hyparquetEntry() }, resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; columns?: Record<string, DecodedColumn>; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (m.error !== undefined) p.reject(new Error(m.error));
      else p.resolve(m.columns as Record<string, DecodedColumn>);
      if (this.pending.size === 0) this.worker.unref();
    });
    const fail = (err: Error) => this.kill(err);
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => this.kill(new Error(`the decoder stopped (exit ${code})`)));
  }

  decode(req: DecodeRequest, ms: number): Promise<Record<string, DecodedColumn>> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.kill(new Error(`decoding did not finish within ${Math.round(ms / 1000)} s`)), ms);
      this.pending.set(id, { resolve, reject, timer });
      this.worker.ref();
      // Move fetched chunks that own their memory; a view into shared or pooled memory is copied.
      const transfer = req.ranges.map((r) => r.bytes).filter((b) => b.byteOffset === 0 && b.byteLength === b.buffer.byteLength && b.buffer instanceof ArrayBuffer).map((b) => b.buffer as ArrayBuffer);
      this.worker.postMessage({ id, ...req }, transfer);
    });
  }

  private kill(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    void this.worker.terminate();
  }
}

let thread: DecodeThread | undefined;

/** Decodes one row group's columns on the decode thread; a damaged file rejects (never hangs). */
export async function decodeRowGroup(req: DecodeRequest, deadlineMs?: number): Promise<Record<string, DecodedColumn>> {
  if (!thread || thread.dead) thread = new DecodeThread();
  const bytes = req.ranges.reduce((n, r) => n + r.bytes.byteLength, 0);
  return thread.decode(req, deadlineMs ?? defaultDecodeDeadlineMs(bytes));
}

/**
 * Byte ranges holding the given columns of one row group, merged when they
 * are close (hyparquet reads neighbouring chunks in one slice), or a problem
 * when the footer names bytes outside the file.
 */
export function chunkRanges(metadata: FileMetaData, group: number, columns: readonly string[], byteLength: number): Array<{ start: number; end: number }> | string {
  const rg = metadata.row_groups[group];
  if (!rg) return `no row group ${group}`;
  const spans: Array<{ start: number; end: number }> = [];
  for (const c of rg.columns) {
    const md = c.meta_data;
    if (!md || md.path_in_schema.length === 0 || !columns.includes(md.path_in_schema[0] as string)) continue;
    const start = Number(md.dictionary_page_offset ?? md.data_page_offset);
    const data = Number(md.data_page_offset);
    const from = Math.min(start > 0 ? start : data, data);
    const end = from + Number(md.total_compressed_size);
    if (!(from >= 0 && end <= byteLength && end >= from)) return `column "${md.path_in_schema.join('.')}" of row group ${group} lies at bytes ${from}..${end}, outside the ${byteLength}-byte file`;
    spans.push({ start: from, end });
  }
  spans.sort((a, b) => a.start - b.start);
  const merged: Array<{ start: number; end: number }> = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s.start <= last.end + MERGE_GAP) last.end = Math.max(last.end, s.end);
    else merged.push({ ...s });
  }
  return merged;
}
