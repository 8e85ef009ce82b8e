/**
 * The control-plane console's browser code, bundled by esbuild (with uPlot)
 * into `../assets.gen.ts` (`npm run build:web`; web/build.ts) and served as
 * /console.js. It calls the same API routes a program calls, so what it
 * shows and may do is exactly what the caller's identity may.
 */
import type { ClusterView } from '../../../shared/api/views.ts';
import { refreshCharts } from './charts.ts';
import { $, ago, api, el, money, showError } from './dom.ts';
import { refreshJobs } from './jobs.ts';

const say = (t: string): void => {
  $('status').textContent = t;
};

function actions(c: ClusterView): HTMLTableCellElement {
  const td = el('td');
  if (['DELETED', 'DELETING', 'FAILED'].includes(c.status)) return td;
  const label = el('label', 'workers', 'sr');
  const id = 'scale-' + c.id;
  label.htmlFor = id;
  const input = el('input');
  input.id = id;
  input.size = 4;
  input.inputMode = 'numeric';
  input.value = String(c.desiredWorkers);
  const scale = el('button', 'Scale');
  scale.type = 'button';
  scale.setAttribute('aria-label', 'Scale ' + c.name);
  scale.addEventListener('click', async () => {
    try {
      await api('PATCH', '/clusters/' + encodeURIComponent(c.id), { nWorkers: Number(input.value) });
      say('scaling ' + c.name);
      void refresh();
    } catch (err) {
      showError($('clusters-errors'), err);
    }
  });
  const del = el('button', 'Delete');
  del.type = 'button';
  del.setAttribute('aria-label', 'Delete ' + c.name);
  del.addEventListener('click', async () => {
    try {
      await api('DELETE', '/clusters/' + encodeURIComponent(c.id));
      say('deleting ' + c.name);
      void refresh();
    } catch (err) {
      showError($('clusters-errors'), err);
    }
  });
  td.append(label, input, scale, del);
  return td;
}

function endedRow(c: ClusterView): HTMLTableRowElement {
  const tr = el('tr');
  tr.appendChild(el('th', c.name)).setAttribute('scope', 'row');
  tr.append(el('td', c.owner), el('td', ago(c.endedAt ?? c.updatedAt) + ' ago'), el('td', c.statusReason ?? 'unknown'));
  return tr;
}

function renderClusters(list: ClusterView[]): void {
  const showEnded = ($('ended') as HTMLInputElement).checked;
  const rows: HTMLTableRowElement[] = [];
  for (const c of list) {
    if (!showEnded && c.status === 'DELETED') continue;
    const tr = el('tr');
    tr.dataset.clusterId = c.id;
    tr.dataset.name = c.name;
    tr.appendChild(el('th', c.name)).setAttribute('scope', 'row');
    tr.appendChild(el('td', c.owner));
    const st = el('td', c.status + (c.statusReason ? ' (' + c.statusReason + ')' : ''), 'status-' + c.status);
    st.dataset.field = 'status';
    tr.appendChild(st);
    tr.appendChild(el('td', ago(c.createdAt)));
    tr.appendChild(el('td', c.status === 'RUNNING' ? ago(c.lastActivityAt) : ''));
    tr.appendChild(el('td', c.desiredWorkers, 'num'));
    tr.appendChild(el('td', money(c.cost ? c.cost.perHour : c.plan?.costPerHour), 'num'));
    tr.appendChild(el('td', money(c.cost?.toDate), 'num'));
    tr.appendChild(actions(c));
    rows.push(tr);
  }
  ($('clusters').querySelector('tbody') as HTMLElement).replaceChildren(...rows);
  const harvested: HTMLTableRowElement[] = [];
  const failures: HTMLTableRowElement[] = [];
  for (const c of list) {
    if (c.status === 'FAILED') failures.push(endedRow(c));
    else if ((c.status === 'DELETED' || c.status === 'DELETING') && /harvest|idle|orphan|reap|lease|expired/i.test(c.statusReason ?? '')) harvested.push(endedRow(c));
  }
  ($('harvested').querySelector('tbody') as HTMLElement).replaceChildren(...harvested);
  ($('failures').querySelector('tbody') as HTMLElement).replaceChildren(...failures);
}

let busy = false;
async function refresh(): Promise<void> {
  if (busy) return;
  busy = true;
  try {
    const all = ($('all') as HTMLInputElement).checked;
    const list: ClusterView[] = [];
    let next: string | null = null;
    do {
      const page: { clusters: ClusterView[]; nextToken?: string } = await api('GET', '/clusters?limit=200' + (all ? '&all=true' : '') + (next ? '&nextToken=' + encodeURIComponent(next) : ''));
      list.push(...page.clusters);
      next = page.nextToken ?? null;
    } while (next && list.length < 2000);
    renderClusters(list);
    $('clusters-errors').replaceChildren();
    await Promise.all([refreshCharts(), refreshJobs(all)]);
    document.body.dataset.loaded = 'true';
  } catch (err) {
    showError($('clusters-errors'), err);
  } finally {
    busy = false;
  }
}

$('create').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const f = ev.target as HTMLFormElement;
  const body: Record<string, unknown> = {};
  for (const k of ['name', 'template', 'job']) {
    const v = (f.elements.namedItem(k) as HTMLInputElement).value.trim();
    if (v) body[k] = v;
  }
  const w = (f.elements.namedItem('nWorkers') as HTMLInputElement).value.trim();
  // Sent as typed: the API names what is wrong with it (the same messages as the CLI).
  if (w) body.nWorkers = /^-?\d+(\.\d+)?$/.test(w) ? Number(w) : w;
  try {
    const r = await api<{ cluster: ClusterView }>('POST', '/clusters', body);
    $('create-errors').replaceChildren();
    say('created ' + r.cluster.name + ' (' + r.cluster.id + ')');
    f.reset();
    void refresh();
  } catch (err) {
    showError($('create-errors'), err);
  }
});
$('all').addEventListener('change', () => void refresh());
$('ended').addEventListener('change', () => void refresh());
$('scale-budgets').addEventListener('change', () => void refreshCharts());
void refresh();
setInterval(() => void refresh(), 2000);
