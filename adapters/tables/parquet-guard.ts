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
 *
 * Two decoders run there. The fast one reads each column chunk of a whole row
 * group page by page with hyparquet's own page readers (headers, levels,
 * decompression, dictionaries, encodings) and writes values straight into
 * typed arrays and one offsets + bytes pair per string column; only PLAIN
 * byte-array values are split here, so no per-value objects are made. It
 * halved the CPU of a 1M-row read (docs/data-engine.md). Columns it does not
 * take (decimals, FLOAT16, nested) go through hyparquet's parquetRead.
 * Both decompress Snappy with hysnappy (WebAssembly) instead of hyparquet's
 * JavaScript codec: 15 % less CPU per read.
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
  /** The row group, when the request decodes all of it (the fast path; otherwise hyparquet's parquetRead). */
  group?: number;
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
// Snappy through hysnappy (WebAssembly, by hyparquet's author, made for its compressors option): a third of
// the decode time with hyparquet's JavaScript snappy. It writes only inside its own memory and checks lengths.
const compressors = import(workerData.parts.hysnappy).then((m) => ({ SNAPPY: m.snappyUncompressor() }));
const pages = Promise.all([import(workerData.parts.column), import(workerData.parts.datapage), import(workerData.parts.plain), import(workerData.parts.schema), import(workerData.parts.encoding), compressors])
  .then(([column, datapage, plain, schema, encoding, compressors]) => ({ compressors, parquetHeader: column.parquetHeader, readDataPage: datapage.readDataPage, readDataPageV2: datapage.readDataPageV2, readPlain: plain.readPlain, getSchemaPath: schema.getSchemaPath, getMaxDefinitionLevel: schema.getMaxDefinitionLevel, readRleBitPackedHybrid: encoding.readRleBitPackedHybrid,
    decompressPage: (bytes, size, codec) => datapage.decompressPage(bytes, size, codec, compressors) }));
