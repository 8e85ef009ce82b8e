import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../shared/core/errors.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';
import { formatColumns, formatKeyValues } from '../../shared/core/text.ts';
import { dollars } from '../../shared/plan/format.ts';
import type { ClusterStatus } from '../../shared/lifecycle/types.ts';
import type { ClusterView } from '../../shared/api/views.ts';
import { ApiClient, ApiNotFoundError, apiClientOptionsFromEnv, DEFAULT_API_URL, type ApiClientOptions } from '../../client/api-client.ts';
import { statusesSince } from '../../client/recc-cluster.ts';
import { defaultClusterName } from '../../client/cluster-name.ts';
import { printJson } from '../output.ts';
import { AmbiguousClusterNameError, ClusterNotFoundError, ClusterNotRunningError } from '../errors.ts';

/**
 * The actions of `recc cluster …` (loaded lazily by `cluster.ts`). Human
 * output is short and aligned; `--json` prints the API's objects in the
 * envelope of `cli/output.ts`. A cluster argument is an id or a name.
 */
interface ApiFlags {
  api?: string;
  token?: string;
  json?: boolean;
}

/** `~/.recc/config.json` (Windows: `%USERPROFILE%\.recc\config.json`). */
export function configPath(): string {
  return join(homedir(), '.recc', 'config.json');
}

function readConfigFile(): { apiUrl?: string; token?: string } {
  const path = configPath();
  if (!existsSync(path)) return {};
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
    return {
      ...(typeof parsed.apiUrl === 'string' ? { apiUrl: parsed.apiUrl } : {}),
      ...(typeof parsed.token === 'string' ? { token: parsed.token } : {}),
    };
  } catch (err) {
    throw new ValidationError(`cannot read ${path}`, [{ path: 'config', message: `${path} is not valid JSON` }], { cause: err });
  }
}

/** Flag > environment > config file > default. */
export function clientOptions(flags: ApiFlags, env: NodeJS.ProcessEnv = process.env): ApiClientOptions {
  const fromEnv = apiClientOptionsFromEnv(env);
  const file = fromEnv.apiUrl && (fromEnv.token || flags.token) ? {} : readConfigFile();
  const apiUrl = flags.api ?? fromEnv.apiUrl ?? file.apiUrl ?? DEFAULT_API_URL;
  const token = flags.token ?? fromEnv.token ?? file.token;
  return { ...fromEnv, apiUrl, ...(token ? { token } : {}) };
}

function out(text: string): void {
  process.stdout.write(`${text}\n`);
}

function json(value: unknown): void {
  printJson(value);
}

const CLUSTER_ID = /^[a-z0-9][a-z0-9-]{0,63}$/;

/**
 * The cluster `ref` names: by id first, else by name among the caller's
 * clusters (a live one wins over ended ones of the same name). Several
 * matches are refused with their ids; none is a not-found that says how to
 * find the id.
 */
export async function resolveCluster(client: ApiClient, ref: string): Promise<ClusterView> {
  if (CLUSTER_ID.test(ref)) {
    try {
      return await client.getCluster(ref);
    } catch (err) {
      if (!(err instanceof ApiNotFoundError)) throw err;
    }
  }
  const named = (await client.listClusters()).filter((c) => c.name === ref);
  const live = named.filter((c) => c.status !== 'DELETED' && c.status !== 'FAILED');
  const candidates = live.length > 0 ? live : named;
  if (candidates.length === 1 && candidates[0]) return candidates[0];
  if (candidates.length > 1) throw new AmbiguousClusterNameError(ref, candidates);
  throw new ClusterNotFoundError(ref);
}

/** Cluster statuses as typed in any case (`--status running`). */
export function parseStatus(raw: string): ClusterStatus {
  const wanted = raw.trim().toUpperCase();
  if (!STATUSES.includes(wanted as ClusterStatus)) {
    throw new ValidationError(`invalid --status ${JSON.stringify(raw)}`, [{ path: 'status', message: `must be one of ${STATUSES.join(', ')} in any case (got ${JSON.stringify(raw)})` }]);
  }
  return wanted as ClusterStatus;
}

