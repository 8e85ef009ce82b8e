import { hourlyRate } from '../cost/accrual.ts';
import type { ClusterRecord, ClusterStatus } from '../lifecycle/types.ts';
import { workerGpus } from '../plan/fit.ts';

/**
 * What a cluster counts against its quotas, in exact integer units so that
 * every adapter (DynamoDB's decimal ADD, the in-memory store's numbers) adds
 * and subtracts without rounding drift:
 *
 * | dimension      | unit stored          | shown as          |
 * |----------------|----------------------|-------------------|
 * | clusters       | 1 per cluster        | clusters          |
 * | vcpus          | milli-vCPU           | vCPUs requested (scheduler + workers) |
 * | gpus           | 1 per GPU            | GPUs requested by the workers |
 * | costPerHour    | micro-dollars / hour | $/hour (EC2 + control-plane share) |
 *
 * A cluster counts from its creation (REQUESTED) while PROVISIONING and
 * RUNNING. Asking to delete it (DELETING) releases its usage at once, so a
 * user at the limit can replace a cluster without waiting for the teardown.
 * Only records that carry `quotaScopes` count (records created before quotas
 * existed count nothing, so their release cannot drive usage negative).
 */
export const QUOTA_DIMENSIONS = ['clusters', 'vcpus', 'gpus', 'costPerHour'] as const;
export type QuotaDimension = (typeof QUOTA_DIMENSIONS)[number];

/** Amounts in stored integer units (see the table above). */
export type Usage = Record<QuotaDimension, number>;

/** Statuses in which a cluster counts against its quotas. */
export const COUNTED_STATUSES: readonly ClusterStatus[] = ['REQUESTED', 'PROVISIONING', 'RUNNING'];

export const ZERO_USAGE: Readonly<Usage> = Object.freeze({ clusters: 0, vcpus: 0, gpus: 0, costPerHour: 0 });

/** Stored units per shown unit. */
export const UNIT_SCALE: Readonly<Record<QuotaDimension, number>> = Object.freeze({ clusters: 1, vcpus: 1000, gpus: 1, costPerHour: 1_000_000 });

/** Shown amount → stored integer (rounded up, so a limit is never loosened by rounding). */
export function toUnits(dimension: QuotaDimension, shown: number): number {
  return Math.ceil(Math.round(shown * UNIT_SCALE[dimension] * 1000) / 1000);
}

/** Stored integer → shown amount. */
export function fromUnits(dimension: QuotaDimension, units: number): number {
  return units / UNIT_SCALE[dimension];
}

/** The usage a record counts against each of its scopes (zero when not counted). */
export function usageOf(record: ClusterRecord): Usage {
  if (!record.quotaScopes?.length || !COUNTED_STATUSES.includes(record.status)) return { ...ZERO_USAGE };
  const workers = record.desiredWorkers;
  return {
    clusters: 1,
    vcpus: toUnits('vcpus', record.spec.workerCpu * workers + record.spec.schedulerCpu),
    gpus: workerGpus(record.spec.resources) * workers,
    costPerHour: toUnits('costPerHour', hourlyRate(record.plan, workers)),
  };
}

export function addUsage(a: Usage, b: Usage): Usage {
  return { clusters: a.clusters + b.clusters, vcpus: a.vcpus + b.vcpus, gpus: a.gpus + b.gpus, costPerHour: a.costPerHour + b.costPerHour };
}

export function subtractUsage(a: Usage, b: Usage): Usage {
  return { clusters: a.clusters - b.clusters, vcpus: a.vcpus - b.vcpus, gpus: a.gpus - b.gpus, costPerHour: a.costPerHour - b.costPerHour };
}

export function isZeroUsage(u: Usage): boolean {
  return QUOTA_DIMENSIONS.every((d) => u[d] === 0);
}

/**
 * How a write changes usage, per scope: `next`'s usage minus `previous`'s.
 * Scopes come from the records themselves (set at creation), so a release
 * always decrements exactly the scopes the creation charged, even if group
 * membership changed in between.
 */
export function usageDeltas(previous: ClusterRecord | undefined, next: ClusterRecord): Map<string, Usage> {
  const out = new Map<string, Usage>();
  const add = (record: ClusterRecord, sign: 1 | -1) => {
    const usage = usageOf(record);
    if (isZeroUsage(usage)) return;
    for (const scope of record.quotaScopes ?? []) {
      const prev = out.get(scope) ?? { ...ZERO_USAGE };
      out.set(scope, sign === 1 ? addUsage(prev, usage) : subtractUsage(prev, usage));
    }
  };
  if (previous !== undefined) add(previous, -1);
  add(next, 1);
  for (const [scope, delta] of out) if (isZeroUsage(delta)) out.delete(scope);
  return out;
}