// A PLAIN page of byte arrays as positions in the page (hyparquet's reader makes one object per value):
// PLAIN byte arrays are a 4-byte little-endian length, then the bytes. Levels and decompression stay hyparquet's.
function plainBytesPage(p, header, compressed, codec, maxDef) {
  let defs = [];
  let values;
  let nValues;
  const bw = 32 - Math.clz32(maxDef);
  if (header.type === 'DATA_PAGE') {
    const page = p.decompressPage(compressed, Number(header.uncompressed_page_size), codec);
    const reader = { view: new DataView(page.buffer, page.byteOffset, page.byteLength), offset: 0 };
    const n = header.data_page_header.num_values;
    if (maxDef) { defs = new Array(n); p.readRleBitPackedHybrid(reader, bw, defs); }
    values = page.subarray(reader.offset);
    nValues = n;
    if (maxDef) for (let i = 0; i < n; i++) if (defs[i] !== maxDef) nValues--;
  } else {
    const d2 = header.data_page_header_v2;
    const rl = d2.repetition_levels_byte_length, dl = d2.definition_levels_byte_length;
    if (rl) throw new Error('repetition levels in a flat column');
    const reader = { view: new DataView(compressed.buffer, compressed.byteOffset, compressed.byteLength), offset: 0 };
    if (maxDef) { defs = new Array(d2.num_values); p.readRleBitPackedHybrid(reader, bw, defs, dl); }
    values = compressed.subarray(rl + dl);
    if (d2.is_compressed !== false) values = p.decompressPage(values, Number(header.uncompressed_page_size) - rl - dl, codec);
    nValues = d2.num_values - d2.num_nulls;
  }
  const starts = new Int32Array(nValues), lens = new Int32Array(nValues);
  const view = new DataView(values.buffer, values.byteOffset, values.byteLength);
  let o = 0;
  for (let i = 0; i < nValues; i++) {
    if (o + 4 > values.byteLength) throw new Error('a PLAIN page ends inside value ' + i + ' of ' + nValues);
    const len = view.getUint32(o, true);
    o += 4;
    if (len > values.byteLength - o) throw new Error('a PLAIN value of ' + len + ' bytes overruns its page');
    starts[i] = o; lens[i] = len; o += len;
  }
  return { definitionLevels: defs, dataPage: { plain: true, length: nValues, buf: values, starts, lens } };
}
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
// Fast path: flat columns of plain physical types, decoded page by page with hyparquet's own page
// readers straight into Arrow buffers. hyparquet's parquetRead turns every value of a nullable column
// into an element of a JS array (assembleLists) and copies each column chunk out of the fetched
// bytes; here values land in typed arrays, strings in one offsets + bytes pair, dictionary pages
// are expanded by index, and pages are read in place. Anything else takes the general path.
const FAST_TYPES = new Set(['BOOLEAN', 'INT32', 'INT64', 'FLOAT', 'DOUBLE', 'BYTE_ARRAY']);
function fastColumn(p, req, name, kind, transfer) {
  const md = req.metadata;
  const rg = md.row_groups[req.group];
  const chunk = rg && rg.columns.find((c) => c.meta_data && c.meta_data.path_in_schema.length === 1 && c.meta_data.path_in_schema[0] === name);
  if (!chunk) return undefined;
  const meta = chunk.meta_data;
  const schemaPath = p.getSchemaPath(md.schema, [name]);
  if (schemaPath.length !== 2) return undefined;
  const element = schemaPath[1].element;
  if (!FAST_TYPES.has(element.type) || element.repetition_type === 'REPEATED') return undefined;
  const lt = element.logical_type && element.logical_type.type;
  const ct = element.converted_type;
  if (lt === 'DECIMAL' || ct === 'DECIMAL' || lt === 'FLOAT16') return undefined;
  const start = Number(meta.dictionary_page_offset || meta.data_page_offset);
  const from = Math.min(start > 0 ? start : Number(meta.data_page_offset), Number(meta.data_page_offset));
  const size = Number(meta.total_compressed_size);
  const range = req.ranges.find((r) => from >= r.start && from + size <= r.start + r.bytes.byteLength);
  if (!range) throw new Error('column "' + name + '" lies outside the fetched bytes');
  const bytes = range.bytes;
  const reader = { view: new DataView(bytes.buffer, bytes.byteOffset + (from - range.start), size), offset: 0 };
  const decoder = { pathInSchema: [name], type: element.type, element, schemaPath, codec: meta.codec, parsers: {}, compressors: p.compressors, utf8: false };
  const maxDef = p.getMaxDefinitionLevel(schemaPath);
  const rows = req.rows;
  const Ctor = kind.kind === 'typed' ? globalThis[kind.ctor] : undefined;
  const out = Ctor ? new Ctor(rows) : kind.kind === 'bool' ? new Uint8Array((rows + 7) >> 3) : undefined;
  const pieces = []; // bytes: per page { def, values, dictionary }
  let validity;
  let nullCount = 0;
  let at = 0;
  let dictionary;
  while (at < rows) {
    if (reader.offset >= size) throw new Error('column "' + name + '" ended after ' + at + ' of ' + rows + ' values');
    const header = p.parquetHeader(reader);
    const compressed = new Uint8Array(reader.view.buffer, reader.view.byteOffset + reader.offset, header.compressed_page_size);
    reader.offset += header.compressed_page_size;
    if (reader.offset > size) throw new Error('column "' + name + '": a page overruns its column chunk');
    let page;
    let encoding;
    if (header.type === 'DICTIONARY_PAGE') {
      const raw = p.decompressPage(compressed, Number(header.uncompressed_page_size), decoder.codec);
      dictionary = p.readPlain({ view: new DataView(raw.buffer, raw.byteOffset, raw.byteLength), offset: 0 }, element.type, header.dictionary_page_header.num_values, element.type_length);
      continue;
    } else if (element.type === 'BYTE_ARRAY' && ((header.type === 'DATA_PAGE' && header.data_page_header.encoding === 'PLAIN') || (header.type === 'DATA_PAGE_V2' && header.data_page_header_v2.encoding === 'PLAIN'))) {
      page = plainBytesPage(p, header, compressed, decoder.codec, maxDef);
      encoding = 'PLAIN';
    } else if (header.type === 'DATA_PAGE') {
      const raw = p.decompressPage(compressed, Number(header.uncompressed_page_size), decoder.codec);
      page = p.readDataPage(raw, header.data_page_header, decoder);
      encoding = header.data_page_header.encoding;
    } else if (header.type === 'DATA_PAGE_V2') {
      page = p.readDataPageV2(compressed, header, decoder);
      encoding = header.data_page_header_v2.encoding;
    } else {
      continue; // index pages
    }
    const def = page.definitionLevels;
    const count = def && def.length ? def.length : page.dataPage.length;
    if (count === 0) throw new Error('column "' + name + '": a data page with no values');
    if (at + count > rows) throw new Error('column "' + name + '" holds more values than the ' + rows + ' rows of its row group');
    const byIndex = encoding === 'PLAIN_DICTIONARY' || encoding === 'RLE_DICTIONARY';
    if (byIndex && !dictionary) throw new Error('column "' + name + '": a dictionary-encoded page without a dictionary');
    const values = page.dataPage;
    // Levels are present for every page of a nullable column; a page whose values fill all its slots has no nulls.
    const hasNulls = def && def.length && maxDef > 0 && values.length !== count;
    if (!hasNulls && values.length !== count) throw new Error('column "' + name + '": ' + values.length + ' values for ' + count + ' slots');
    if (hasNulls && !validity) {
      validity = new Uint8Array((rows + 7) >> 3);
      for (let i = 0; i < at; i++) validity[i >> 3] |= 1 << (i & 7);
    }
    if (kind.kind === 'bytes') {
      pieces.push({ at, count, def: hasNulls ? def : undefined, values, dictionary: byIndex ? dictionary : undefined });
    } else if (!hasNulls && !byIndex && kind.kind === 'typed' && ArrayBuffer.isView(values) && values.length === count) {
      out.set(values, at); // numbers (or bigints) of the page's physical type, converted to the column's by TypedArray#set
    } else {
      let v = 0;
      for (let i = 0; i < count; i++) {
        const present = !hasNulls || def[i] === maxDef;
        if (!present) { nullCount++; continue; }
        let x = values[v++];
        if (byIndex) { const k = x; x = dictionary[k]; if (k >= dictionary.length || k < 0) throw new Error('column "' + name + '": dictionary index ' + k + ' out of range'); }
        if (kind.kind === 'bool') { if (x) out[(at + i) >> 3] |= 1 << ((at + i) & 7); }
        else out[at + i] = x;
      }
      if (v !== values.length) throw new Error('column "' + name + '": ' + values.length + ' values for ' + v + ' defined slots');
    }
    if (validity) for (let i = 0; i < count; i++) if (!hasNulls || def[i] === maxDef) validity[(at + i) >> 3] |= 1 << ((at + i) & 7);
    at += count;
  }
  if (kind.kind === 'bytes') {
    const offsets = new Int32Array(rows + 1);
    let total = 0;
    for (const pc of pieces) {
      let v = 0;
      const plain = pc.values.plain ? pc.values : undefined;
      for (let i = 0; i < pc.count; i++) {
        if (pc.def && pc.def[i] !== maxDef) { nullCount++; offsets[pc.at + i + 1] = total; continue; }
        if (plain) { total += plain.lens[v++]; offsets[pc.at + i + 1] = total; if (total > 0x7fffffff) throw new Error('column "' + name + '" holds more than 2 GiB of bytes in one row group'); continue; }
        const x = pc.values[v++];
        const b = pc.dictionary ? pc.dictionary[x] : x;
        if (b === undefined) throw new Error('column "' + name + '": dictionary index ' + x + ' out of range');
        total += b.byteLength;
        if (total > 0x7fffffff) throw new Error('column "' + name + '" holds more than 2 GiB of bytes in one row group');
        offsets[pc.at + i + 1] = total;
      }
      if (v !== pc.values.length) throw new Error('column "' + name + '": ' + pc.values.length + ' values for ' + v + ' defined slots');
    }
    const data = new Uint8Array(total);
    for (const pc of pieces) {
      let v = 0;
      const plain = pc.values.plain ? pc.values : undefined;
      for (let i = 0; i < pc.count; i++) {
        if (pc.def && pc.def[i] !== maxDef) continue;
        if (plain) {
          const from = plain.starts[v], n = plain.lens[v++], o = offsets[pc.at + i], buf = plain.buf;
          if (n < 16) for (let j = 0; j < n; j++) data[o + j] = buf[from + j];
          else data.set(buf.subarray(from, from + n), o);
          continue;
        }
        const x = pc.values[v++];
        const b = pc.dictionary ? pc.dictionary[x] : x;
        const o = offsets[pc.at + i];
        const n = b.byteLength;
        if (n < 16) for (let j = 0; j < n; j++) data[o + j] = b[j];
        else data.set(b, o);
      }
    }
    if (nullCount === 0) validity = undefined;
    transfer.push(offsets.buffer, data.buffer); if (validity) transfer.push(validity.buffer);
    return { values: data, offsets, validity, nullCount, length: rows };
  }
  if (nullCount === 0) validity = undefined;
  transfer.push(out.buffer); if (validity) transfer.push(validity.buffer);
  return { values: out, validity, nullCount, length: rows };
}
parentPort.on('message', async (req) => {
  try {
    if (req.group !== undefined) {
      const p = await pages;
      const transfer = []; const out = {};
      let all = true;
      for (const name of req.columns) {
        const c = fastColumn(p, req, name, req.kinds[name], transfer);
        if (!c) { all = false; break; }
        out[name] = c;
      }
      if (all) { parentPort.postMessage({ id: req.id, columns: out, fast: true }, transfer); return; }
    }
    const { parquetRead } = await hyparquet;
    const pieces = new Map(req.columns.map((c) => [c, []]));
    await parquetRead({ file: sparse(req.byteLength, req.ranges), metadata: req.metadata, columns: req.columns, rowStart: req.rowStart, rowEnd: req.rowStart + req.rows, parsers: PARSERS, compressors: await compressors,
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

/** hyparquet's page readers (its package exports `./src/*.js`), for the thread's fast path. */
function hyparquetParts(): Record<'column' | 'datapage' | 'plain' | 'schema' | 'encoding' | 'hysnappy', string> {
  const require = createRequire(import.meta.url);
  const at = (part: string) => pathToFileURL(require.resolve(`hyparquet/src/${part}.js`)).href;
  return { column: at('column'), datapage: at('datapage'), plain: at('plain'), schema: at('schema'), encoding: at('encoding'), hysnappy: pathToFileURL(require.resolve('hysnappy')).href };
}

class DecodeThread {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: Record<string, DecodedColumn>) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private nextId = 0;
  dead = false;

  constructor() {
    this.worker = new Worker(THREAD_SOURCE, { eval: true, workerData: { hyparquet: hyparquetEntry(), parts: hyparquetParts() }, resourceLimits: { maxOldGenerationSizeMb: HEAP_MB } });
    this.worker.unref();
    this.worker.on('message', (m: { id: number; columns?: Record<string, DecodedColumn>; error?: string; fast?: boolean }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      if (m.columns) parquetDecodeStats[m.fast ? 'fast' : 'general']++;
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

/** Row groups decoded by each path of the decode thread (tests check that the fast path ran). */
export const parquetDecodeStats = { fast: 0, general: 0 };

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
