import { describe, expect, it } from 'vitest';
import { allocatable } from '../../../shared/catalog/allocatable.ts';
import { getInstanceType } from '../../../shared/catalog/instances.ts';
import { DEFAULT_SPEC, defaultSpec } from '../../../shared/spec/defaults.ts';
import { validateSpec } from '../../../shared/spec/resolve.ts';

describe('Constant: DEFAULT_SPEC', () => {
  it('is 20 workers of 1 vCPU and 1.5 GiB on c5.xlarge with a one-core scheduler', () => {
    expect(DEFAULT_SPEC).toMatchObject({
      instanceType: 'c5.xlarge',
      nWorkers: 20,
      workerCpu: 1,
      workerMemoryGiB: 1.5,
      schedulerCpu: 1,
      schedulerMemoryGiB: 2,
      idleTimeoutMinutes: 30,
      maxLifetimeHours: 24,
    });
    // No image: the deployment's (RECC_EKS_IMAGE, pinned by digest), never a floating default such as recc:latest.
    expect(DEFAULT_SPEC).not.toHaveProperty('image');
    expect(validateSpec(DEFAULT_SPEC)).toEqual([]);
  });

  it('fits the scheduler beside two default workers on one c5.xlarge', () => {
    const a = allocatable(getInstanceType('c5.xlarge'));
    expect(DEFAULT_SPEC.schedulerCpu + 2 * DEFAULT_SPEC.workerCpu).toBeLessThanOrEqual(a.cpu);
    expect(DEFAULT_SPEC.schedulerMemoryGiB + 2 * DEFAULT_SPEC.workerMemoryGiB).toBeLessThanOrEqual(a.memoryGiB);
  });

  it('cannot be changed by accident; defaultSpec() gives a mutable copy', () => {
    expect(Object.isFrozen(DEFAULT_SPEC)).toBe(true);
    expect(Object.isFrozen(DEFAULT_SPEC.tags)).toBe(true);
    const copy = defaultSpec();
    copy.tags.team = 'x';
    copy.nWorkers = 3;
    expect(DEFAULT_SPEC.tags).toEqual({});
    expect(DEFAULT_SPEC.nWorkers).toBe(20);
  });
});