export const STATUSES: readonly ClusterStatus[] = ['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING', 'DELETED', 'FAILED'];

/** Dollars a cluster cost: the accrued figure when the server has one, else the plan's rate over its life. */
export function costToDate(cluster: ClusterView, now = Date.now()): number {
  if (cluster.cost) return cluster.cost.toDate;
  const start = cluster.provisioningAt ?? cluster.createdAt;
  const end = cluster.endedAt ? Date.parse(cluster.endedAt) : now;
  return Math.max(0, ((end - Date.parse(start)) / 3_600_000) * cluster.plan.costPerHour);
}

function age(iso: string, now = Date.now()): string {
  const s = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (s < 90) return `${s}s`;
  if (s < 90 * 60) return `${Math.round(s / 60)}m`;
  if (s < 48 * 3600) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}

/**
 * Poll until the cluster reaches one of `targets`, showing each status
 * change: a spinner on a TTY, plain lines otherwise.
 */
/** `--wait`/`--follow` polls the cluster from every 500 ms up to every this many ms. */
const FOLLOW_MAX_INTERVAL_MS = 3_000;

export async function follow(client: ApiClient, first: ClusterView, targets: readonly ClusterStatus[], options: { intervalMs?: number; timeoutMs?: number } = {}): Promise<ClusterView> {
  const tty = process.stderr.isTTY === true;
  const started = Date.now();
  const frames = ['⠋', '⠙', '⠹', '⠸', '⠼', '⠴', '⠦', '⠧', '⠇', '⠏'];
  let frame = 0;
  let cluster = first;
  let shown: ClusterStatus | undefined;
  const poll: BackoffPolicy = { initialMs: options.intervalMs ?? 500, maxMs: FOLLOW_MAX_INTERVAL_MS, factor: 1.3, jitter: 'none' };
  let attempt = 0;
  const timeoutMs = options.timeoutMs ?? 30 * 60_000;
  const line = (text: string) => process.stderr.write(tty ? `\r\x1b[2K${text}` : `${text}\n`);
  const spin = tty
    ? setInterval(() => {
        frame = (frame + 1) % frames.length;
        process.stderr.write(`\r\x1b[2K${frames[frame]} ${cluster.id} ${cluster.status} (${Math.round((Date.now() - started) / 1000)} s)`);
      }, 120)
    : undefined;
  spin?.unref();
  try {
    for (;;) {
      for (const status of statusesSince(shown, cluster)) {
        const secs = ((Date.now() - started) / 1000).toFixed(1);
        const reason = status === cluster.status && cluster.statusReason ? ` — ${cluster.statusReason}` : '';
        line(`${shown ? `${shown} → ` : ''}${status} after ${secs} s${reason}`);
        if (tty) process.stderr.write('\n');
        shown = status;
      }
      if (targets.includes(cluster.status)) return cluster;
      if (cluster.status === 'FAILED' || cluster.status === 'DELETED') return cluster;
      if (Date.now() - started > timeoutMs) throw new Error(`gave up waiting for ${cluster.id} after ${Math.round(timeoutMs / 1000)} s (still ${cluster.status})`);
      await sleep(Math.round(backoffDelay(attempt++, poll)));
      cluster = await client.getCluster(cluster.id);
    }
  } finally {
    if (spin) {
      clearInterval(spin);
      process.stderr.write('\r\x1b[2K');
    }
  }
}

/** `4.1 s (queue 0.02, provision 0.31, process start 1.9, connect 0.9, observe 0.98)`: where the start went. */
function startLine(t: NonNullable<ClusterView['startTimeline']>): string {
  const s = (ms: number) => (ms / 1000).toFixed(ms < 10_000 ? 2 : 1);
  return `${s(t.totalMs)} s (${t.stages.map((st) => `${st.stage} ${s(st.ms)}`).join(', ')})`;
}

