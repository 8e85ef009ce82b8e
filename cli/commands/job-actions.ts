import { ApiClient } from '../../client/api-client.ts';
import { ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import { formatColumns, formatKeyValues } from '../../shared/core/text.ts';
import type { JobView, RunView } from '../../shared/jobs/views.ts';
import { printJson } from '../output.ts';
import { clientOptions } from './cluster-actions.ts';
import type { JobFlags } from './job.ts';

/** The actions of `recc job …` (loaded lazily by `job.ts`). `--json` prints the API's objects in the envelope of `cli/output.ts`. */

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function client(flags: JobFlags): ApiClient {
  return new ApiClient(clientOptions(flags));
}

const q = (owner: string | undefined) => (owner ? `?owner=${encodeURIComponent(owner)}` : '');

/** Flags → the API body; only what was given (update merges over the stored definition). */
export function definitionBody(flags: JobFlags, overrides: Record<string, unknown>): Record<string, unknown> {
  const problems: ErrorDetail[] = [];
  const body: Record<string, unknown> = {};
  const int = (raw: string | undefined, path: string): number | undefined => {
    if (raw === undefined) return undefined;
    if (!/^\d+$/.test(raw)) {
      problems.push({ path, message: `must be a whole number (got ${JSON.stringify(raw)})` });
      return undefined;
    }
    return Number(raw);
  };
  if (flags.schedule !== undefined) body.schedule = flags.schedule;
  if (flags.timezone !== undefined) body.timezone = flags.timezone;
  if (flags.template !== undefined || Object.keys(overrides).length > 0) {
    body.cluster = { ...(flags.template === undefined ? {} : { template: flags.template }), overrides };
  }
  if (flags.sourceBranch !== undefined) body.sourceGitBranch = flags.sourceBranch;
  const params: Record<string, string> = {};
  for (const p of flags.param ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) problems.push({ path: 'param', message: `${JSON.stringify(p)} must be NAME=VALUE` });
    else params[p.slice(0, eq)] = p.slice(eq + 1);
  }
  if (flags.entry !== undefined && flags.command !== undefined) problems.push({ path: 'entry', message: 'give --entry or --command, not both' });
  if (flags.entry !== undefined) body.entry = { module: flags.entry, ...(flags.export ? { export: flags.export } : {}), params };
  else if (flags.command !== undefined) body.entry = { command: flags.command.split(/\s+/).filter(Boolean), params };
  else if (flags.param !== undefined || flags.export !== undefined) problems.push({ path: 'entry', message: '--param and --export need --entry (or --command)' });
  if (flags.concurrency !== undefined) body.concurrency = flags.concurrency;
  if (flags.catchUp !== undefined) body.catchUp = flags.catchUp;
  const timeouts = {
    preRunningSeconds: int(flags.preRunningTimeout, 'pre-running-timeout'),
    activeSeconds: int(flags.activeTimeout, 'active-timeout'),
    idleSeconds: int(flags.driverIdleTimeout, 'driver-idle-timeout'),
  };
  if (Object.values(timeouts).some((v) => v !== undefined)) body.timeouts = JSON.parse(JSON.stringify(timeouts));
  const retries = { limit: int(flags.retries, 'retries'), backoffSeconds: int(flags.retryBackoff, 'retry-backoff') };
  if (Object.values(retries).some((v) => v !== undefined)) body.retries = JSON.parse(JSON.stringify(retries));
  const ttl = int(flags.runTtlDays, 'run-ttl-days');
  if (flags.keepClusterOnFailure || ttl !== undefined) {
    body.cleanup = { ...(flags.keepClusterOnFailure ? { deleteClusterOnFailure: false } : {}), ...(ttl === undefined ? {} : { runRecordTtlDays: ttl }) };
  }
  if (flags.disable && flags.enable) problems.push({ path: 'enable', message: 'give --enable or --disable, not both' });
  if (flags.disable) body.enabled = false;
  if (flags.enable) body.enabled = true;
  if (problems.length > 0) throw new ValidationError(`invalid job flags: ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`, problems);
  return body;
}

