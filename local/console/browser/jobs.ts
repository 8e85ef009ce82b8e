/**
 * Scheduled jobs and their runs (GET /jobs, GET /jobs/{name}/runs): one table
 * of jobs; choosing a job lists its runs with status, duration and cluster.
 */
import type { JobView, RunView } from '../../../shared/jobs/views.ts';
import { $, api, el, row, showError } from './dom.ts';

let selected: { name: string; owner: string } | null = null;

function duration(ms: number | null): string {
  if (ms === null) return '';
  const s = Math.round(ms / 1000);
  return s < 120 ? s + ' s' : s < 7200 ? Math.round(s / 60) + ' min' : (s / 3600).toFixed(1) + ' h';
}

async function showRuns(job: { name: string; owner: string }): Promise<void> {
  selected = job;
  const runs = (await api<{ runs: RunView[] }>('GET', '/jobs/' + encodeURIComponent(job.name) + '/runs?limit=50&owner=' + encodeURIComponent(job.owner))).runs;
  $('runs-caption').textContent = 'Runs of ' + job.owner + '/' + job.name + ', newest first';
  const rows = runs.map((r) => {
    // Status as words (colour is only a second carrier).
    const status = el('td', r.status + (r.result && r.result !== r.status ? ' (' + r.result + ')' : ''), 'status-' + r.status);
    status.dataset.field = 'status';
    const tr = row(r.id, [r.scheduledAt.replace('T', ' ').slice(0, 19), r.trigger, r.attempt, status, duration(r.durationMs), r.clusterId ?? '', r.statusReason ?? '']);
    tr.dataset.run = r.id;
    tr.dataset.status = r.status;
    return tr;
  });
  ($('runs').querySelector('tbody') as HTMLElement).replaceChildren(...rows);
  $('runs').hidden = false;
}

export async function refreshJobs(all: boolean): Promise<void> {
  try {
    const jobs = (await api<{ jobs: JobView[] }>('GET', '/jobs' + (all ? '?all=true' : ''))).jobs;
    const rows = jobs.map((j) => {
      const open = el('button', 'Runs');
      open.type = 'button';
      open.setAttribute('aria-label', 'Runs of ' + j.name);
      open.addEventListener('click', () => {
        showRuns({ name: j.name, owner: j.owner }).catch((err: unknown) => showError($('jobs-errors'), err));
      });
      const actions = el('td');
      actions.appendChild(open);
      const tr = row(j.name, [j.owner, j.schedule, j.nextFireAt ? j.nextFireAt.replace('T', ' ').slice(0, 16) + ' UTC' : '', actions]);
      tr.dataset.job = j.owner + '/' + j.name;
      return tr;
    });
    ($('jobs').querySelector('tbody') as HTMLElement).replaceChildren(...rows);
    $('jobs-errors').replaceChildren();
    if (selected) await showRuns(selected);
  } catch (err) {
    showError($('jobs-errors'), err);
  }
}
