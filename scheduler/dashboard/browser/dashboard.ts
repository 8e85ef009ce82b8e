/**
 * The live dashboard's browser code, bundled by esbuild into
 * `../assets.gen.ts` (`npm run build:web`; web/build.ts) and served as
 * /dashboard.js. The task stream is one canvas painted pixel by pixel from
 * typed arrays: the cost of a frame is O(pixels + spans), whatever the number
 * of workers, so 300 workers with thousands of spans a second stay smooth.
 * Data reaches the DOM only through textContent.
 */
import type { GroupCounts, LiveDelta, WorkerView } from '../aggregate.ts';
import type { DashboardEvent, SpanBatch } from '../recorder.ts';
import type { Bandwidth, LiveFrame } from '../stream.ts';

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;
const groups = new Map<string, GroupCounts>();
const workers = new Map<string, WorkerView>();
const MAX_EVENTS = 200;
const PALETTE = [0x1f77b4, 0xff7f0e, 0x2ca02c, 0xd62728, 0x9467bd, 0x8c564b, 0xe377c2, 0x7f7f7f, 0xbcbd22, 0x17becf, 0x393b79, 0x637939, 0x8c6d31, 0x843c39, 0x7b4173, 0x3182bd];
const fmt = (n: number): string =>
  n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + ' GiB' : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(0) + ' KiB' : Math.round(n) + ' B';

function el<K extends keyof HTMLElementTagNameMap>(tag: K, cls?: string, text?: unknown): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = String(text);
  return e;
}

function bar(parts: Array<[string, number]>, total: number, label: string): HTMLDivElement {
  const b = el('div', 'bar');
  b.setAttribute('role', 'img');
  b.setAttribute('aria-label', label);
  for (const [cls, v] of parts) {
    if (v <= 0 || total <= 0) continue;
    const s = el('span', cls);
    s.style.width = Math.min(100, (100 * v) / total) + '%';
    b.appendChild(s);
  }
  return b;
}

function applyRecord<T>(map: Map<string, T>, delta: Record<string, T | null> | undefined): void {
  for (const [k, v] of Object.entries(delta ?? {})) {
    if (v === null) map.delete(k);
    else map.set(k, v);
  }
}

// ---------------------------------------------------------------- task stream
const CAP = 200_000;
const sStart = new Float64Array(CAP);
const sEnd = new Float64Array(CAP);
const sRow = new Int32Array(CAP);
const sColor = new Uint32Array(CAP);
let sHead = 0;
let sCount = 0;
let received = 0;
let sampledOut = 0;
const rowIds = new Map<string, number>();
const rowKeys: Array<{ worker: string; thread: number }> = [];
let rowPos = new Int32Array(0);
const groupColor = new Map<string, number>();
const groupCount = new Map<string, number>();
let clockOffset = 0;
let legendDirty = false;

function colorOf(name: string): number {
  let c = groupColor.get(name);
  if (c === undefined) {
    let h = 0;
    for (let i = 0; i < name.length; i++) h = (h * 31 + name.charCodeAt(i)) >>> 0;
    c = PALETTE[groupColor.size < PALETTE.length ? groupColor.size : h % PALETTE.length] as number;
    groupColor.set(name, c);
    legendDirty = true;
  }
  return c;
}

function rowOf(worker: string, thread: number): number {
  const key = worker + '\u0000' + thread;
  let r = rowIds.get(key);
  if (r === undefined) {
    r = rowKeys.push({ worker, thread }) - 1;
    rowIds.set(key, r);
    const order = rowKeys
      .map((_, i) => i)
      .sort((a, b) => {
        const x = rowKeys[a] as { worker: string; thread: number };
        const y = rowKeys[b] as { worker: string; thread: number };
        return x.worker < y.worker ? -1 : x.worker > y.worker ? 1 : x.thread - y.thread;
      });
    rowPos = new Int32Array(rowKeys.length);
    order.forEach((id, pos) => {
      rowPos[id] = pos;
    });
  }
  return r;
}

