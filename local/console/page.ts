/**
 * The control-plane console's assets, served by `recc up` at /console. Static:
 * no data is rendered on the server. The script calls the same API routes a
 * program calls (GET/POST/PATCH/DELETE /clusters, GET /costs), so what it can
 * see and do is exactly what the caller's identity may. Data goes to the DOM
 * only through textContent; the CSP forbids inline script.
 */

export const CONSOLE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

export const CONSOLE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>recc console</title>
<link rel="stylesheet" href="/console.css">
<script src="/console.js" defer></script>
</head>
<body>
<header><h1>recc console</h1><span id="status" role="status" aria-live="polite"></span></header>
<main>
<section aria-labelledby="create-h"><h2 id="create-h">Create a cluster</h2>
<form id="create" novalidate>
<label for="c-name">Name</label> <input id="c-name" name="name" autocomplete="off">
<label for="c-template">Template</label> <input id="c-template" name="template" autocomplete="off" placeholder="default">
<label for="c-workers">Workers</label> <input id="c-workers" name="nWorkers" inputmode="numeric" size="5">
<label for="c-job">Job</label> <input id="c-job" name="job" autocomplete="off">
<button type="submit">Create</button>
</form>
<div id="create-errors" role="alert"></div>
</section>
<section aria-labelledby="clusters-h"><h2 id="clusters-h">Clusters</h2>
<p><input type="checkbox" id="all"> <label for="all">All users' clusters (admins)</label> <input type="checkbox" id="ended"> <label for="ended">Show ended clusters</label></p>
<div id="clusters-errors" role="alert"></div>
<table id="clusters"><caption class="sr">Clusters, newest first</caption><thead><tr><th scope="col">name</th><th scope="col">owner</th><th scope="col">status</th><th scope="col">age</th><th scope="col">idle</th><th scope="col">workers</th><th scope="col">$/h</th><th scope="col">cost so far</th><th scope="col">actions</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="cost-h"><h2 id="cost-h">Cost this month</h2>
<div class="costs">
<table id="cost-user"><caption>by user</caption><thead><tr><th scope="col">user</th><th scope="col">cost ($)</th><th scope="col">node-hours</th></tr></thead><tbody></tbody></table>
<table id="cost-namespace"><caption>by namespace</caption><thead><tr><th scope="col">namespace</th><th scope="col">cost ($)</th><th scope="col">node-hours</th></tr></thead><tbody></tbody></table>
<table id="cost-job"><caption>by job</caption><thead><tr><th scope="col">job</th><th scope="col">cost ($)</th><th scope="col">node-hours</th></tr></thead><tbody></tbody></table>
</div>
</section>
<section aria-labelledby="harvest-h"><h2 id="harvest-h">Harvester actions</h2>
<table id="harvested"><thead><tr><th scope="col">cluster</th><th scope="col">owner</th><th scope="col">ended</th><th scope="col">reason</th></tr></thead><tbody></tbody></table>
</section>
<section aria-labelledby="failed-h"><h2 id="failed-h">Provisioning failures</h2>
<table id="failures"><thead><tr><th scope="col">cluster</th><th scope="col">owner</th><th scope="col">when</th><th scope="col">reason</th></tr></thead><tbody></tbody></table>
</section>
</main>
</body>
</html>
`;

export const CONSOLE_CSS = `
body{font:14px system-ui,sans-serif;margin:1rem;color:#222}
header{display:flex;gap:1rem;align-items:baseline}
h1{font-size:1.4rem;margin:0}h2{font-size:1.1rem;margin:1.2rem 0 .4rem}
table{border-collapse:collapse;width:100%;margin-bottom:1rem}
caption{text-align:left;font-weight:600;padding:2px 0}
th,td{border-bottom:1px solid #ddd;padding:4px 6px;text-align:left}
td.num{text-align:right}
.costs{display:grid;grid-template-columns:repeat(auto-fit,minmax(260px,1fr));gap:1rem}
form label{margin-left:.6rem}
input,button{font:inherit}
button{margin:0 .2rem;padding:2px 8px}
:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}
[role=alert]{color:#a50f15}
.sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
.status-RUNNING{color:#1b5e20}.status-FAILED{color:#a50f15}
`;

export const CONSOLE_JS = `(() => {
  'use strict';
  const H = { 'x-recc-console': '1' };
  const $ = (id) => document.getElementById(id);
  function el(tag, text, cls) { const e = document.createElement(tag); if (text !== undefined) e.textContent = String(text); if (cls) e.className = cls; return e; }
  function ago(iso) {
    if (!iso) return '';
    const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    return s < 90 ? Math.round(s) + ' s' : s < 5400 ? Math.round(s / 60) + ' min' : s < 172800 ? (s / 3600).toFixed(1) + ' h' : Math.round(s / 86400) + ' d';
  }
  const money = (n) => typeof n === 'number' ? n.toFixed(2) : '';
  async function api(method, path, body) {
    const res = await fetch(path, { method, headers: body === undefined ? H : { ...H, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await res.text();
    let data = null; try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!res.ok) { const e = (data && data.error) || { message: res.status + ' ' + res.statusText, details: [] }; const err = new Error(e.message); err.details = e.details || []; err.status = res.status; throw err; }
    return data;
  }
  function showError(box, err) {
    box.replaceChildren(el('p', err.message));
    if (err.details && err.details.length) { const ul = el('ul'); for (const d of err.details) ul.appendChild(el('li', (d.path ? d.path + ': ' : '') + d.message)); box.appendChild(ul); }
  }
  const say = (t) => { $('status').textContent = t; };

  function actions(c) {
    const td = el('td');
    if (['DELETED', 'DELETING', 'FAILED'].includes(c.status)) return td;
    const label = el('label', 'workers', 'sr'); const id = 'scale-' + c.id; label.htmlFor = id;
    const input = el('input'); input.id = id; input.size = 4; input.inputMode = 'numeric'; input.value = String(c.desiredWorkers);
    const scale = el('button', 'Scale'); scale.type = 'button'; scale.setAttribute('aria-label', 'Scale ' + c.name);
    scale.addEventListener('click', async () => {
      try { await api('PATCH', '/clusters/' + encodeURIComponent(c.id), { nWorkers: Number(input.value) }); say('scaling ' + c.name); refresh(); }
      catch (err) { showError($('clusters-errors'), err); }
    });
    const del = el('button', 'Delete'); del.type = 'button'; del.setAttribute('aria-label', 'Delete ' + c.name);
    del.addEventListener('click', async () => {
      try { await api('DELETE', '/clusters/' + encodeURIComponent(c.id)); say('deleting ' + c.name); refresh(); }
      catch (err) { showError($('clusters-errors'), err); }
    });
    td.append(label, input, scale, del);
    return td;
  }
  function renderClusters(list) {
    const showEnded = $('ended').checked;
    const rows = [];
    for (const c of list) {
      if (!showEnded && c.status === 'DELETED') continue;
      const tr = el('tr'); tr.dataset.clusterId = c.id; tr.dataset.name = c.name;
      tr.appendChild(el('th', c.name)).setAttribute('scope', 'row');
      tr.appendChild(el('td', c.owner));
      const st = el('td', c.status + (c.statusReason ? ' (' + c.statusReason + ')' : ''), 'status-' + c.status); st.dataset.field = 'status'; tr.appendChild(st);
      tr.appendChild(el('td', ago(c.createdAt)));
      tr.appendChild(el('td', c.status === 'RUNNING' ? ago(c.lastActivityAt) : ''));
      tr.appendChild(el('td', c.desiredWorkers, 'num'));
      tr.appendChild(el('td', money(c.cost ? c.cost.perHour : c.plan && c.plan.costPerHour), 'num'));
      tr.appendChild(el('td', money(c.cost && c.cost.toDate), 'num'));
      tr.appendChild(actions(c));
      rows.push(tr);
    }
    $('clusters').querySelector('tbody').replaceChildren(...rows);
    const harvested = [], failures = [];
    for (const c of list) {
      if (c.status === 'FAILED') { const tr = el('tr'); tr.appendChild(el('th', c.name)).setAttribute('scope', 'row'); tr.append(el('td', c.owner), el('td', ago(c.endedAt || c.updatedAt) + ' ago'), el('td', c.statusReason || 'unknown')); failures.push(tr); }
      else if ((c.status === 'DELETED' || c.status === 'DELETING') && /harvest|idle|orphan|reap|lease|expired/i.test(c.statusReason || '')) { const tr = el('tr'); tr.appendChild(el('th', c.name)).setAttribute('scope', 'row'); tr.append(el('td', c.owner), el('td', ago(c.endedAt || c.updatedAt) + ' ago'), el('td', c.statusReason)); harvested.push(tr); }
    }
    $('harvested').querySelector('tbody').replaceChildren(...harvested);
    $('failures').querySelector('tbody').replaceChildren(...failures);
  }
  function renderCost(id, summary) {
    const rows = [];
    for (const g of summary.groups) { const tr = el('tr'); tr.dataset.key = g.key; tr.appendChild(el('th', g.key)).setAttribute('scope', 'row'); tr.append(el('td', money(g.cost), 'num'), el('td', typeof g.nodeHours === 'number' ? g.nodeHours.toFixed(2) : '', 'num')); rows.push(tr); }
    $(id).querySelector('tbody').replaceChildren(...rows);
  }
  let busy = false;
  async function refresh() {
    if (busy) return; busy = true;
    try {
      const all = $('all').checked;
      const list = [];
      let next = null;
      do { const page = await api('GET', '/clusters?limit=200' + (all ? '&all=true' : '') + (next ? '&nextToken=' + encodeURIComponent(next) : '')); list.push(...page.clusters); next = page.nextToken || null; } while (next && list.length < 2000);
      renderClusters(list);
      $('clusters-errors').replaceChildren();
      const [u, n, j] = await Promise.all(['user', 'namespace', 'job'].map((g) => api('GET', '/costs?groupBy=' + g)));
      renderCost('cost-user', u.costs); renderCost('cost-namespace', n.costs); renderCost('cost-job', j.costs);
      document.body.dataset.loaded = 'true';
    } catch (err) { showError($('clusters-errors'), err); }
    finally { busy = false; }
  }
  $('create').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = ev.target; const body = {};
    for (const k of ['name', 'template', 'job']) { const v = f.elements[k].value.trim(); if (v) body[k] = v; }
    const w = f.elements.nWorkers.value.trim();
    // Sent as typed: the API names what is wrong with it (the same messages as the CLI).
    if (w) body.nWorkers = /^-?\\d+(\\.\\d+)?$/.test(w) ? Number(w) : w;
    try { const r = await api('POST', '/clusters', body); $('create-errors').replaceChildren(); say('created ' + r.cluster.name + ' (' + r.cluster.id + ')'); f.reset(); refresh(); }
    catch (err) { showError($('create-errors'), err); }
  });
  $('all').addEventListener('change', refresh);
  $('ended').addEventListener('change', refresh);
  refresh();
  setInterval(refresh, 2000);
})();
`;
