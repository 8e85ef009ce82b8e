/**
 * The live dashboard's assets, served by the scheduler itself (no CDN: users'
 * networks may block the internet). Plain DOM; data only ever goes through
 * textContent, never innerHTML, and the CSP forbids inline script.
 */

export const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>recc cluster dashboard</title>
<link rel="stylesheet" href="/dashboard.css">
<script src="/dashboard.js" defer></script>
</head>
<body>
<header><h1>recc cluster</h1><span id="conn" role="status">connecting…</span></header>
<main>
<section aria-labelledby="groups-h"><h2 id="groups-h">Task groups</h2>
<p class="legend"><span class="k waiting">waiting</span> <span class="k queued">queued</span> <span class="k processing">processing</span> <span class="k memory">in memory</span> <span class="k erred">erred</span></p>
<table id="groups"><thead><tr><th scope="col">group</th><th scope="col">progress</th><th scope="col">waiting</th><th scope="col">queued</th><th scope="col">processing</th><th scope="col">in memory</th><th scope="col">erred</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="workers-h"><h2 id="workers-h">Workers</h2>
<p class="legend"><span class="k managed">managed</span> <span class="k unmanaged">unmanaged</span> <span class="k spilled">spilled</span> (against the memory limit)</p>
<table id="workers"><thead><tr><th scope="col">worker</th><th scope="col">threads</th><th scope="col">processing</th><th scope="col">stored</th><th scope="col">memory</th><th scope="col">managed</th><th scope="col">unmanaged</th><th scope="col">spilled</th><th scope="col">limit</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="events-h"><h2 id="events-h">Events</h2><ol id="events" reversed></ol></section>
</main>
</body>
</html>
`;

export const PAGE_CSS = `
body{font:14px system-ui,sans-serif;margin:1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:right}
th:first-child,td:first-child{text-align:left}
.bar{display:flex;height:12px;width:300px;background:#eee;border:1px solid #ccc}
.bar span{display:block;height:100%}
.k{padding:0 4px}
.waiting{background:#ccc}.queued{background:#9ecae1}.processing{background:#31a354;color:#fff}.memory{background:#3182bd;color:#fff}.erred{background:#de2d26;color:#fff}
.managed{background:#3182bd;color:#fff}.unmanaged{background:#9ecae1}.spilled{background:#fd8d3c}
#events{font-family:monospace;max-height:20em;overflow:auto}
#events .worker-lost,#events .task-erred{color:#b00}
`;

export const PAGE_JS = `(() => {
  'use strict';
  const groups = new Map();
  const workers = new Map();
  const MAX_EVENTS = 200;
  const fmt = (n) => n >= 1 << 30 ? (n / (1 << 30)).toFixed(1) + ' GiB' : n >= 1 << 20 ? (n / (1 << 20)).toFixed(1) + ' MiB' : n >= 1024 ? (n / 1024).toFixed(0) + ' KiB' : n + ' B';
  function el(tag, cls, text) { const e = document.createElement(tag); if (cls) e.className = cls; if (text !== undefined) e.textContent = String(text); return e; }
  function bar(parts, total, label) {
    const b = el('div', 'bar'); b.setAttribute('role', 'img'); b.setAttribute('aria-label', label);
    for (const [cls, v] of parts) { if (v <= 0 || total <= 0) continue; const s = el('span', cls); s.style.width = Math.min(100, 100 * v / total) + '%'; b.appendChild(s); }
    return b;
  }
  function applyRecord(map, delta) { for (const [k, v] of Object.entries(delta || {})) { if (v === null) map.delete(k); else map.set(k, v); } }
  let dirty = false;
  function schedule() { if (!dirty) { dirty = true; requestAnimationFrame(render); } }
  function render() {
    dirty = false;
    const gb = document.querySelector('#groups tbody');
    const gRows = [];
    for (const [name, c] of [...groups].sort((a, b) => a[0] < b[0] ? -1 : 1)) {
      const total = c.waiting + c.queued + c.processing + c.memory + c.erred;
      const tr = el('tr'); tr.dataset.group = name;
      tr.appendChild(el('th', '', name)).setAttribute('scope', 'row');
      const td = el('td'); td.appendChild(bar([['memory', c.memory], ['erred', c.erred], ['processing', c.processing], ['queued', c.queued], ['waiting', c.waiting]], total, name + ': ' + c.memory + ' of ' + total + ' in memory')); tr.appendChild(td);
      for (const f of ['waiting', 'queued', 'processing', 'memory', 'erred']) { const d = el('td', '', c[f]); d.dataset.field = f; tr.appendChild(d); }
      gRows.push(tr);
    }
    gb.replaceChildren(...gRows);
    const wb = document.querySelector('#workers tbody');
    const wRows = [];
    for (const w of [...workers.values()].sort((a, b) => a.name < b.name ? -1 : 1)) {
      const tr = el('tr'); tr.dataset.worker = w.name;
      tr.appendChild(el('th', '', w.name)).setAttribute('scope', 'row');
      for (const v of [w.nthreads, w.processing, w.stored]) tr.appendChild(el('td', '', v));
      const limit = w.memoryLimit || Math.max(1, w.managed + w.unmanaged + w.spilled);
      const td = el('td'); td.appendChild(bar([['managed', w.managed], ['unmanaged', w.unmanaged], ['spilled', w.spilled]], limit, w.name + ' memory ' + fmt(w.managed + w.unmanaged) + (w.memoryLimit ? ' of ' + fmt(w.memoryLimit) : ''))); tr.appendChild(td);
      for (const v of [fmt(w.managed), fmt(w.unmanaged), fmt(w.spilled), w.memoryLimit ? fmt(w.memoryLimit) : 'none']) tr.appendChild(el('td', '', v));
      wRows.push(tr);
    }
    wb.replaceChildren(...wRows);
  }
  function addEvents(list) {
    const ol = document.getElementById('events');
    for (const e of list || []) {
      const li = el('li', e.kind, e.at.slice(11, 19) + ' ' + e.message); li.dataset.kind = e.kind;
      ol.insertBefore(li, ol.firstChild);
    }
    while (ol.children.length > MAX_EVENTS) ol.removeChild(ol.lastChild);
  }
  const conn = document.getElementById('conn');
  const es = new EventSource('/api/live');
  es.addEventListener('open', () => { conn.textContent = 'live'; });
  es.addEventListener('error', () => { conn.textContent = 'disconnected, retrying…'; });
  es.addEventListener('full', (m) => {
    const d = JSON.parse(m.data);
    groups.clear(); workers.clear(); document.getElementById('events').replaceChildren();
    applyRecord(groups, d.groups); applyRecord(workers, d.workers); addEvents(d.events); schedule();
  });
  es.addEventListener('delta', (m) => {
    const d = JSON.parse(m.data);
    applyRecord(groups, d.groups); applyRecord(workers, d.workers); addEvents(d.events); schedule();
  });
})();
`;