function addSpans(b: SpanBatch): void {
  sampledOut += b.dropped;
  received += b.w.length;
  for (let i = 0; i < b.w.length; i++) {
    const g = b.groups[b.g[i] as number] as string;
    const h = sHead;
    const start = b.t0 + (b.s[i] as number);
    sStart[h] = start;
    sEnd[h] = start + Math.max(b.d[i] as number, 0);
    sRow[h] = rowOf(b.workers[b.w[i] as number] as string, b.th[i] as number);
    // ABGR in little-endian pixel order, opaque.
    const c = colorOf(g);
    sColor[h] = 0xff000000 | ((c & 0xff) << 16) | (c & 0xff00) | (c >> 16);
    groupCount.set(g, (groupCount.get(g) ?? 0) + 1);
    sHead = (h + 1) % CAP;
    if (sCount < CAP) sCount++;
  }
}

const canvas = $<HTMLCanvasElement>('stream');
const ctx = canvas.getContext('2d') as CanvasRenderingContext2D;
const windowSel = $<HTMLSelectElement>('window');
let windowMs = Number(windowSel.value);
let lastStream = 0;
windowSel.addEventListener('change', () => {
  windowMs = Number(windowSel.value);
  lastStream = 0;
});
let image: ImageData | null = null;

function fit(c: HTMLCanvasElement): void {
  const w = Math.max(200, Math.min(4000, Math.round(c.clientWidth)));
  if (w && c.width !== w) c.width = w;
}

function drawStream(): void {
  fit(canvas);
  const W = canvas.width;
  const H = canvas.height;
  if (!image || image.width !== W || image.height !== H) image = ctx.createImageData(W, H);
  const px = new Uint32Array(image.data.buffer);
  px.fill(0xfffafafa);
  const rows = Math.max(1, rowKeys.length);
  const right = Date.now() + clockOffset;
  const left = right - windowMs;
  const scale = W / windowMs;
  const rowH = H / rows;
  const gap = rowH >= 4 ? 1 : 0;
  let shown = 0;
  for (let n = 0, i = (sHead - sCount + CAP) % CAP; n < sCount; n++, i = (i + 1) % CAP) {
    const e = sEnd[i] as number;
    if (e < left) continue;
    const x0 = Math.max(0, Math.floor(((sStart[i] as number) - left) * scale));
    const x1 = Math.min(W, Math.max(x0 + 1, Math.ceil((e - left) * scale)));
    if (x0 >= W) continue;
    const p = rowPos[sRow[i] as number] as number;
    const y0 = Math.floor(p * rowH);
    const y1 = Math.max(y0 + 1, Math.floor((p + 1) * rowH) - gap);
    const c = sColor[i] as number;
    for (let y = y0; y < y1; y++) px.fill(c, y * W + x0, y * W + x1);
    shown++;
  }
  ctx.putImageData(image, 0, 0);
  // Time ticks and, when rows are tall enough, which worker thread each row is (-1: the worker's main thread).
  ctx.fillStyle = '#333';
  ctx.font = '11px system-ui';
  for (let k = 0; k <= 4; k++) {
    const label = k === 4 ? 'now' : '-' + Math.round((windowMs * (4 - k)) / 4000) + ' s';
    ctx.fillText(label, Math.min(W - 28, (k * W) / 4 + 2), H - 3);
  }
  if (rowH >= 11) {
    for (let id = 0; id < rowKeys.length; id++) {
      const k = rowKeys[id] as { worker: string; thread: number };
      ctx.fillText(k.worker + (k.thread < 0 ? ' main' : ' #' + k.thread), 3, Math.floor((rowPos[id] as number) * rowH) + 10);
    }
  }
  canvas.dataset.spans = String(received);
  canvas.dataset.rows = String(rowKeys.length);
  canvas.dataset.shown = String(shown);
  canvas.setAttribute('aria-label', 'Task stream: ' + shown + ' task runs in the last ' + Math.round(windowMs / 1000) + ' s across ' + rowKeys.length + ' task threads');
  $('stream-info').textContent = received + ' task runs received' + (sampledOut > 0 ? ', ' + sampledOut + ' more sampled out' : '') + '; one row per worker thread';
}

