import type { Command } from 'commander';
import { ValidationError } from '../../shared/core/errors.ts';

/**
 * `recc cost [--by|--group-by user|namespace|job] [--since 7d|24h|month|ISO] [--until ISO] [--json]`:
 * costs from `GET /costs`, grouped as asked, with node-hours, the top cluster
 * of each group and the month forecast; `--by job` also lists each job's
 * runs with the cost of the cluster each run had. Users see their own clusters, admins
 * everyone's. Heavy code is imported inside the action.
 */
const GROUPS = ['user', 'namespace', 'job'];

export function registerCost(program: Command): void {
  program
    .command('cost')
    .description('show cluster costs by user, namespace or job, with the month-to-date forecast')
    .option('--group-by <key>', `group by ${GROUPS.join(', ')}`, 'user')
    .option('--by <key>', 'the same as --group-by (`recc cost --by job`: per job and per run)')
    .option('--since <when>', 'start of the period: 7d, 24h, 90m, month, or an ISO date (default: start of this month)')
    .option('--until <when>', 'end of the period: an ISO date or time (default: now)')
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { groupBy: string; by?: string; since?: string; until?: string; api?: string; token?: string; json?: boolean }) => {
      const { parseSince, formatCosts } = await import('./cost-format.ts');
      // Every problem at once.
      const problems: Array<{ path: string; message: string }> = [];
      if (opts.by !== undefined) {
        if (opts.groupBy !== 'user' && opts.groupBy !== opts.by) problems.push({ path: 'by', message: `--by ${opts.by} and --group-by ${opts.groupBy} disagree; give one` });
        opts.groupBy = opts.by;
      }
      if (!GROUPS.includes(opts.groupBy)) problems.push({ path: 'groupBy', message: `must be one of ${GROUPS.join(', ')} (got ${JSON.stringify(opts.groupBy)})` });
      const now = Date.now();
      const parse = (value: string | undefined, flag: 'since' | 'until'): string | undefined => {
        if (value === undefined) return undefined;
        try {
          return parseSince(value, now, flag);
        } catch (err) {
          if (!(err instanceof ValidationError)) throw err;
          problems.push(...err.details);
          return undefined;
        }
      };
      const from = parse(opts.since, 'since');
      const to = parse(opts.until, 'until');
      if (from !== undefined && to !== undefined && Date.parse(from) >= Date.parse(to)) {
        problems.push({ path: 'since', message: `must be before --until (${from} is not before ${to})` });
      }
      if (problems.length > 0) throw new ValidationError('invalid options for recc cost', problems);
      const { fetchCosts } = await import('./cost-api.ts');
      const costs = await fetchCosts({
        groupBy: opts.groupBy,
        ...(opts.api ? { api: opts.api } : {}),
        ...(opts.token ? { token: opts.token } : {}),
        ...(from ? { from } : {}),
        ...(to ? { to } : {}),
      });
      if (opts.json) {
        const { printJson } = await import('../output.ts');
        printJson(costs);
        return;
      }
      process.stdout.write(`${formatCosts(costs)}\n`);
    });
}
