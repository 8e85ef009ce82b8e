import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ValidationError } from '../../shared/core/errors.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';
import { formatColumns, formatKeyValues } from '../../shared/core/text.ts';
import { dollars } from '../../shared/plan/format.ts';
import type { ClusterStatus } from '../../shared/lifecycle/types.ts';
import type { ClusterView } from '../../shared/api/views.ts';
import { ApiClient, apiClientOptionsFromEnv, DEFAULT_API_URL, type ApiClientOptions } from '../../client/api-client.ts';
import { statusesSince } from '../../client/recc-cluster.ts';

/**
 * The actions of `recc cluster …` (loaded lazily by `cluster.ts`). Human
 * output is short and aligned; `--json` prints the API's objects.
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
  out(JSON.stringify(value, null, 2));
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

function describe(cluster: ClusterView, forecast?: { at: string; reason: string }): string {
  const p = cluster.plan;
  const lines: Array<[string, string]> = [
    ['id', cluster.id],
    ['name', cluster.name],
    ['owner', cluster.owner],
    ...(cluster.principalArn ? [['principal', cluster.principalArn] as [string, string]] : []),
    ...(cluster.job ? [['job', cluster.job] as [string, string]] : []),
    ['status', `${cluster.status}${cluster.statusReason ? ` (${cluster.statusReason})` : ''}`],
    ['workers', `${cluster.desiredWorkers} × ${cluster.spec.workerCpu} vCPU / ${cluster.spec.workerMemoryGiB} GiB`],
    ['nodes', `${p.instances} × ${p.instanceType} (${p.workersPerInstance} workers per node, bound by ${p.boundBy})`],
    ['cost', `${dollars(p.costPerHour)}/hour${cluster.cost ? `, ${dollars(cluster.cost.toDate)} so far` : ''}`],
    ['namespace', cluster.namespace],
    ['created', `${cluster.createdAt} (${age(cluster.createdAt)} ago)`],
    ['last activity', `${cluster.lastActivityAt} (${age(cluster.lastActivityAt)} ago)`],
  ];
  if (cluster.connection) {
    lines.push(['scheduler', cluster.connection.schedulerAddress]);
    if (cluster.connection.dashboardUrl) lines.push(['dashboard', cluster.connection.dashboardUrl]);
  }
  if (forecast) lines.push(['removed at', `${forecast.at} if idle until then (${forecast.reason})`]);
  return formatKeyValues(lines);
}

export async function create(flags: ApiFlags & { template?: string; name?: string; job?: string; clientToken?: string; wait?: boolean }, overrides: Record<string, unknown>): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const { randomUUID } = await import('node:crypto');
  const result = await client.createCluster({
    ...overrides,
    ...(flags.template ? { template: flags.template } : {}),
    ...(flags.name ? { name: flags.name } : {}),
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
  if (flags.json) {
    json({ ...result, cluster });
    return;
  }
  if (flags.wait) {
    if (cluster.status !== 'RUNNING') {
      process.exitCode = 1;
      out(`cluster ${cluster.id} is ${cluster.status}${cluster.statusReason ? `: ${cluster.statusReason}` : ''}`);
      return;
    }
    if (cluster.connection) out(`  scheduler ${cluster.connection.schedulerAddress}${cluster.connection.dashboardUrl ? `, dashboard ${cluster.connection.dashboardUrl}` : ''}`);
  } else {
    out(`  follow it with: recc cluster get ${cluster.id}`);
  }
}

export async function list(flags: ApiFlags & { all?: boolean; status?: string }): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const clusters = await client.listClusters({ ...(flags.all ? { all: true } : {}), ...(flags.status ? { status: flags.status as ClusterStatus } : {}) });
  if (flags.json) {
    json(clusters);
    return;
  }
  if (clusters.length === 0) {
    out('no clusters');
    return;
  }
  const header = ['ID', 'NAME', 'STATUS', 'WORKERS', '$/HOUR', 'AGE', ...(flags.all ? ['OWNER'] : [])];
  const rows = clusters.map((c) => [c.id, c.name, c.status, String(c.desiredWorkers), dollars(c.plan.costPerHour), age(c.createdAt), ...(flags.all ? [c.owner] : [])]);
  out(formatColumns([header, ...rows]));
}

export async function get(id: string, flags: ApiFlags): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  const served = await client.getCluster(id);
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

export async function remove(id: string, flags: ApiFlags & { wait?: boolean }): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  let cluster = await client.deleteCluster(id);
  if (flags.wait) cluster = await follow(client, cluster, ['DELETED', 'FAILED']);
  if (flags.json) {
    json(cluster);
    return;
  }
  out(`cluster ${cluster.id} is ${cluster.status}`);
}

export async function scale(id: string, nWorkers: number | string, flags: ApiFlags): Promise<void> {
  const client = new ApiClient(clientOptions(flags));
  // Sent as typed: the API names nWorkers if it is not a positive whole number.
  const cluster = await client.scaleCluster(id, nWorkers as number);
  if (flags.json) {
    json(cluster);
    return;
  }
  out(`cluster ${cluster.id}: ${cluster.desiredWorkers} workers requested (${dollars(cluster.plan.costPerHour)}/hour)`);
}