function drawLegend(): void {
  legendDirty = false;
  const items: HTMLLIElement[] = [];
  for (const [name, c] of groupColor) {
    const li = el('li');
    li.dataset.group = name;
    li.dataset.count = String(groupCount.get(name) ?? 0);
    const sw = el('i');
    sw.style.background = '#' + c.toString(16).padStart(6, '0');
    sw.setAttribute('aria-hidden', 'true');
    li.appendChild(sw);
    li.appendChild(document.createTextNode(name + ' (' + (groupCount.get(name) ?? 0) + ')'));
    items.push(li);
  }
  $('stream-legend').replaceChildren(...items);
}

// ---------------------------------------------------------------- bandwidth
const bw: Bandwidth[] = [];
const bwCanvas = $<HTMLCanvasElement>('bandwidth');
const bwCtx = bwCanvas.getContext('2d') as CanvasRenderingContext2D;

function drawBandwidth(): void {
  fit(bwCanvas);
  const W = bwCanvas.width;
  const H = bwCanvas.height;
  bwCtx.clearRect(0, 0, W, H);
  const right = Date.now() + clockOffset;
  const left = right - 120_000;
  let max = 1;
  for (const p of bw) max = Math.max(max, p.transfer, p.shuffle);
  bwCtx.fillStyle = '#444';
  bwCtx.font = '12px system-ui';
  bwCtx.fillText(fmt(max) + '/s', 4, 12);
  for (const [field, color] of [['transfer', '#08519c'], ['shuffle', '#a63603']] as const) {
    bwCtx.strokeStyle = color;
    bwCtx.lineWidth = 2;
    bwCtx.beginPath();
    let first = true;
    for (const p of bw) {
      if (p.t < left) continue;
      const x = ((p.t - left) / 120_000) * W;
      const y = H - 2 - (p[field] / max) * (H - 16);
      if (first) {
        bwCtx.moveTo(x, y);
        first = false;
      } else bwCtx.lineTo(x, y);
    }
    bwCtx.stroke();
  }
  const last = bw[bw.length - 1];
  if (last) {
    $('bw-transfer').textContent = fmt(last.transfer) + '/s';
    $('bw-shuffle').textContent = fmt(last.shuffle) + '/s';
  }
}

// ---------------------------------------------------------------- tables
let dirty = false;
const FIELDS = ['waiting', 'queued', 'processing', 'memory', 'erred'] as const;

function render(): void {
  dirty = false;
  const gRows: HTMLTableRowElement[] = [];
  let total = 0;
  let inMemory = 0;
  let processing = 0;
  let erred = 0;
  for (const [name, c] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
    const n = c.waiting + c.queued + c.processing + c.memory + c.erred;
    total += n;
    inMemory += c.memory;
    processing += c.processing;
    erred += c.erred;
    const tr = el('tr');
    tr.dataset.group = name;
    tr.appendChild(el('th', '', name)).setAttribute('scope', 'row');
    const td = el('td');
    td.appendChild(
      bar(
        [['memory', c.memory], ['erred', c.erred], ['processing', c.processing], ['queued', c.queued], ['waiting', c.waiting]],
        n,
        name + ': ' + c.memory + ' of ' + n + ' in memory, ' + c.processing + ' processing, ' + c.erred + ' erred',
      ),
    );
    tr.appendChild(td);
    for (const f of FIELDS) {
      const d = el('td', '', c[f]);
      d.dataset.field = f;
      tr.appendChild(d);
    }
    gRows.push(tr);
  }
  ($('groups').querySelector('tbody') as HTMLElement).replaceChildren(...gRows);
  const wRows: HTMLTableRowElement[] = [];
  let threads = 0;
  for (const w of [...workers.values()].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    threads += w.nthreads;
    const tr = el('tr');
    tr.dataset.worker = w.name;
    tr.appendChild(el('th', '', w.name)).setAttribute('scope', 'row');
    for (const v of [w.nthreads, w.processing, w.stored]) tr.appendChild(el('td', '', v));
    const limit = w.memoryLimit || Math.max(1, w.managed + w.unmanaged + w.spilled);
    const td = el('td');
    td.appendChild(
      bar(
        [['managed', w.managed], ['unmanaged', w.unmanaged], ['spilled', w.spilled]],
        limit,
        w.name + ' memory ' + fmt(w.managed + w.unmanaged) + (w.memoryLimit ? ' of ' + fmt(w.memoryLimit) : '') + ', ' + fmt(w.spilled) + ' spilled',
      ),
    );
    tr.appendChild(td);
    for (const v of [fmt(w.managed), fmt(w.unmanaged), fmt(w.spilled), w.memoryLimit ? fmt(w.memoryLimit) : 'none']) tr.appendChild(el('td', '', v));
    const cpuTd = el('td');
    if (w.cpu !== null && w.cpu !== undefined) {
      cpuTd.appendChild(bar([['cpu', w.cpu]], w.cpuLimit || Math.max(1, w.cpu), w.name + ' CPU ' + w.cpu.toFixed(2) + (w.cpuLimit ? ' of ' + w.cpuLimit + ' cores' : ' cores')));
    }
    cpuTd.dataset.field = 'cpu';
    tr.appendChild(cpuTd);
    const cores = el('td', '', w.cpu === null || w.cpu === undefined ? 'n/a' : w.cpu.toFixed(2) + ' / ' + (w.cpuLimit || '?'));
    cores.dataset.field = 'cores';
    tr.appendChild(cores);
    wRows.push(tr);
  }
  ($('workers').querySelector('tbody') as HTMLElement).replaceChildren(...wRows);
  $('summary').textContent = workers.size + ' workers, ' + threads + ' threads; tasks: ' + total + ' (' + inMemory + ' in memory, ' + processing + ' processing, ' + erred + ' erred)';
}

