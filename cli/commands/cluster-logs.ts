import type { Command } from 'commander';
import type { ApiClient } from '../../client/api-client.ts';
import { sleep } from '../../shared/core/retry.ts';

/**
 * `recc cluster logs CLUSTER [--component C] [--since T] [--grep TEXT] [--follow] [--json]`:
 * the scheduler, worker and job-driver lines of a cluster, before and after
 * it is deleted, through the API route `GET /clusters/{id}/logs`, which
 * the local stack serves from its state dir (files and byte offsets) and AWS
 * from CloudWatch Logs (events, `since`, `nextToken`). Both answers become
 * the same lines here, so the command prints the same thing on both:
 * `[component] line` (no prefix with `--component`), or with `--json` one
 * object per line `{clusterId, component, time, message}`.
 * `--follow` keeps printing new lines until the cluster has ended and
 * nothing new arrives (or Ctrl-C). `recc job logs RUN` uses the same path for
 * the run's cluster.
 */
export const LOG_COMPONENT_NAMES = ['scheduler', 'worker', 'driver', 'control'] as const;

export interface LogsFlags {
  component?: string;
  since?: string;
  grep?: string;
  follow?: boolean;
  api?: string;
  token?: string;
  json?: boolean;
  interval?: string;
}

interface LocalChunk {
  name: string;
  component: string;
  size: number;
  offset: number;
  content: string;
}

interface LogsResponse {
  clusterId: string;
  status?: string;
  /** Local stack. */
  files?: LocalChunk[];
  /** AWS (CloudWatch Logs). */
  events?: Array<{ timestamp: number; component: string; message: string; eventId?: string }>;
  nextToken?: string;
}

export interface LogLine {
  component: string;
  time?: number;
  message: string;
}

