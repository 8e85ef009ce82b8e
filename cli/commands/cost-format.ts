import { ValidationError } from '../../shared/core/errors.ts';
import type { CostsResult } from '../../control/costs.ts';
import { formatUsdCents } from '../../shared/cost/money.ts';
import { formatColumns } from '../../shared/core/text.ts';

/**
 * Pure helpers of `recc cost` (light: no SDK, no network), kept apart from
 * the command so they can be tested directly.
 */

/**
 * `--since` → an ISO time: `7d`, `24h`, `90m` (ago), `month` (start of the
 * current UTC month), or an ISO date/time (`2026-11-01`, `2026-11-01T12:00Z`).
 */
export function parseSince(value: string, now: number, flag: 'since' | 'until' = 'since'): string {
  const v = value.trim();
  const rel = /^(\d+(?:\.\d+)?)\s*([dhm])$/.exec(v);
  if (rel) {
    const n = Number(rel[1]);
    const unit = rel[2] === 'd' ? 86_400_000 : rel[2] === 'h' ? 3_600_000 : 60_000;
    if (n > 0) return new Date(now - n * unit).toISOString();
  }
  if (v === 'month') {
    const d = new Date(now);
    return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)).toISOString();
  }
  if (/^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(v) && !Number.isNaN(Date.parse(v))) {
    return new Date(Date.parse(v)).toISOString();
  }
  throw new ValidationError(`invalid --${flag}`, [
    { path: flag, message: `"${value}" is not a duration (7d, 24h, 90m), "month" or an ISO date such as 2026-11-01` },
  ]);
}

/** Runs listed per job in the table. */
const RUNS_SHOWN = 10;

/** A plain-text table of the costs for a terminal. */
export function formatCosts(costs: CostsResult): string {
  const head = costs.groupBy.toUpperCase();
  // By job: the job and its owner apart (two users' `nightly` are two jobs).
  const byJob = costs.groupBy === 'job';
  const rows: string[][] = [[head, ...(byJob ? ['OWNER'] : []), 'COST', 'NODE-HOURS', 'CLUSTERS', '$/HOUR NOW', 'TOP CLUSTER']];
  const blank = byJob ? [''] : [];
  for (const g of costs.groups) {
    const top = g.top[0];
    rows.push([byJob ? (g.job ?? g.key) : g.key, ...(byJob ? [g.owner ?? ''] : []), formatUsdCents(g.cost), g.nodeHours.toFixed(2), String(g.clusters), formatUsdCents(g.perHour), top ? `${top.clusterId} (${formatUsdCents(top.cost)})` : '']);
    // By job: each run under its job, newest first (one cluster per run).
    const runs = g.runs ?? [];
    for (const r of runs.slice(0, RUNS_SHOWN)) rows.push([`  ${r.run}`, ...blank, formatUsdCents(r.cost), r.nodeHours.toFixed(2), '1', '', `${r.clusterId} ${r.status}${r.startedAt ? ` ${r.startedAt.slice(0, 16).replace('T', ' ')}` : ''}`]);
    if (runs.length > RUNS_SHOWN) rows.push([`  (+${runs.length - RUNS_SHOWN} more runs; --json lists all)`, ...blank, '', '', '', '', '']);
  }
  rows.push(['TOTAL', ...blank, formatUsdCents(costs.total), costs.nodeHours.toFixed(2), '', '', '']);
  const lines = [
    `Costs by ${costs.groupBy}, ${costs.from} → ${costs.to} (${costs.scope === 'all' ? 'all users' : 'your clusters'})`,
    ...formatColumns(rows).split('\n'),
  ];
  if (costs.groups.length === 0) lines.splice(1, lines.length - 1, 'No cluster ran in this period.');
  const m = costs.month;
  lines.push(
    `Month ${m.month}: to date ${formatUsdCents(m.monthToDate)}, forecast ${formatUsdCents(m.forecast)} (linear on ${m.elapsedDays} of ${m.daysInMonth} days)`,
  );
  return lines.join('\n');
}
