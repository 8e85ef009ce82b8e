import { initialChange, newClusterRecord, transition } from '../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../shared/lifecycle/types.ts';
import type { ClusterStore } from '../../shared/ports/cluster-store.ts';
import type { Plan, PlannedNode } from '../../shared/spec/types.ts';
import { sampleSpec } from './cluster-records.ts';

/**
 * A fixed price table and plans built from it, for cost tests (independent
 * of the instance catalog, whose prices may be refreshed).
 */
export const PRICE_TABLE = {
  'c5.xlarge': 0.17,
  'm5.2xlarge': 0.384,
  'r5.4xlarge': 1.008,
} as const;

/** This cluster's share of the EKS control plane fee, $/h. */
export const CONTROL_PLANE_SHARE = 0.01;

export function pricedPlan(instanceType: keyof typeof PRICE_TABLE, workersPerNode: number[]): Plan {
  const nodes: PlannedNode[] = workersPerNode.map((workers, index) => ({
    index,
    workers,
    hostsScheduler: index === 0,
    used: { cpu: workers, memoryGiB: workers * 2, pods: workers + (index === 0 ? 1 : 0), gpus: 0 },
    allocatable: { cpu: 16, memoryGiB: 64, pods: 58, gpus: 0 },
  }));
  const instances = nodes.length;
  const ec2 = PRICE_TABLE[instanceType] * instances;
  const workers = workersPerNode.reduce((a, b) => a + b, 0);
  return {
    instanceType,
    region: 'us-east-1',
    instances,
    workersPerInstance: Math.max(...workersPerNode),
    schedulerNode: 0,
    nodes,
    headroom: { cpu: 0, memoryGiB: 0, pods: 0, gpus: 0 },
    boundBy: 'cpu',
    ec2CostPerHour: ec2,
    controlPlaneCostPerHour: CONTROL_PLANE_SHARE,
    costPerHour: ec2 + CONTROL_PLANE_SHARE,
    costPerWorkerHour: (ec2 + CONTROL_PLANE_SHARE) / Math.max(1, workers),
    priceSource: 'test price table',
  };
}

/** Store a cluster of `owner` that has been RUNNING since `since` (ms), through its real transitions. */
export async function storeRunningSince(
  store: ClusterStore,
  input: { id: string; owner: string; job?: string; plan: Plan; workers: number; since: number; idleTimeoutMinutes?: number },
): Promise<ClusterRecord> {
  const at = new Date(input.since).toISOString();
  const record = newClusterRecord({
    id: input.id,
    owner: input.owner,
    at,
    spec: sampleSpec({ nWorkers: input.workers, instanceType: input.plan.instanceType, idleTimeoutMinutes: input.idleTimeoutMinutes ?? 30, maxLifetimeHours: 24 * 90, ...(input.job ? { job: input.job } : {}) }),
    plan: input.plan,
  });
  let current = (await store.create(record, initialChange(record, { actor: input.owner }))).record;
  for (const to of ['PROVISIONING', 'RUNNING'] as const) {
    const { next, change } = transition(current, to, { actor: 'provisioner', at });
    current = await store.put(next, current.version, change);
  }
  return current;
}