/** `--since`: an ISO time, or a duration back from now (`90s`, `15m`, `2h`, `3d`). */
export function parseSince(text: string, now: number): number | undefined {
  const rel = /^(\d+)(s|m|h|d)$/.exec(text.trim());
  if (rel) return now - Number(rel[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
  const ms = Date.parse(text);
  return Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}/.test(text.trim()) ? undefined : ms;
}

/** The time of a JSON log line (`time`), if it has one. */
function lineTime(message: string): number | undefined {
  if (!message.startsWith('{')) return undefined;
  try {
    const t = (JSON.parse(message) as { time?: unknown }).time;
    const ms = typeof t === 'string' ? Date.parse(t) : NaN;
    return Number.isNaN(ms) ? undefined : ms;
  } catch {
    return undefined;
  }
}

/** Reads a cluster's lines through either answer shape, remembering where the last read stopped. */
export class ClusterLogCursor {
  private readonly offsets = new Map<string, number>();
  private readonly partial = new Map<string, string>();
  private sinceMs: number | undefined;
  private readonly seenAtSince = new Set<string>();
  status: string | undefined;

  constructor(
    private readonly client: ApiClient,
    readonly clusterId: string,
    private readonly options: { component?: string; since?: number; grep?: string },
  ) {
    this.sinceMs = options.since;
  }

  /** New complete lines since the last call (`final`: also a last line without newline). */
  async next(final: boolean): Promise<LogLine[]> {
    const lines: LogLine[] = [];
    let token: string | undefined;
    for (let page = 0; page < 100; page += 1) {
      const params = new URLSearchParams();
      if (this.options.component) params.set('component', this.options.component);
      if (this.offsets.size) params.set('offsets', [...this.offsets].map(([n, o]) => `${n}:${o}`).join(','));
      if (this.sinceMs !== undefined) params.set('since', new Date(this.sinceMs).toISOString());
      if (this.options.grep) params.set('grep', this.options.grep);
      if (token) params.set('nextToken', token);
      const path = `/clusters/${encodeURIComponent(this.clusterId)}/logs${params.size ? `?${params}` : ''}`;
      const response = await this.client.request<LogsResponse>('GET', path);
      this.status = response.status;
      if (response.files) {
        lines.push(...this.fromFiles(response.files, final));
        break;
      }
      lines.push(...this.fromEvents(response.events ?? []));
      token = response.nextToken;
      if (!token) break;
    }
    return lines.filter((l) => (!this.options.grep || l.message.includes(this.options.grep)) && (this.options.since === undefined || l.time === undefined || l.time >= this.options.since));
  }

  private fromFiles(files: LocalChunk[], final: boolean): LogLine[] {
    const out: LogLine[] = [];
    for (const file of files) {
      this.offsets.set(file.name, file.offset + Buffer.byteLength(file.content));
      const text = (this.partial.get(file.name) ?? '') + file.content;
      const parts = text.split('\n');
      const rest = parts.pop() ?? '';
      this.partial.set(file.name, final ? '' : rest);
      if (final && rest) parts.push(rest);
      for (const message of parts) {
        const time = lineTime(message);
        out.push({ component: file.component, message, ...(time !== undefined ? { time } : {}) });
      }
    }
    return out;
  }

  private fromEvents(events: NonNullable<LogsResponse['events']>): LogLine[] {
    const out: LogLine[] = [];
    for (const e of events) {
      // `since` is inclusive: events at the boundary time seen last poll are skipped by id.
      const key = e.eventId ?? `${e.timestamp}:${e.component}:${e.message}`;
      if (this.sinceMs !== undefined && e.timestamp === this.sinceMs && this.seenAtSince.has(key)) continue;
      if (this.sinceMs === undefined || e.timestamp > this.sinceMs) {
        this.sinceMs = e.timestamp;
        this.seenAtSince.clear();
      }
      this.seenAtSince.add(key);
      out.push({ component: e.component, time: e.timestamp, message: e.message });
    }
    return out;
  }
}

/** Print a cluster's logs as `recc cluster logs` does (also used by `recc job logs`). */
export async function printClusterLogs(client: ApiClient, clusterId: string, flags: LogsFlags): Promise<void> {
  const { ReccError } = await import('../../shared/core/errors.ts');
  const { ApiNotFoundError } = await import('../../client/api-client.ts');
  const since = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
  const cursor = new ClusterLogCursor(client, clusterId, {
    ...(flags.component ? { component: flags.component } : {}),
    ...(since !== undefined ? { since } : {}),
    ...(flags.grep ? { grep: flags.grep } : {}),
  });
  const print = (lines: LogLine[]) => {
    for (const line of lines) {
      if (flags.json) {
        process.stdout.write(`${JSON.stringify({ clusterId, component: line.component, time: line.time === undefined ? null : new Date(line.time).toISOString(), message: line.message })}\n`);
      } else {
        process.stdout.write(`${flags.component ? '' : `[${line.component}] `}${line.message}\n`);
      }
    }
  };
  const read = async (final: boolean) => {
    try {
      return await cursor.next(final);
    } catch (err) {
      if (err instanceof ApiNotFoundError && (err.serverType === 'RouteNotFoundError' || err.serverType === 'LogsNotConfiguredError')) {
        throw new ReccError(`${client.apiUrl} does not serve cluster logs (the local stack, recc up, and a deployed stage with a cluster log group do)`, { statusCode: 404, cause: err });
      }
      throw err;
    }
  };

  const first = await read(!flags.follow);
  print(first);
  if (!first.length && !flags.json) process.stderr.write(`no logs for cluster ${clusterId}${flags.grep || flags.since ? ' matching the filters' : ''} yet\n`);
  if (!flags.follow) return;

  const interval = Number(flags.interval ?? '1');
  let quietAfterEnd = 0;
  // Ctrl-C ends the wait at once (not after the current interval).
  const interrupted = new AbortController();
  const stop = () => interrupted.abort();
  process.once('SIGINT', stop);
  try {
    while (!interrupted.signal.aborted) {
      const stopped = await sleep(interval * 1000, { signal: interrupted.signal }).then(
        () => false,
        () => true,
      );
      if (stopped) break;
      const ended = cursor.status === 'DELETED' || cursor.status === 'FAILED';
      const next = await read(ended && quietAfterEnd >= 1);
      print(next);
      quietAfterEnd = ended && next.length === 0 ? quietAfterEnd + 1 : 0;
      if (quietAfterEnd >= 2) break;
    }
  } finally {
    process.off('SIGINT', stop);
  }
}

/** Validate the shared flags of `cluster logs` and `job logs`; every problem is listed. */
export function logsFlagProblems(flags: LogsFlags): Array<{ path: string; message: string }> {
  const problems: Array<{ path: string; message: string }> = [];
  if (flags.component !== undefined && !(LOG_COMPONENT_NAMES as readonly string[]).includes(flags.component)) {
    problems.push({ path: 'component', message: `must be one of ${LOG_COMPONENT_NAMES.join(', ')} (got ${JSON.stringify(flags.component)})` });
  }
  const interval = Number(flags.interval ?? '1');
  if (!(interval > 0 && interval <= 60)) problems.push({ path: 'interval', message: 'must be a number of seconds from 0 to 60' });
  if (flags.since !== undefined && parseSince(flags.since, Date.now()) === undefined) {
    problems.push({ path: 'since', message: `must be an ISO time (2026-12-05T08:00:00Z) or a duration such as 15m, 2h, 3d (got ${JSON.stringify(flags.since)})` });
  }
  if (flags.grep !== undefined && (flags.grep === '' || flags.grep.length > 512)) problems.push({ path: 'grep', message: 'must be 1 to 512 characters' });
  return problems;
}

export function registerClusterLogs(group: Command): void {
  group
    .command('logs <cluster>')
    .description('print the scheduler, worker and driver logs of a cluster (also after deletion; local stack and AWS)')
    .option('--component <component>', LOG_COMPONENT_NAMES.join(', '))
    .option('--since <time>', 'only lines from this time: ISO time or a duration back from now (15m, 2h, 3d)')
    .option('--grep <text>', 'only lines containing this text (case-sensitive)')
    .option('--follow', 'keep printing new lines')
    .option('--interval <seconds>', 'poll interval with --follow', '1')
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'one JSON object per line: {clusterId, component, time, message}')
    .action(async (ref: string, flags: LogsFlags) => {
      const { ValidationError } = await import('../../shared/core/errors.ts');
      const { clientOptions, resolveCluster } = await import('./cluster-actions.ts');
      const { ApiClient } = await import('../../client/api-client.ts');
      const problems = logsFlagProblems(flags);
      if (problems.length) throw new ValidationError('invalid arguments for recc cluster logs', problems);
      const { ApiNotFoundError } = await import('../../client/api-client.ts');
      const client = new ApiClient(clientOptions(flags));
      // An id is used as given (logs outlive the record); anything else, or an id-like name, is looked up as a name.
      if (!/^[a-z0-9][a-z0-9-]{0,63}$/.test(ref)) return printClusterLogs(client, (await resolveCluster(client, ref)).id, flags);
      try {
        await printClusterLogs(client, ref, flags);
      } catch (err) {
        if (!(err instanceof ApiNotFoundError) || err.serverType !== 'ClusterNotFoundError') throw err;
        const named = await resolveCluster(client, ref).catch(() => undefined);
        if (!named || named.id === ref) throw err;
        await printClusterLogs(client, named.id, flags);
      }
    });
}
