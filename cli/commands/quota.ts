import type { Command } from 'commander';
import { formatColumns } from '../../shared/core/text.ts';
import type { QuotaReport } from '../../shared/quota/report.ts';

/**
 * `recc quota [--user NAME] [--json]`: the caller's quotas (user and each
 * group) with usage and what is left, from `GET /quota`. Admins may pass
 * `--user` to see another user's. Heavy code is imported inside the action.
 */
export function registerQuota(program: Command): void {
  program
    .command('quota')
    .description('show your quotas (clusters, vCPUs, GPUs, $/hour) per user and group, with usage')
    .option('--user <name>', "another user's quota (admins only)")
    .option('--api <url>', 'API URL (default: $RECC_API_URL, ~/.recc/config.json, or http://127.0.0.1:4600)')
    .option('--token <token>', 'bearer token of a local stack started with --token (default: $RECC_API_TOKEN)')
    .option('--json', 'print the answer as JSON')
    .action(async (opts: { user?: string; api?: string; token?: string; json?: boolean }) => {
      const { ApiClient } = await import('../../client/api-client.ts');
      const { clientOptions } = await import('./cluster-actions.ts');
      const client = new ApiClient(clientOptions({ ...(opts.api ? { api: opts.api } : {}), ...(opts.token ? { token: opts.token } : {}) }));
      const qs = opts.user === undefined ? '' : `?${new URLSearchParams({ user: opts.user }).toString()}`;
      const report = await client.request<QuotaReport>('GET', `/quota${qs}`);
      if (opts.json) {
        const { printJson } = await import('../output.ts');
        printJson(report);
        return;
      }
      process.stdout.write(`${formatQuota(report)}\n`);
    });
}

const COLUMNS = [
  ['clusters', 'clusters'],
  ['vcpus', 'vCPUs'],
  ['gpus', 'GPUs'],
  ['costPerHour', '$/hour'],
] as const;

function amount(dimension: string, value: number | null): string {
  if (value === null) return 'unlimited';
  return dimension === 'costPerHour' ? `$${value.toFixed(2)}` : String(Math.round(value * 1000) / 1000);
}

/** One row per scope: `used / limit` for each dimension, then a line naming any dimension that is full. */
export function formatQuota(report: QuotaReport): string {
  const rows: string[][] = [['SCOPE', ...COLUMNS.map(([, label]) => `${label} used / limit`)]];
  const full: string[] = [];
  for (const s of report.scopes) {
    rows.push([
      `${s.kind} ${s.name}`,
      ...COLUMNS.map(([d]) => `${amount(d, s.usage[d])} / ${amount(d, s.limits[d])}`),
    ]);
    for (const [d, label] of COLUMNS) if (s.available[d] === 0) full.push(`${s.kind} ${s.name}: ${label} at the limit`);
  }
  const head = `Quotas of ${report.user} (a cluster counts against every scope below while REQUESTED, PROVISIONING or RUNNING):`;
  return [head, formatColumns(rows), ...(full.length ? ['', ...full.map((f) => `full: ${f}`)] : [])].join('\n');
}
