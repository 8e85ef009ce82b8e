import type { Command } from 'commander';
import { sleep } from '../../shared/core/retry.ts';

interface LogsFlags {
  component?: string;
  follow?: boolean;
  api?: string;
  token?: string;
  json?: boolean;
  interval?: string;
}

interface LogChunk {
  name: string;
  component: string;
  size: number;
  offset: number;
  content: string;
}

interface LogsResponse {
  clusterId: string;
  status?: string;
  files: LogChunk[];
}

/**
 * `recc cluster logs CLUSTER [--component scheduler|worker] [--follow]`: the
 * scheduler and worker logs of a cluster on the local stack (`recc up` keeps
 * them under its state dir, also after the cluster is deleted). Talks to the
 * local API route `GET /clusters/{id}/logs`. With --follow it keeps printing
 * new lines until the cluster has ended and nothing new arrives (or Ctrl-C).
 */
export function registerClusterLogs(group: Command): void {
  group
    .command('logs <cluster>')
    .description('print the scheduler and worker logs of a cluster on the local stack (also after deletion)')
    .option('--component <component>', 'scheduler or worker')
    .option('--follow', 'keep printing new lines')
    .option('--interval <seconds>', 'poll interval with --follow', '1')
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'print the response as JSON (one object per poll with --follow)')
    .action(async (ref: string, flags: LogsFlags) => {
      const { ValidationError, ReccError } = await import('../../shared/core/errors.ts');
      const { clientOptions, resolveCluster } = await import('./cluster-actions.ts');
      const { printJson } = await import('../output.ts');
      const { ApiClient, ApiNotFoundError } = await import('../../client/api-client.ts');
      const problems: Array<{ path: string; message: string }> = [];
      if (flags.component !== undefined && flags.component !== 'scheduler' && flags.component !== 'worker') {
        problems.push({ path: 'component', message: `must be scheduler or worker (got ${JSON.stringify(flags.component)})` });
      }
      const interval = Number(flags.interval ?? '1');
      if (!(interval > 0 && interval <= 60)) problems.push({ path: 'interval', message: 'must be a number of seconds from 0 to 60' });
      if (problems.length) throw new ValidationError('invalid arguments for recc cluster logs', problems);
      const client = new ApiClient(clientOptions(flags));
      // An id is used as given (logs outlive the record); anything else is looked up as a name.
      const id = /^[a-z0-9][a-z0-9-]{0,63}$/.test(ref) ? ref : (await resolveCluster(client, ref)).id;

      const offsets = new Map<string, number>();
      const fetchLogs = async (): Promise<LogsResponse> => {
        const params = new URLSearchParams();
        if (flags.component) params.set('component', flags.component);
        if (offsets.size) params.set('offsets', [...offsets].map(([n, o]) => `${n}:${o}`).join(','));
        const path = `/clusters/${encodeURIComponent(id)}/logs${params.size ? `?${params}` : ''}`;
        try {
          return await client.request<LogsResponse>('GET', path);
        } catch (err) {
          if (err instanceof ApiNotFoundError && err.serverType === 'RouteNotFoundError') {
            throw new ReccError(`${client.apiUrl} does not serve cluster logs (only the local stack, recc up, keeps them)`, { statusCode: 404, cause: err });
          }
          throw err;
        }
      };

      const print = (response: LogsResponse, multi: boolean): number => {
        let bytes = 0;
        // One envelope per poll, one per line (cli/output.ts).
        if (flags.json) printJson(response, { compact: true });
        for (const file of response.files) {
          offsets.set(file.name, file.offset + Buffer.byteLength(file.content));
          bytes += file.content.length;
          if (flags.json || !file.content) continue;
          const prefix = multi ? `[${file.name.replace(/\.log$/, '')}] ` : '';
          const text = file.content.endsWith('\n') ? file.content.slice(0, -1) : file.content;
          process.stdout.write(`${text.split('\n').map((l) => prefix + l).join('\n')}\n`);
        }
        return bytes;
      };

      const first = await fetchLogs();
      const multi = first.files.length > 1;
      print(first, multi);
      if (!first.files.length && !flags.json) process.stderr.write(`no logs for cluster ${id} yet\n`);
      if (!flags.follow) return;

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
          const next = await fetchLogs();
          const bytes = print(next, multi || next.files.length > 1);
          const ended = next.status === 'DELETED' || next.status === 'FAILED';
          quietAfterEnd = ended && bytes === 0 ? quietAfterEnd + 1 : 0;
          if (quietAfterEnd >= 2) break;
        }
      } finally {
        process.off('SIGINT', stop);
      }
    });
}
