import type { ClusterSpec, Plan } from '../../shared/spec/types.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { initialChange, newClusterRecord } from '../../shared/lifecycle/machine.ts';

/**
 * Builders for cluster records in tests (lifecycle, store conformance, API).
 * The spec and plan are small but complete, so stores round-trip real shapes
 * (nested maps, arrays, numbers, empty objects).
 */
export function sampleSpec(overrides: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    instanceType: 'c5.xlarge',
    nWorkers: 2,
    workerCpu: 1,
    workerMemoryGiB: 3.5,
    schedulerCpu: 0.5,
    schedulerMemoryGiB: 1,
    resources: {},
    image: 'ghcr.io/example/recc-worker:1.0',
    env: { OMP_NUM_THREADS: '1' },
    idleTimeoutMinutes: 30,
    maxLifetimeHours: 24,
    tags: { project: 'alpha' },
    ...overrides,
  };
}

export function samplePlan(overrides: Partial<Plan> = {}): Plan {
  const node = {
    index: 0,
    workers: 2,
    hostsScheduler: true,
    used: { cpu: 2.5, memoryGiB: 8, pods: 3, gpus: 0 },
    allocatable: { cpu: 3.92, memoryGiB: 6.9, pods: 58, gpus: 0 },
  };
  return {
    instanceType: 'c5.xlarge',
    region: 'us-east-1',
    instances: 1,
    workersPerInstance: 2,
    schedulerNode: 0,
    nodes: [node],
    headroom: { cpu: 1.42, memoryGiB: 0, pods: 55, gpus: 0 },
    boundBy: 'cpu',
    ec2CostPerHour: 0.17,
    controlPlaneCostPerHour: 0.01,
    costPerHour: 0.18,
    costPerWorkerHour: 0.09,
    priceSource: 'test',
    ...overrides,
  };
}

/** A REQUESTED record (version 1) and its first StatusChange. */
export function sampleCluster(
  input: { id: string; owner: string; at: string; clientToken?: string; name?: string; actor?: string },
): { record: ClusterRecord; change: StatusChange } {
  const record = newClusterRecord({
    id: input.id,
    owner: input.owner,
    at: input.at,
    spec: sampleSpec(),
    plan: samplePlan(),
    template: 'small',
    ...(input.clientToken === undefined ? {} : { clientToken: input.clientToken }),
    ...(input.name === undefined ? {} : { name: input.name }),
  });
  return { record, change: initialChange(record, { actor: input.actor ?? input.owner }) };
}

/** ISO time `minutes` after 2026-01-01T00:00:00Z (plus optional ms). */
export function t(minutes: number, ms = 0): string {
  return new Date(Date.UTC(2026, 0, 1) + minutes * 60_000 + ms).toISOString();
}