function addEvents(list: DashboardEvent[] | undefined): void {
  const ol = $('events');
  for (const e of list ?? []) {
    const li = el('li', e.kind);
    li.dataset.kind = e.kind;
    li.appendChild(document.createTextNode(e.at.slice(11, 19) + ' '));
    li.appendChild(el('b', '', e.kind));
    li.appendChild(document.createTextNode(' ' + e.message));
    ol.insertBefore(li, ol.firstChild);
  }
  while (ol.children.length > MAX_EVENTS) ol.removeChild(ol.lastChild as ChildNode);
}

/** For scheduled-job clusters: which job and run this cluster serves (a `cluster` frame field). */
function showCluster(info: LiveFrame['cluster']): void {
  if (!info) return;
  const box = $('cluster-info');
  const parts: string[] = [];
  if (info.name) parts.push(info.name);
  if (info.job) parts.push('job ' + info.job);
  if (info.run) parts.push('run ' + info.run);
  box.textContent = parts.join(' · ');
  if (info.job) box.dataset.job = info.job;
  if (info.run) box.dataset.run = info.run;
}

// ---------------------------------------------------------------- frame loop
// One loop: tables when data changed, the stream and bandwidth a few times a second (the time axis moves ~100 ms per pixel).
function frame(t: number): void {
  if (dirty) render();
  if (legendDirty) drawLegend();
  if (t - lastStream >= 200) {
    lastStream = t;
    drawStream();
    drawBandwidth();
  }
  requestAnimationFrame(frame);
}
requestAnimationFrame(frame);

function apply(d: LiveFrame & LiveDelta, full: boolean): void {
  if (full) {
    groups.clear();
    workers.clear();
    $('events').replaceChildren();
    bw.length = 0;
    sHead = 0;
    sCount = 0;
    received = 0;
    sampledOut = 0;
    groupCount.clear();
    legendDirty = true;
  }
  if (typeof d.now === 'number') clockOffset = d.now - Date.now();
  showCluster(d.cluster);
  applyRecord(groups, d.groups);
  applyRecord(workers, d.workers);
  addEvents(d.events);
  for (const b of d.spans ?? []) addSpans(b);
  for (const p of d.bandwidth ?? []) bw.push(p);
  if (bw.length > 300) bw.splice(0, bw.length - 300);
  dirty = true;
}

const conn = $('conn');
const es = new EventSource('/api/live');
es.addEventListener('open', () => {
  conn.textContent = 'live';
});
es.addEventListener('error', () => {
  conn.textContent = 'disconnected, retrying…';
});
es.addEventListener('full', (m) => apply(JSON.parse((m as MessageEvent<string>).data) as LiveFrame, true));
es.addEventListener('delta', (m) => apply(JSON.parse((m as MessageEvent<string>).data) as LiveFrame, false));
