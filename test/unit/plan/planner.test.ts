import { describe, expect, it } from 'vitest';
import { UnknownRegionError } from '../../../shared/catalog/errors.ts';
import { PlanInfeasibleError, PlanOptionsError } from '../../../shared/plan/errors.ts';
import { EKS_CONTROL_PLANE_FEE_PER_HOUR, estimate, planCluster, workersThatFit } from '../../../shared/plan/planner.ts';
import { DEFAULT_SPEC, defaultSpec } from '../../../shared/spec/defaults.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import type { ClusterSpec } from '../../../shared/spec/types.ts';

const spec = (over: Partial<ClusterSpec>): ClusterSpec => ({ ...defaultSpec(), ...over });

describe('Function: planCluster', () => {
  it('plans the default cluster as the EKS rules computed by hand say', () => {
    /*
     * c5.xlarge: 4 vCPU, 8 GiB, 4 ENIs × 15 IPv4 addresses each.
     *   maxPods          = 4 × (15 − 1) + 2                  = 58
     *   CPU kube-reserved = 6% + 1% + 0.5% + 0.5% of a core  = 60 + 10 + 5 + 5 = 80 m
     *   kubelet CPU       = 4 − 0.080                        = 3.920 vCPU
     *   after daemonsets  = 3.920 − 0.125 (aws-node, kube-proxy) = 3.795 vCPU
     *   memory reserved   = 255 + 11 × 58                    = 893 MiB
     *   eviction          = 100 MiB
     *   kubelet memory    = 8192 − 893 − 100 = 7199 MiB       = 7.0303 GiB
     *   after daemonsets  = 7.0303 − 0.25                    = 6.7803 GiB
     *   pods              = 58 − 2                           = 56
     * A full node (worker 1 vCPU, 1.5 GiB, 1 pod):
     *   cpu floor(3.795 / 1) = 3, memory floor(6.7803 / 1.5) = 4, pods 56  → 3 workers, bound by cpu
     * The scheduler's node (scheduler 1 vCPU, 2 GiB, 1 pod):
     *   cpu floor(2.795 / 1) = 2, memory floor(4.7803 / 1.5) = 3, pods 55 → 2 workers
     * Nodes = 1 + ceil((20 − 2) / 3) = 1 + 6 = 7
     * Cost  = 7 × $0.17 + $0.10 (whole EKS fee by default) = $1.19 + $0.10 = $1.29/h
     * Per worker-hour = 1.29 / 20 = $0.0645
     */
    // Act
    const plan = planCluster(DEFAULT_SPEC);
    // Assess
    expect(plan).toMatchObject({
      instanceType: 'c5.xlarge',
      region: 'us-east-1',
      instances: 7,
      workersPerInstance: 3,
      workersBesideScheduler: 2,
      boundBy: 'cpu',
      schedulerNode: 0,
      ec2CostPerHour: 1.19,
      controlPlaneCostPerHour: 0.1,
      costPerHour: 1.29,
      costPerWorkerHour: 0.0645,
      pricePerInstanceHour: 0.17,
      controlPlaneShare: 1,
    });
    expect(plan.nodes.map((n) => n.workers)).toEqual([2, 3, 3, 3, 3, 3, 3]);
    expect(plan.nodes.map((n) => n.hostsScheduler)).toEqual([true, false, false, false, false, false, false]);
    expect(plan.nodes[0]?.used).toEqual({ cpu: 3, memoryGiB: 5, pods: 3, gpus: 0 });
    expect(plan.nodes[0]?.allocatable.cpu).toBeCloseTo(3.795, 9);
    expect(plan.nodes[0]?.allocatable.memoryGiB).toBeCloseTo(6.7802734375, 9);
    // Headroom: 7 × allocatable − (20 workers + scheduler)
    expect(plan.headroom.cpu).toBeCloseTo(7 * 3.795 - 21, 6);
    expect(plan.headroom.memoryGiB).toBeCloseTo(7 * 6.7802734375 - 32, 6);
    expect(plan.headroom.pods).toBe(7 * 56 - 21);
    expect(plan.priceSource).toMatch(/us-east-1 \d{4}-\d{2}-\d{2}$/);
  });

  it('reports memory as the bound when given memory-heavy workers', () => {
    // r5.2xlarge: cpu 8 − 0.09 − 0.125 = 7.785 → 5 of 1.5 vCPU; memory 64 − 0.9697 − 0.25 = 62.78 GiB → 4 of 14 GiB
    const plan = planCluster(spec({ instanceType: 'r5.2xlarge', workerCpu: 1.5, workerMemoryGiB: 14, nWorkers: 16 }));
    expect(plan).toMatchObject({ workersPerInstance: 4, boundBy: 'memory', instances: 4 });
  });

  it('reports pods as the bound when given many tiny workers', () => {
    // m5.large: 29 − 2 = 27 pods; cpu 1.805 / 0.05 = 36; memory 7.09 / 0.1 = 70
    const plan = planCluster(spec({ instanceType: 'm5.large', workerCpu: 0.05, workerMemoryGiB: 0.1, schedulerCpu: 0.1, schedulerMemoryGiB: 0.1, nWorkers: 100 }));
    expect(plan.workersPerInstance).toBe(27);
    expect(plan.boundBy).toBe('pods');
    expect(plan.workersBesideScheduler).toBe(26);
    expect(plan.instances).toBe(1 + Math.ceil((100 - 26) / 27));
  });

  it('reports gpus as the bound when given one-GPU workers on a one-GPU type', () => {
    const plan = planCluster(spec({ instanceType: 'g4dn.xlarge', workerCpu: 1, workerMemoryGiB: 4, resources: { GPU: 1 }, nWorkers: 3 }));
    expect(plan).toMatchObject({ workersPerInstance: 1, boundBy: 'gpus', instances: 3 });
    expect(plan.nodes.every((n) => n.used.gpus <= n.allocatable.gpus)).toBe(true);
  });

  it('puts two GPU workers on each node when given 2-GPU workers on a 4-GPU type', () => {
    const plan = planCluster(spec({ instanceType: 'p3.8xlarge', workerCpu: 8, workerMemoryGiB: 60, resources: { 'nvidia.com/gpu': 2 }, nWorkers: 5 }));
    expect(plan).toMatchObject({ workersPerInstance: 2, boundBy: 'gpus', instances: 3 });
    expect(plan.nodes.map((n) => n.used.gpus)).toEqual([4, 4, 2]);
  });

  it('adds a node for the scheduler when no worker fits beside it', () => {
    // One 3.5-vCPU worker per c5.xlarge; the scheduler (1 vCPU) leaves 2.795 vCPU: no worker beside it.
    const plan = planCluster(spec({ workerCpu: 3.5, workerMemoryGiB: 2, nWorkers: 4 }));
    expect(plan.workersBesideScheduler).toBe(0);
    expect(plan.instances).toBe(5);
    expect(plan.nodes[0]).toMatchObject({ workers: 0, hostsScheduler: true });
  });

  it('plans a single node when every worker fits beside the scheduler', () => {
    const plan = planCluster(spec({ nWorkers: 1 }));
    expect(plan.instances).toBe(1);
    expect(plan.nodes).toHaveLength(1);
    expect(plan.costPerHour).toBe(0.27);
    expect(plan.costPerWorkerHour).toBe(0.27);
  });

  it('charges the configured share of the EKS control plane fee', () => {
    const none = planCluster(DEFAULT_SPEC, { controlPlaneShare: 0 });
    const tenth = planCluster(DEFAULT_SPEC, { controlPlaneShare: 0.1 });
    expect(none.controlPlaneCostPerHour).toBe(0);
    expect(none.costPerHour).toBe(1.19);
    expect(tenth.controlPlaneCostPerHour).toBeCloseTo(0.1 * EKS_CONTROL_PLANE_FEE_PER_HOUR, 9);
    expect(tenth.costPerHour).toBeCloseTo(1.2, 9);
  });

  it('throws PlanOptionsError when given a share outside 0..1', () => {
    expect(() => planCluster(DEFAULT_SPEC, { controlPlaneShare: 1.5 })).toThrow(PlanOptionsError);
    expect(() => planCluster(DEFAULT_SPEC, { controlPlaneShare: Number.NaN })).toThrow(/controlPlaneShare|invalid planner options/);
  });

  it('prices in another region with its multiplier and says so', () => {
    const plan = planCluster(DEFAULT_SPEC, { region: 'eu-west-1' });
    expect(plan.region).toBe('eu-west-1');
    expect(plan.ec2CostPerHour).toBeCloseTo(7 * 0.17 * 1.13, 6);
    expect(plan.priceSource).toContain('eu-west-1 multiplier');
    expect(() => planCluster(DEFAULT_SPEC, { region: 'nowhere-1' })).toThrow(UnknownRegionError);
  });

  it('packs fewer workers per node when given a larger daemonset overhead', () => {
    const plan = planCluster(DEFAULT_SPEC, { daemonsetOverhead: { cpu: 1 } });
    // cpu 3.92 − 1 = 2.92 → 2 per node; beside the scheduler 1; nodes = 1 + ceil(19 / 2) = 11
    expect(plan.workersPerInstance).toBe(2);
    expect(plan.instances).toBe(11);
  });

  it('throws PlanInfeasibleError naming the largest size that fits when given a worker too big for the type', () => {
    try {
      planCluster(spec({ workerCpu: 16 }));
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PlanInfeasibleError);
      expect((err as PlanInfeasibleError).details[0]).toEqual({
        path: 'workerCpu',
        message: 'a worker of 16 vCPU does not fit on a c5.xlarge node (3.795 vCPU allocatable to pods); the largest that fits is 3.795 vCPU; at 3.795 vCPU, 20 workers take 21 nodes (1 per node, the scheduler on a node of its own), EC2 $3.57/h',
      });
    }
  });

  it('throws PlanInfeasibleError when given a non-positive worker count', () => {
    expect(() => planCluster(spec({ nWorkers: 0 }))).toThrow(PlanInfeasibleError);
  });
});

