import type { ClusterRecord } from '../lifecycle/types.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../harvest/types.ts';
import { accrue, billedUntil, nodeHours } from './accrual.ts';

/**
 * Cost aggregation (pure): by user, namespace or job over a period.
 *
 * A cluster's cost inside [from, to) is its accrued cost to date times the
 * share of its billed interval that falls inside the period. That is exact
 * while the cluster ran at one rate (the usual case) and spreads a scaled
 * cluster's cost evenly over its life otherwise.
 */
export const GROUP_BY = ['user', 'namespace', 'job'] as const;
export type GroupBy = (typeof GROUP_BY)[number];

/** Jobs left unnamed are grouped under this key. */
export const NO_JOB = '(no job)';

/**
 * A job's group key: `<owner>/<job>`. Job names are unique per owner only, so
 * two users' `nightly` are two jobs (and two budgets, two alerts); owners are
 * IAM names, which never contain `/`, so the key splits back unambiguously.
 */
export function jobGroupKey(owner: string, job: string): string {
  return `${owner}/${job}`;
}

/** The owner and job name of a job group key (undefined for NO_JOB or a key without an owner). */
export function splitJobGroupKey(key: string): { owner: string; job: string } | undefined {
  const at = key.indexOf('/');
  if (key === NO_JOB || at <= 0) return undefined;
  return { owner: key.slice(0, at), job: key.slice(at + 1) };
}

export interface ClusterCostLine {
  clusterId: string;
  name: string;
  owner: string;
  namespace: string;
  job?: string;
  /** The scheduled-job run the cluster was created for (its `recc-run` tag). */
  run?: string;
  status: ClusterRecord['status'];
  /** Dollars inside the period. */
  cost: number;
  nodeHours: number;
  /** Current $/hour (0 once ended). */
  perHour: number;
}

export interface CostGroup {
  /** The user, the namespace, or by job `<owner>/<job>` (jobGroupKey). */
  key: string;
  /** By job: the job's owner and name (absent on the NO_JOB group). */
  owner?: string;
  job?: string;
  cost: number;
  nodeHours: number;
  clusters: number;
  /** Sum of $/hour of its live clusters: what it keeps spending. */
  perHour: number;
  /** Most expensive clusters in the period, highest first. */
  top: ClusterCostLine[];
  /** By job only: every run of the job billed in the period (one cluster each), newest first. */
  runs?: RunCostLine[];
}

/** One scheduled-job run's cost: the cost of the cluster created for it. */
export interface RunCostLine {
  run: string;
  clusterId: string;
  status: ClusterRecord['status'];
  /** When the run's cluster started provisioning (billing starts). */
  startedAt?: string;
  cost: number;
  nodeHours: number;
}

/** The run a cluster was created for (`recc-run` tag, set by the run driver). */
export function runOf(record: ClusterRecord): string | undefined {
  const run = record.spec.tags?.['recc-run'];
  return typeof run === 'string' && run.length > 0 ? run : undefined;
}

export interface CostSummary {
  groupBy: GroupBy;
  from: string;
  to: string;
  asOf: string;
  currency: 'USD';
  total: number;
  nodeHours: number;
  /** Highest cost first; ties by key. */
  groups: CostGroup[];
}

export function groupKey(record: ClusterRecord, groupBy: GroupBy): string {
  switch (groupBy) {
    case 'user':
      return record.owner;
    case 'namespace':
      return record.namespace;
    case 'job': {
      const job = record.job ?? record.spec.job;
      return job === undefined ? NO_JOB : jobGroupKey(record.owner, job);
    }
  }
}

