import type { ClusterSpec, Plan } from '../../shared/spec/types.ts';

/**
 * Hand-made spec and plan fixtures for definition, backend and provisioner
 * tests that must not depend on the planner's numbers.
 */
export function specFixture(overrides: Partial<ClusterSpec> = {}): ClusterSpec {
  return {
    instanceType: 'c5.xlarge',
    nWorkers: 2,
    workerCpu: 1,
    workerMemoryGiB: 1.5,
    schedulerCpu: 1,
    schedulerMemoryGiB: 2,
    resources: {},
    image: 'recc:test',
    env: {},
    idleTimeoutMinutes: 30,
    maxLifetimeHours: 12,
    tags: {},
    ...overrides,
  };
}

export function planFixture(overrides: Partial<Plan> = {}): Plan {
  return {
    instanceType: 'c5.xlarge',
    region: 'us-east-1',
    instances: 1,
    workersPerInstance: 3,
    schedulerNode: 0,
    nodes: [
      {
        index: 0,
        workers: 2,
        hostsScheduler: true,
        used: { cpu: 3, memoryGiB: 5, pods: 3, gpus: 0 },
        allocatable: { cpu: 3.92, memoryGiB: 6.5, pods: 58, gpus: 0 },
      },
    ],
    headroom: { cpu: 0.92, memoryGiB: 1.5, pods: 55, gpus: 0 },
    boundBy: 'cpu',
    ec2CostPerHour: 0.17,
    controlPlaneCostPerHour: 0.01,
    costPerHour: 0.18,
    costPerWorkerHour: 0.09,
    priceSource: 'fixture',
    ...overrides,
  };
}