function describe(cluster: ClusterView, forecast?: { at: string; reason: string }): string {
  const p = cluster.plan;
  const ended = cluster.status === 'DELETED' || cluster.status === 'FAILED';
  // An ended cluster costs nothing more: show what it cost, not a rate it no longer runs at.
  const cost = ended
    ? `${dollars(costToDate(cluster))} in total (ran at ${dollars(p.costPerHour)}/hour)`
    : `${dollars(p.costPerHour)}/hour${cluster.cost ? `, ${dollars(cluster.cost.toDate)} so far` : ''}`;
  const lines: Array<[string, string]> = [
    ['id', cluster.id],
    ['name', cluster.name],
    ['owner', cluster.owner],
    ...(cluster.principalArn ? [['principal', cluster.principalArn] as [string, string]] : []),
    ...(cluster.job ? [['job', cluster.job] as [string, string]] : []),
    ['status', `${cluster.status}${cluster.statusReason ? ` (${cluster.statusReason})` : ''}`],
    ['workers', `${cluster.desiredWorkers} × ${cluster.spec.workerCpu} vCPU / ${cluster.spec.workerMemoryGiB} GiB`],
    ['nodes', `${p.instances} × ${p.instanceType} (${p.workersPerInstance} workers per node, bound by ${p.boundBy})`],
    ['cost', cost],
    ['namespace', cluster.namespace],
    ['created', `${cluster.createdAt} (${age(cluster.createdAt)} ago)`],
    ['last activity', `${cluster.lastActivityAt} (${age(cluster.lastActivityAt)} ago)`],
    ...(cluster.endedAt ? [['ended', `${cluster.endedAt} (${age(cluster.endedAt)} ago)`] as [string, string]] : []),
    ...(cluster.startTimeline ? [['start time', startLine(cluster.startTimeline)] as [string, string]] : []),
  ];
  // The addresses of an ended cluster lead nowhere.
  if (cluster.connection && !ended) {
    // Both routes: direct TCP inside the network, the SQS request queue from anywhere that reaches AWS.
    lines.push(['scheduler (tcp)', cluster.connection.schedulerAddress]);
    if (cluster.connection.requestQueueUrl) lines.push(['request queue (sqs)', cluster.connection.requestQueueUrl]);
    if (cluster.connection.payloadBucket) lines.push(['payloads (s3)', `s3://${cluster.connection.payloadBucket}/${cluster.connection.payloadPrefix ?? ''}`]);
    if (cluster.connection.dashboardUrl) lines.push(['dashboard', cluster.connection.dashboardUrl]);
  }
  if (forecast) lines.push(['removed at', `${forecast.at} if idle until then (${forecast.reason})`]);
  if (!ended) lines.push(['use from a script', `RECC_CLUSTER=id:${cluster.id} (close() there detaches; the cluster keeps running)`]);
  return formatKeyValues(lines);
}

/**
 * The request's spec part: a template NAME is sent for the API to resolve;
 * a spec file (a PATH, as `recc estimate --template` takes) is read here and
 * sent as fields, the flags winning field by field (maps key by key).
 */
async function specRequest(template: string | undefined, overrides: Record<string, unknown>): Promise<Record<string, unknown>> {
  if (template === undefined) return overrides;
  const { isTemplatePath, loadTemplate } = await import('../../shared/spec/templates.ts');
  if (!isTemplatePath(template)) return { ...overrides, template };
  const fromFile: Record<string, unknown> = { ...loadTemplate(template).spec };
  for (const [field, value] of Object.entries(overrides)) {
    const base = fromFile[field];
    const isMap = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
    fromFile[field] = isMap(base) && isMap(value) ? { ...base, ...value } : value;
  }
  return fromFile;
}

function templateLabel(template: string | undefined): string | undefined {
  if (template === undefined) return undefined;
  const base = template.split(/[\\/]/).pop() ?? template;
  return base.replace(/\.ya?ml$/i, '').replace(/[^A-Za-z0-9_-]/g, '-') || undefined;
}