function showJob(job: JobView): void {
  out(
    formatKeyValues([
      ['job', `${job.name} (${job.id})`],
      ['owner', job.owner],
      ['schedule', `${job.schedule} ${job.timezone}${job.enabled ? '' : ' (disabled)'}`],
      ['next fire', job.nextFireAt ?? '-'],
      ['cluster', `${job.cluster.template ?? 'default'}${Object.keys(job.cluster.overrides).length ? ` + ${JSON.stringify(job.cluster.overrides)}` : ''}`],
      ['entry', job.entry.kind === 'module' ? `${job.entry.module}${job.entry.export ? `#${job.entry.export}` : ''}` : job.entry.command.join(' ')],
      ['params', JSON.stringify(job.entry.params)],
      ['timeouts', `pre-running ${job.timeouts.preRunningSeconds}s, active ${job.timeouts.activeSeconds}s, idle ${job.timeouts.idleSeconds}s`],
      ['policies', `concurrency ${job.concurrency}, catch-up ${job.catchUp}, retries ${job.retries.limit}`],
    ]),
  );
}

export async function create(name: string, flags: JobFlags, overrides: Record<string, unknown>): Promise<void> {
  const body = { name, ...definitionBody(flags, overrides) };
  const { job } = await client(flags).request<{ job: JobView }>('POST', '/jobs', body);
  if (flags.json) return printJson(job);
  out(`created job ${job.name}`);
  showJob(job);
}

export async function update(name: string, flags: JobFlags, overrides: Record<string, unknown>): Promise<void> {
  const { job } = await client(flags).request<{ job: JobView }>('PATCH', `/jobs/${encodeURIComponent(name)}${q(flags.owner)}`, definitionBody(flags, overrides));
  if (flags.json) return printJson(job);
  out(`updated job ${job.name}`);
  showJob(job);
}

export async function get(name: string, flags: JobFlags): Promise<void> {
  const { job } = await client(flags).request<{ job: JobView }>('GET', `/jobs/${encodeURIComponent(name)}${q(flags.owner)}`);
  if (flags.json) return printJson(job);
  showJob(job);
}

type PageFlags = { limit?: string; nextToken?: string };

/**
 * A paged list as `recc cluster list` reads it: with --limit or --next-token
 * one page (and the token of the next on stderr), else every page followed.
 */
async function readPages<T>(command: string, flags: PageFlags, fetch: (query: URLSearchParams) => Promise<{ items: T[]; nextToken: string | null }>): Promise<{ items: T[]; nextToken: string | null; paged: boolean }> {
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1 && limit <= 1000)) {
    throw new ValidationError(`invalid options for recc ${command}`, [{ path: 'limit', message: `must be a whole number from 1 to 1000 (got ${JSON.stringify(flags.limit)})` }]);
  }
  const paged = flags.limit !== undefined || flags.nextToken !== undefined;
  const items: T[] = [];
  let token: string | null = flags.nextToken ?? null;
  do {
    const query = new URLSearchParams();
    if (limit !== undefined) query.set('limit', String(limit));
    if (token) query.set('nextToken', token);
    const page = await fetch(query);
    items.push(...page.items);
    token = page.nextToken;
  } while (!paged && token);
  if (paged && token) process.stderr.write(`more: recc ${command} --next-token ${token}${flags.limit ? ` --limit ${flags.limit}` : ''}\n`);
  return { items, nextToken: token, paged };
}

export async function list(flags: JobFlags & PageFlags & { all?: boolean }): Promise<void> {
  const api = client(flags);
  const { items: jobs, nextToken, paged } = await readPages<JobView>('job list', flags, async (query) => {
    if (flags.all) query.set('all', 'true');
    const page = await api.request<{ jobs: JobView[]; nextToken: string | null }>('GET', `/jobs${query.size ? `?${query}` : ''}`);
    return { items: page.jobs, nextToken: page.nextToken ?? null };
  });
  // One page: {jobs, nextToken}; the whole list (no --limit/--next-token): the array, as before.
  if (flags.json) return printJson(paged ? { jobs, nextToken } : jobs);
  if (jobs.length === 0) return out('no jobs; create one with `recc job create NAME --schedule ... --entry ...`');
  out(formatColumns([['NAME', 'OWNER', 'SCHEDULE', 'ZONE', 'NEXT FIRE', 'ENABLED'], ...jobs.map((j) => [j.name, j.owner, j.schedule, j.timezone, j.nextFireAt ?? '-', j.enabled ? 'yes' : 'no'])]));
}

