import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { getInstanceType, instanceTypeNames } from '../../../shared/catalog/instances.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { defaultSpec } from '../../../shared/spec/defaults.ts';
import { validateSpec } from '../../../shared/spec/resolve.ts';
import type { ClusterSpec, Plan } from '../../../shared/spec/types.ts';

const TOLERANCE = 1e-9;

/** Sizes on a 1/8 grid (like real requests: 0.125 vCPU, 0.5 GiB…). */
const size = (maxEighths: number) => fc.integer({ min: 1, max: maxEighths }).map((k) => k / 8);

/** A spec that validates: any catalog type, workers and scheduler sized to fit it. */
const validSpec: fc.Arbitrary<ClusterSpec> = fc
  .record({
    instanceType: fc.constantFrom(...instanceTypeNames().filter((n) => n !== 't3.nano')),
    nWorkers: fc.integer({ min: 1, max: 400 }),
    workerCpu: size(64),
    workerMemoryGiB: size(256),
    schedulerCpu: size(16),
    schedulerMemoryGiB: size(64),
    gpus: fc.integer({ min: 0, max: 4 }),
  })
  .map(({ gpus, ...s }): ClusterSpec => ({ ...defaultSpec(), ...s, resources: gpus > 0 ? { GPU: gpus } : {} }))
  .filter((s) => validateSpec(s).length === 0);

function totalWorkers(plan: Plan): number {
  return plan.nodes.reduce((n, node) => n + node.workers, 0);
}

describe('Function: planCluster (properties)', () => {
  it('never needs fewer nodes when given more workers', () => {
    fc.assert(
      fc.property(validSpec, fc.integer({ min: 1, max: 300 }), (spec, extra) => {
        const more = { ...spec, nWorkers: Math.min(spec.nWorkers + extra, 5000) };
        expect(planCluster(more).instances).toBeGreaterThanOrEqual(planCluster(spec).instances);
      }),
    );
  });

  it('never needs fewer nodes when given bigger workers', () => {
    fc.assert(
      fc.property(
        validSpec,
        fc.integer({ min: 0, max: 32 }),
        fc.integer({ min: 0, max: 64 }),
        fc.integer({ min: 0, max: 2 }),
        (spec, moreCpu, moreMemory, moreGpus) => {
          const gpus = spec.resources.GPU ?? 0;
          const bigger: ClusterSpec = {
            ...spec,
            workerCpu: spec.workerCpu + moreCpu / 8,
            workerMemoryGiB: spec.workerMemoryGiB + moreMemory / 8,
            resources: gpus > 0 ? { GPU: gpus + moreGpus } : {},
          };
          fc.pre(validateSpec(bigger).length === 0);
          expect(planCluster(bigger).instances).toBeGreaterThanOrEqual(planCluster(spec).instances);
        },
      ),
    );
  });

  it('fits every planned node within its allocatable, places every worker and the scheduler once', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const plan = planCluster(spec);
        expect(plan.nodes).toHaveLength(plan.instances);
        expect(totalWorkers(plan)).toBe(spec.nWorkers);
        expect(plan.nodes.filter((n) => n.hostsScheduler).map((n) => n.index)).toEqual([plan.schedulerNode]);
        for (const node of plan.nodes) {
          const gpusPerWorker = spec.resources.GPU ?? 0;
          const expectedCpu = node.workers * spec.workerCpu + (node.hostsScheduler ? spec.schedulerCpu : 0);
          const expectedMem = node.workers * spec.workerMemoryGiB + (node.hostsScheduler ? spec.schedulerMemoryGiB : 0);
          expect(node.used.cpu).toBeCloseTo(expectedCpu, 6);
          expect(node.used.memoryGiB).toBeCloseTo(expectedMem, 6);
          expect(node.used.pods).toBe(node.workers + (node.hostsScheduler ? 1 : 0));
          expect(node.used.gpus).toBe(node.workers * gpusPerWorker);
          expect(node.used.cpu).toBeLessThanOrEqual(node.allocatable.cpu + TOLERANCE);
          expect(node.used.memoryGiB).toBeLessThanOrEqual(node.allocatable.memoryGiB + TOLERANCE);
          expect(node.used.pods).toBeLessThanOrEqual(node.allocatable.pods);
          expect(node.used.gpus).toBeLessThanOrEqual(node.allocatable.gpus);
          expect(node.workers).toBeLessThanOrEqual(plan.workersPerInstance);
        }
      }),
    );
  });

  it('uses the fewest nodes: one node less could not hold the workers', () => {
    fc.assert(
      fc.property(validSpec, (spec) => {
        const plan = planCluster(spec);
        const besideScheduler = plan.workersBesideScheduler ?? 0;
        if (plan.instances > 1) {
          expect(besideScheduler + (plan.instances - 2) * plan.workersPerInstance).toBeLessThan(spec.nWorkers);
        }
      }),
    );
  });

  it('scales cost with the node count', () => {
    fc.assert(
      fc.property(validSpec, fc.double({ min: 0, max: 1, noNaN: true }), (spec, share) => {
        const plan = planCluster(spec, { controlPlaneShare: share });
        const price = getInstanceType(spec.instanceType).pricePerHour;
        expect(plan.ec2CostPerHour).toBeCloseTo(plan.instances * price, 5);
        expect(plan.costPerHour).toBeCloseTo(plan.ec2CostPerHour + plan.controlPlaneCostPerHour, 5);
        expect(plan.costPerWorkerHour * spec.nWorkers).toBeCloseTo(plan.costPerHour, 3);
        // More workers on the same type never cost less, and every node costs the same.
        const doubled = planCluster({ ...spec, nWorkers: Math.min(spec.nWorkers * 2, 5000) }, { controlPlaneShare: share });
        expect(doubled.ec2CostPerHour).toBeGreaterThanOrEqual(plan.ec2CostPerHour - 1e-6);
        expect(doubled.ec2CostPerHour / doubled.instances).toBeCloseTo(plan.ec2CostPerHour / plan.instances, 5);
      }),
    );
  });
});