export async function create(flags: ApiFlags & { template?: string; name?: string; job?: string; clientToken?: string; wait?: boolean }, overrides: Record<string, unknown>): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const { randomUUID } = await import('node:crypto');
  const label = templateLabel(flags.template);
  const result = await client.createCluster({
    ...(await specRequest(flags.template, overrides)),
    name: flags.name ?? defaultClusterName({ ...(label ? { template: label } : {}), ...(flags.job ? { job: flags.job } : {}) }),
    ...(flags.job ? { job: flags.job } : {}),
    clientToken: flags.clientToken ?? randomUUID(),
  });
  let cluster = result.cluster;
  if (!flags.json) {
    const p = result.plan;
    out(`${result.created ? 'Requested' : 'Found existing'} cluster ${cluster.id} (${cluster.name})`);
    out(`  ${cluster.desiredWorkers} workers on ${p.instances} × ${p.instanceType}: ${dollars(result.estimate.costPerHour)}/hour`);
  }
  if (flags.wait) cluster = await follow(client, cluster, ['RUNNING']);
  if (flags.wait && cluster.status !== 'RUNNING') throw new ClusterNotRunningError(cluster.id, cluster.status, cluster.statusReason);
  if (flags.json) {
    json({ ...result, cluster });
    return;
  }
  if (flags.wait) {
    if (cluster.connection) out(`  scheduler ${cluster.connection.schedulerAddress}${cluster.connection.dashboardUrl ? `, dashboard ${cluster.connection.dashboardUrl}` : ''}`);
    if (cluster.connection?.requestQueueUrl) out(`  request queue (sqs) ${cluster.connection.requestQueueUrl}`);
  } else {
    out(`  follow it with: recc cluster get ${cluster.id}`);
  }
  out(`  use it from a script: RECC_CLUSTER=id:${cluster.id}`);
}

export async function list(flags: ApiFlags & { all?: boolean; status?: string; limit?: string; nextToken?: string }): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const filter = { ...(flags.all ? { all: true } : {}), ...(flags.status ? { status: parseStatus(flags.status) } : {}) };
  const paged = flags.limit !== undefined || flags.nextToken !== undefined;
  let clusters: ClusterView[];
  let nextToken: string | null = null;
  if (paged) {
    const limit = flags.limit === undefined ? undefined : Number(flags.limit);
    if (limit !== undefined && !(Number.isSafeInteger(limit) && limit >= 1 && limit <= 1000)) {
      throw new ValidationError('invalid options for recc cluster list', [{ path: 'limit', message: `must be a whole number from 1 to 1000 (got ${JSON.stringify(flags.limit)})` }]);
    }
    const page = await client.listClustersPage({ ...filter, ...(limit === undefined ? {} : { limit }), ...(flags.nextToken ? { nextToken: flags.nextToken } : {}) });
    clusters = page.clusters;
    nextToken = page.nextToken;
  } else {
    clusters = await client.listClusters(filter);
  }
  if (flags.json) {
    // One page: {clusters, nextToken}; the whole list (no --limit/--next-token): the array, as before.
    json(paged ? { clusters, nextToken } : clusters);
    return;
  }
  if (paged && nextToken) process.stderr.write(`more: recc cluster list --next-token ${nextToken}${flags.limit ? ` --limit ${flags.limit}` : ''}\n`);
  if (clusters.length === 0) {
    out('no clusters');
    return;
  }
  const header = ['ID', 'NAME', 'STATUS', 'WORKERS', '$/HOUR', 'AGE', ...(flags.all ? ['OWNER'] : [])];
  const rows = clusters.map((c) => [c.id, c.name, c.status, String(c.desiredWorkers), dollars(c.plan.costPerHour), age(c.createdAt), ...(flags.all ? [c.owner] : [])]);
  out(formatColumns([header, ...rows]));
}