/** One cluster's cost inside [from, to) as of `now`. */
export function clusterCostIn(
  record: ClusterRecord,
  from: number,
  to: number,
  now: number,
  harvest: HarvestConfig = DEFAULT_HARVEST_CONFIG,
): ClusterCostLine {
  const cost = accrue(record, now, harvest);
  const start = record.provisioningAt ? Date.parse(record.provisioningAt) : undefined;
  let inPeriod = 0;
  if (start !== undefined && !Number.isNaN(start)) {
    const end = billedUntil(record, now);
    const billed = end - start;
    const overlap = Math.max(0, Math.min(end, to) - Math.max(start, from));
    inPeriod = billed > 0 ? (cost.toDate * overlap) / billed : 0;
  }
  const job = record.job ?? record.spec.job;
  const run = runOf(record);
  return {
    clusterId: record.id,
    name: record.name,
    owner: record.owner,
    namespace: record.namespace,
    ...(job !== undefined ? { job } : {}),
    ...(run !== undefined ? { run } : {}),
    status: record.status,
    cost: round2(inPeriod),
    nodeHours: round2(nodeHours(record, from, to, now)),
    perHour: cost.perHour,
  };
}

export interface AggregateOptions {
  groupBy: GroupBy;
  from: number;
  to: number;
  now: number;
  /** How many clusters to list per group. @default 3 */
  top?: number;
  harvest?: HarvestConfig;
}

/** True when the cluster's billed interval (PROVISIONING to its end, or now) overlaps [from, to). */
export function billedWithin(record: ClusterRecord, from: number, to: number, now: number): boolean {
  const start = record.provisioningAt ? Date.parse(record.provisioningAt) : Number.NaN;
  if (Number.isNaN(start)) return false;
  return start < to && billedUntil(record, now) > from;
}

/** Aggregate the records' cost in the period; clusters not billed during it are left out. */
export function aggregateCosts(records: readonly ClusterRecord[], options: AggregateOptions): CostSummary {
  const { groupBy, from, to, now } = options;
  const top = options.top ?? 3;
  const lines = new Map<string, ClusterCostLine[]>();
  const runs = new Map<string, RunCostLine[]>();
  for (const record of records) {
    if (!billedWithin(record, from, to, now)) continue;
    const line = clusterCostIn(record, from, to, now, options.harvest);
    const key = groupKey(record, groupBy);
    const list = lines.get(key) ?? [];
    list.push(line);
    lines.set(key, list);
    if (groupBy === 'job' && line.run !== undefined) {
      const perRun = runs.get(key) ?? [];
      perRun.push({ run: line.run, clusterId: line.clusterId, status: line.status, ...(record.provisioningAt ? { startedAt: record.provisioningAt } : {}), cost: line.cost, nodeHours: line.nodeHours });
      runs.set(key, perRun);
    }
  }
  const groups: CostGroup[] = [];
  for (const [key, list] of lines) {
    list.sort((a, b) => b.cost - a.cost || a.clusterId.localeCompare(b.clusterId));
    const perRun = runs.get(key);
    perRun?.sort((a, b) => (b.startedAt ?? '').localeCompare(a.startedAt ?? '') || a.run.localeCompare(b.run));
    const named = groupBy === 'job' ? splitJobGroupKey(key) : undefined;
    groups.push({
      key,
      ...(named ? { owner: named.owner, job: named.job } : {}),
      cost: round2(sum(list.map((l) => l.cost))),
      nodeHours: round2(sum(list.map((l) => l.nodeHours))),
      clusters: list.length,
      perHour: round2(sum(list.map((l) => l.perHour))),
      top: list.slice(0, top),
      ...(groupBy === 'job' ? { runs: perRun ?? [] } : {}),
    });
  }
  groups.sort((a, b) => b.cost - a.cost || a.key.localeCompare(b.key));
  return {
    groupBy,
    from: new Date(from).toISOString(),
    to: new Date(to).toISOString(),
    asOf: new Date(now).toISOString(),
    currency: 'USD',
    total: round2(sum(groups.map((g) => g.cost))),
    nodeHours: round2(sum(groups.map((g) => g.nodeHours))),
    groups,
  };
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
export const round2 = (x: number): number => Math.round(x * 100) / 100;
