import type { ClusterCost, ClusterRecord } from '../lifecycle/types.ts';
import type { Plan } from '../spec/types.ts';
import { reapAt } from '../harvest/plan.ts';
import { DEFAULT_HARVEST_CONFIG, type HarvestConfig } from '../harvest/types.ts';

/**
 * Cost accrual (pure). A cluster costs node-hours × the plan's price from the
 * moment it enters PROVISIONING (nodes are being bought) until it ends
 * (`endedAt`, set when it reaches DELETED or FAILED).
 *
 * The figure is kept incrementally on the record as `cost: {toDate, perHour,
 * asOf}`: each accrual adds `perHour × (now − asOf)` (capped at `endedAt`) at
 * the rate that was in force since `asOf`, then stores the current rate. A
 * scale (PATCH nWorkers) therefore changes the rate from the next accrual on;
 * the harvester accrues every run (default 5 min), which bounds the error.
 * A record with no `cost` yet accrues from `provisioningAt` at today's rate.
 */
const HOUR = 3_600_000;

/** Workers the plan lays out over its nodes. */
export function plannedWorkers(plan: Plan): number {
  return plan.nodes.reduce((sum, n) => sum + n.workers, 0);
}

/**
 * Nodes needed for `workers` workers: the plan's own count when unchanged;
 * scaled up by whole nodes of `workersPerInstance`; scaled down by keeping the
 * scheduler's node and then the fullest nodes until the workers fit.
 */
export function instancesFor(plan: Plan, workers: number): number {
  const planned = plannedWorkers(plan);
  if (plan.nodes.length === 0 || workers === planned) return plan.instances;
  if (workers > planned) {
    return plan.instances + Math.ceil((workers - planned) / Math.max(1, plan.workersPerInstance));
  }
  const scheduler = plan.nodes.find((n) => n.index === plan.schedulerNode) ?? plan.nodes[0];
  const others = plan.nodes.filter((n) => n !== scheduler).sort((a, b) => b.workers - a.workers);
  let count = 1;
  let covered = scheduler?.workers ?? 0;
  for (const node of others) {
    if (covered >= workers) break;
    covered += node.workers;
    count += 1;
  }
  return count;
}

/** $/hour of the cluster with `workers` workers (EC2 share per node + control plane share). */
export function hourlyRate(plan: Plan, workers: number): number {
  const perInstance = plan.instances > 0 ? plan.ec2CostPerHour / plan.instances : 0;
  return perInstance * instancesFor(plan, workers) + plan.controlPlaneCostPerHour;
}

const TERMINAL = new Set(['DELETED', 'FAILED']);

/** End of the billed interval: `endedAt` for terminal records, else `now`. */
export function billedUntil(record: ClusterRecord, now: number): number {
  if (!TERMINAL.has(record.status)) return now;
  return Math.min(toMs(record.endedAt) ?? toMs(record.updatedAt) ?? now, now);
}

/**
 * The record's cost as of `now`, accrued from its stored `cost` (if any).
 * Live RUNNING clusters also get `projected`: the cost when the harvester
 * reaps them if they stay idle from now on (`reapAt`).
 */
export function accrue(record: ClusterRecord, now: number, harvest: HarvestConfig = DEFAULT_HARVEST_CONFIG): ClusterCost {
  const live = !TERMINAL.has(record.status);
  const rate = hourlyRate(record.plan, record.desiredWorkers);
  const start = toMs(record.provisioningAt);
  const prev = record.cost;
  let toDate = prev?.toDate ?? 0;
  if (start !== undefined) {
    const end = billedUntil(record, now);
    const prevAsOf = prev ? toMs(prev.asOf) : undefined;
    const from = prevAsOf !== undefined ? Math.max(start, prevAsOf) : start;
    const prevRate = prev && prevAsOf !== undefined ? prev.perHour : rate;
    toDate += (Math.max(0, end - from) / HOUR) * prevRate;
  }
  // A record that ended after `now` (clock skew between writers) is still billing as of `now`.
  const billing = live || billedUntil(record, Number.POSITIVE_INFINITY) > now;
  const cost: ClusterCost = { toDate: roundNano(toDate), perHour: billing ? roundNano(rate) : 0, asOf: new Date(now).toISOString() };
  if (record.status === 'RUNNING') {
    const due = reapAt(record, harvest);
    if (due) {
      const until = Math.max(now, Date.parse(due.at));
      cost.projected = roundNano(toDate + ((until - now) / HOUR) * rate);
      cost.projectedUntil = new Date(until).toISOString();
    }
  }
  return cost;
}

/**
 * The stored cost when the rate changes at `now` (a scale): accrued so far at
 * the old rate, then `perHour` from `now` on. Without it a scale would bill
 * the whole interval since the last accrual at one rate.
 */
export function rateChangedAt(record: ClusterRecord, now: number, perHour: number): ClusterCost {
  const { toDate } = accrue(record, now);
  return { toDate, perHour: roundNano(perHour), asOf: new Date(now).toISOString() };
}

/** Stateless cost to date: rate × billed hours, ignoring any stored figure. */
export function costToDate(record: ClusterRecord, now: number): number {
  return accrue({ ...record, cost: undefined }, now).toDate;
}

/** Billed node-hours between `from` and `to` (capped to the cluster's billed interval). */
export function nodeHours(record: ClusterRecord, from: number, to: number, now: number): number {
  const start = toMs(record.provisioningAt);
  if (start === undefined) return 0;
  const end = billedUntil(record, now);
  const overlap = Math.max(0, Math.min(end, to) - Math.max(start, from));
  return (overlap / HOUR) * instancesFor(record.plan, record.desiredWorkers);
}

/** True when `next` differs from `prev` enough to be worth a write (≥ 1 cent or a rate change). */
export function costChanged(prev: ClusterCost | undefined, next: ClusterCost): boolean {
  if (!prev) return true;
  return Math.abs(prev.toDate - next.toDate) >= 0.01 || prev.perHour !== next.perHour;
}

const roundNano = (x: number): number => Math.round(x * 1e9) / 1e9;

function toMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}