export async function get(ref: string, flags: ApiFlags): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const served = await resolveCluster(client, ref);
  const cluster = served.reapAt === undefined ? await withLocalReapForecast(served) : served;
  if (flags.json) {
    json(cluster);
    return;
  }
  out(describe(cluster, cluster.reapAt ? { at: cluster.reapAt, reason: cluster.reapReason ?? 'idle' } : undefined));
}

/**
 * Servers older than the `reapAt` field: estimate it here with the default
 * harvest config (the server computes it with its own config otherwise).
 */
async function withLocalReapForecast(cluster: ClusterView): Promise<ClusterView> {
  if (cluster.status !== 'RUNNING') return { ...cluster, reapAt: null, reapReason: null };
  const [{ reapAt }, { DEFAULT_HARVEST_CONFIG }] = await Promise.all([import('../../shared/harvest/plan.ts'), import('../../shared/harvest/types.ts')]);
  const forecast = reapAt(cluster as Parameters<typeof reapAt>[0], DEFAULT_HARVEST_CONFIG);
  return { ...cluster, reapAt: forecast?.at ?? null, reapReason: forecast?.reason ?? null };
}

/** `recc cluster dashboard`: a short-lived signed link to the live dashboard (shared/engine/dashboard-link.ts); the token never appears in it. */
export async function dashboard(ref: string, flags: ApiFlags & { ttl?: string; open?: boolean }): Promise<void> {
  const { DASHBOARD_LINK_DEFAULT_TTL_MS, DASHBOARD_LINK_MAX_TTL_MS, signedDashboardLink } = await import('../../shared/engine/dashboard-link.ts');
  const ttlS = flags.ttl === undefined ? DASHBOARD_LINK_DEFAULT_TTL_MS / 1000 : Number(flags.ttl);
  if (!(Number.isInteger(ttlS) && ttlS >= 1 && ttlS * 1000 <= DASHBOARD_LINK_MAX_TTL_MS)) {
    throw new ValidationError('invalid --ttl', [{ path: 'ttl', message: `must be whole seconds from 1 to ${DASHBOARD_LINK_MAX_TTL_MS / 1000} (got ${JSON.stringify(flags.ttl)})` }]);
  }
  const client = new ApiClient(clientOptions(flags));
  const cluster = await resolveCluster(client, ref);
  const base = cluster.connection?.dashboardUrl;
  const token = cluster.connection?.token;
  if (cluster.status !== 'RUNNING' || !base || !token) throw new ClusterNotRunningError(cluster.id, cluster.status, base ? cluster.statusReason : 'it has no dashboard, or you are not its owner');
  const expiresAt = Date.now() + ttlS * 1000;
  const url = signedDashboardLink(base, token, expiresAt);
  if (flags.json) json({ url, expiresAt: new Date(expiresAt).toISOString() });
  else out(`${url}\n  (valid for ${ttlS} s; open it in a browser)`);
  const { openInBrowser, shouldOpen } = await import('../open-browser.ts');
  if (shouldOpen(flags.open, flags.json) && !(await openInBrowser(url)) && !flags.json) out('  (could not start a browser; open the link above)');
}

export async function remove(ref: string, flags: ApiFlags & { wait?: boolean }): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  let cluster = await client.deleteCluster((await resolveCluster(client, ref)).id);
  if (flags.wait) cluster = await follow(client, cluster, ['DELETED', 'FAILED']);
  if (flags.json) {
    json(cluster);
    return;
  }
  out(`cluster ${cluster.id} is ${cluster.status}`);
}

export async function scale(ref: string, nWorkers: number | string, flags: ApiFlags): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const { id } = await resolveCluster(client, ref);
  // Sent as typed: the API names nWorkers if it is not a positive whole number.
  const cluster = await client.scaleCluster(id, nWorkers as number);
  if (flags.json) {
    json(cluster);
    return;
  }
  out(`cluster ${cluster.id}: ${cluster.desiredWorkers} workers requested (${dollars(cluster.plan.costPerHour)}/hour)`);
}