export async function remove(name: string, flags: JobFlags): Promise<void> {
  const result = await client(flags).request<{ deleted: true; cancelledRuns: string[] }>('DELETE', `/jobs/${encodeURIComponent(name)}${q(flags.owner)}`);
  if (flags.json) return printJson(result);
  out(`deleted job ${name}${result.cancelledRuns.length ? `; cancelling ${result.cancelledRuns.join(', ')}` : ''}`);
}

export async function runNow(name: string, flags: JobFlags): Promise<void> {
  const result = await client(flags).request<{ run: RunView; created: boolean }>('POST', `/jobs/${encodeURIComponent(name)}/runs${q(flags.owner)}`);
  if (flags.json) return printJson(result);
  out(`run ${result.run.id} ${result.run.status}${result.run.statusReason ? ` (${result.run.statusReason})` : ''}; follow it with \`recc job runs ${name}\``);
}

function duration(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
}

export async function runs(name: string, flags: JobFlags & PageFlags): Promise<void> {
  const api = client(flags);
  const { items: list, nextToken, paged } = await readPages<RunView>(`job runs ${name}`, flags, async (query) => {
    if (flags.owner) query.set('owner', flags.owner);
    const page = await api.request<{ runs: RunView[]; nextToken: string | null }>('GET', `/jobs/${encodeURIComponent(name)}/runs${query.size ? `?${query}` : ''}`);
    return { items: page.runs, nextToken: page.nextToken ?? null };
  });
  if (flags.json) return printJson(paged ? { runs: list, nextToken } : list);
  if (list.length === 0) return out(`no runs of ${name} yet`);
  out(
    formatColumns([
      ['RUN', 'SCHEDULED', 'STATUS', 'RESULT', 'DURATION', 'COST', 'REASON'],
      ...list.map((r) => [r.id, r.scheduledAt, r.status, r.result ?? '-', duration(r.durationMs), r.cost === undefined ? '-' : `$${r.cost.toFixed(4)}`, r.statusReason ?? '']),
    ]),
  );
}

export async function logs(run: string, flags: JobFlags & { component?: string; since?: string; grep?: string; follow?: boolean }): Promise<void> {
  if (flags.component !== undefined || flags.since !== undefined || flags.grep !== undefined || flags.follow) {
    // The run's cluster through the same path as `recc cluster logs` (issue 21).
    const { logsFlagProblems, printClusterLogs } = await import('./cluster-logs.ts');
    const problems = logsFlagProblems(flags);
    if (problems.length) throw new ValidationError('invalid arguments for recc job logs', problems);
    const api = client(flags);
    const { run: view } = await api.request<{ run: RunView }>('GET', `/runs/${encodeURIComponent(run)}`);
    if (!view.clusterId) throw new ValidationError(`run ${view.id} has no cluster yet`, [{ path: 'run', message: `run ${view.id} is ${view.status} and has not created its cluster` }]);
    return printClusterLogs(api, view.clusterId, flags);
  }
  const result = await client(flags).request<{ runId: string; status: string; logs: string }>('GET', `/runs/${encodeURIComponent(run)}/logs`);
  if (flags.json) return printJson(result);
  process.stdout.write(result.logs);
}

export async function cancel(run: string, flags: JobFlags): Promise<void> {
  const { run: view } = await client(flags).request<{ run: RunView }>('POST', `/runs/${encodeURIComponent(run)}/cancel`);
  if (flags.json) return printJson(view);
  out(`run ${view.id}: ${view.cancelRequestedAt ? 'cancel requested' : view.status}`);
}