describe('Function: workersThatFit', () => {
  it('returns the minimum over requested resources and ignores resources not requested', () => {
    expect(workersThatFit({ cpu: 4, memoryGiB: 8, pods: 10, gpus: 0 }, { cpu: 1, memoryGiB: 3, pods: 1, gpus: 0 })).toEqual({ count: 2, boundBy: 'memory' });
    expect(workersThatFit({ cpu: 4, memoryGiB: 8, pods: 10, gpus: 0 }, { cpu: 1, memoryGiB: 1, pods: 1, gpus: 1 })).toEqual({ count: 0, boundBy: 'gpus' });
  });

  it('counts exact multiples despite binary floating point', () => {
    // 0.1 × 3 = 0.30000000000000004 > 0.3 in floating point
    expect(workersThatFit({ cpu: 0.3, memoryGiB: 10, pods: 10, gpus: 0 }, { cpu: 0.1, memoryGiB: 1, pods: 1, gpus: 0 }).count).toBe(3);
  });
});

describe('Function: estimate', () => {
  it('resolves and plans in one call', () => {
    const { spec: s, plan } = estimate({ template: 'large-cluster-large-workers', overrides: { nWorkers: 8 } });
    expect(s.instanceType).toBe('m5.4xlarge');
    expect(s.nWorkers).toBe(8);
    expect(plan.instances).toBe(2);
  });

  it('throws SpecValidationError when given an invalid request', () => {
    expect(() => estimate({ overrides: { nWorkers: -3 } })).toThrow(SpecValidationError);
  });
});
