import { describe, expect, it } from 'vitest';
import {
  FAMILIES,
  PRICE_DATE,
  REGION_PRICE_MULTIPLIER,
  getInstanceType,
  gpuInstanceTypes,
  instanceTypeNames,
  isKnownInstanceType,
  listInstanceTypes,
  maxPodsFor,
  nearestInstanceTypes,
} from '../../../shared/catalog/instances.ts';
import { UnknownInstanceTypeError, UnknownRegionError } from '../../../shared/catalog/errors.ts';
import { ValidationError } from '../../../shared/core/errors.ts';

describe('Module: instance catalog', () => {
  describe('Function: maxPodsFor', () => {
    it('applies ENIs × (IPv4 per ENI − 1) + 2', () => {
      // Values from the EKS AMI's eni-max-pods.txt.
      expect(maxPodsFor(3, 10)).toBe(29); // c5.large
      expect(maxPodsFor(4, 15)).toBe(58); // c5.xlarge
      expect(maxPodsFor(8, 30)).toBe(234); // c5.4xlarge
      expect(maxPodsFor(15, 50)).toBe(737); // c5.18xlarge
      expect(maxPodsFor(2, 2)).toBe(4); // t3.nano
      expect(maxPodsFor(7, 50)).toBe(345); // g5.48xlarge
    });
  });

  describe('Function: getInstanceType', () => {
    it('has every required family, each with at least three sizes', () => {
      // Prepare
      const names = instanceTypeNames();
      // Assess
      expect(FAMILIES).toEqual(['c5', 'm5', 'r5', 't3', 'c6i', 'm6i', 'r6i', 'p3', 'g4dn', 'g5']);
      for (const family of FAMILIES) {
        expect(names.filter((n) => n.startsWith(`${family}.`)).length, family).toBeGreaterThanOrEqual(3);
      }
    });

    it('returns the published size, GPUs, max pods and us-east-1 price when asked for a known type', () => {
      expect(getInstanceType('c5.xlarge')).toMatchObject({
        name: 'c5.xlarge', family: 'c5', vcpu: 4, memoryGiB: 8, gpus: 0, enis: 4, ipv4PerEni: 15, maxPods: 58,
        pricePerHour: 0.17, region: 'us-east-1',
      });
      expect(getInstanceType('p3.8xlarge')).toMatchObject({ vcpu: 32, memoryGiB: 244, gpus: 4, gpuModel: 'NVIDIA V100', maxPods: 234 });
      expect(getInstanceType('g4dn.xlarge')).toMatchObject({ vcpu: 4, memoryGiB: 16, gpus: 1, gpuModel: 'NVIDIA T4', maxPods: 29 });
      expect(getInstanceType('g5.48xlarge')).toMatchObject({ vcpu: 192, memoryGiB: 768, gpus: 8, maxPods: 345 });
      expect(getInstanceType('t3.medium')).toMatchObject({ vcpu: 2, memoryGiB: 4, maxPods: 17, pricePerHour: 0.0416 });
      expect(getInstanceType('r6i.32xlarge')).toMatchObject({ vcpu: 128, memoryGiB: 1024, maxPods: 737 });
    });

    it('keeps every entry consistent: memory per vCPU by family, max pods by formula, positive prices', () => {
      const gibPerVcpu: Record<string, number> = { c5: 2, c6i: 2, m5: 4, m6i: 4, r5: 8, r6i: 8 };
      for (const t of listInstanceTypes()) {
        expect(t.maxPods, t.name).toBe(t.enis * (t.ipv4PerEni - 1) + 2);
        expect(t.pricePerHour, t.name).toBeGreaterThan(0);
        const ratio = gibPerVcpu[t.family];
        if (ratio !== undefined) expect(t.memoryGiB / t.vcpu, t.name).toBe(ratio);
        expect(t.gpus > 0, t.name).toBe(['p3', 'g4dn', 'g5'].includes(t.family));
      }
    });

    it('prices scale with size within a family (twice the vCPUs, twice the price) for c5, m5 and r5', () => {
      for (const family of ['c5', 'm5', 'r5']) {
        const xl = getInstanceType(`${family}.xlarge`);
        const x2 = getInstanceType(`${family}.2xlarge`);
        expect(x2.pricePerHour, family).toBeCloseTo(2 * xl.pricePerHour, 6);
      }
    });

    it('applies the region multiplier when given another known region', () => {
      expect(getInstanceType('c5.xlarge', 'us-west-2').pricePerHour).toBe(0.17);
      expect(getInstanceType('c5.xlarge', 'eu-west-1').pricePerHour).toBeCloseTo(0.17 * (REGION_PRICE_MULTIPLIER['eu-west-1'] ?? 0), 6);
      expect(getInstanceType('c5.xlarge', 'eu-west-1').region).toBe('eu-west-1');
    });

    it('throws UnknownRegionError listing known regions when given an unknown region', () => {
      // Act
      const act = () => getInstanceType('c5.xlarge', 'mars-north-1');
      // Assess
      expect(act).toThrow(UnknownRegionError);
      expect(act).toThrow(ValidationError);
      expect(act).toThrow(/no prices recorded for region "mars-north-1"; known regions: us-east-1, us-east-2/);
    });

    it('throws UnknownInstanceTypeError with the nearest names when given an unknown type', () => {
      try {
        getInstanceType('c5.xlarge2');
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(UnknownInstanceTypeError);
        const e = err as UnknownInstanceTypeError;
        expect(e.statusCode).toBe(404);
        expect(e.suggestions[0]).toBe('c5.xlarge');
        expect(e.message).toContain('c5.xlarge');
      }
    });
  });

  describe('Function: nearestInstanceTypes', () => {
    it('puts the closest name first and ignores case and spaces', () => {
      expect(nearestInstanceTypes(' M5.XLARGE ')[0]).toBe('m5.xlarge');
      expect(nearestInstanceTypes('g4dn.xlarg')[0]).toBe('g4dn.xlarge');
      expect(nearestInstanceTypes('r5.2xlarge', 5)).toHaveLength(5);
    });
  });

  describe('Function: gpuInstanceTypes', () => {
    it('lists only GPU types, cheapest first', () => {
      const gpu = gpuInstanceTypes();
      expect(gpu[0]).toBe('g4dn.xlarge');
      expect(gpu.every((n) => getInstanceType(n).gpus > 0)).toBe(true);
      expect(gpu).toContain('p3.2xlarge');
      expect(isKnownInstanceType('p3.2xlarge')).toBe(true);
      expect(isKnownInstanceType('p3.3xlarge')).toBe(false);
    });
  });

  it('records the date its prices were taken', () => {
    expect(PRICE_DATE).toMatch(/^\d{4}-\d{2}-\d{2}$/);
  });
});
