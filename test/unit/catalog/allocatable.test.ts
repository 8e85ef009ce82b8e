import { describe, expect, it } from 'vitest';
import {
  DEFAULT_DAEMONSET_OVERHEAD,
  allocatable,
  allocatableBreakdown,
  kubeReservedCpuMillicores,
  kubeReservedMemoryMiB,
} from '../../../shared/catalog/allocatable.ts';
import { CatalogOptionsError } from '../../../shared/catalog/errors.ts';
import { FAMILIES, getInstanceType } from '../../../shared/catalog/instances.ts';

const GiB = 1024; // MiB

describe('Module: allocatable', () => {
  describe('Function: kubeReservedCpuMillicores', () => {
    it('reserves 6% of the first core, 1% of the second, 0.5% of cores 3–4 and 0.25% above 4', () => {
      expect(kubeReservedCpuMillicores(1)).toBeCloseTo(60, 9);
      expect(kubeReservedCpuMillicores(2)).toBeCloseTo(70, 9); // 60 + 10
      expect(kubeReservedCpuMillicores(4)).toBeCloseTo(80, 9); // 60 + 10 + 5 + 5
      expect(kubeReservedCpuMillicores(8)).toBeCloseTo(90, 9); // 80 + 4 × 2.5
      expect(kubeReservedCpuMillicores(96)).toBeCloseTo(310, 9); // 80 + 92 × 2.5
    });
  });

  describe('Function: kubeReservedMemoryMiB', () => {
    it('reserves 255 MiB + 11 MiB per max pod', () => {
      expect(kubeReservedMemoryMiB(58)).toBe(893);
      expect(kubeReservedMemoryMiB(29)).toBe(574);
    });
  });

  describe('Function: allocatable', () => {
    // One hand computation per family. cpu = vCPU − kube-reserved − 0.125 (daemonsets);
    // memory = GiB − (255 + 11 × maxPods + 100 eviction) MiB − 0.25 GiB; pods = maxPods − 2.
    const cases: Array<{ type: string; cpu: number; memoryGiB: number; pods: number; gpus: number; why: string }> = [
      { type: 'c5.xlarge', cpu: 4 - 0.08 - 0.125, memoryGiB: 8 - (255 + 11 * 58 + 100) / GiB - 0.25, pods: 56, gpus: 0, why: 'maxPods 4×14+2=58' },
      { type: 'm5.large', cpu: 2 - 0.07 - 0.125, memoryGiB: 8 - (255 + 11 * 29 + 100) / GiB - 0.25, pods: 27, gpus: 0, why: 'maxPods 3×9+2=29' },
      { type: 'r5.2xlarge', cpu: 8 - 0.09 - 0.125, memoryGiB: 64 - (255 + 11 * 58 + 100) / GiB - 0.25, pods: 56, gpus: 0, why: 'cpu 80+4×2.5=90m' },
      { type: 't3.medium', cpu: 2 - 0.07 - 0.125, memoryGiB: 4 - (255 + 11 * 17 + 100) / GiB - 0.25, pods: 15, gpus: 0, why: 'maxPods 3×5+2=17' },
      { type: 'c6i.4xlarge', cpu: 16 - 0.11 - 0.125, memoryGiB: 32 - (255 + 11 * 234 + 100) / GiB - 0.25, pods: 232, gpus: 0, why: 'cpu 80+12×2.5=110m, maxPods 8×29+2=234' },
      { type: 'm6i.xlarge', cpu: 4 - 0.08 - 0.125, memoryGiB: 16 - (255 + 11 * 58 + 100) / GiB - 0.25, pods: 56, gpus: 0, why: '' },
      { type: 'r6i.large', cpu: 2 - 0.07 - 0.125, memoryGiB: 16 - (255 + 11 * 29 + 100) / GiB - 0.25, pods: 27, gpus: 0, why: '' },
      { type: 'p3.2xlarge', cpu: 8 - 0.09 - 0.125, memoryGiB: 61 - (255 + 11 * 58 + 100) / GiB - 0.25, pods: 56, gpus: 1, why: 'one V100' },
      { type: 'g4dn.xlarge', cpu: 4 - 0.08 - 0.125, memoryGiB: 16 - (255 + 11 * 29 + 100) / GiB - 0.25, pods: 27, gpus: 1, why: 'maxPods 3×9+2=29' },
      { type: 'g5.12xlarge', cpu: 48 - 0.19 - 0.125, memoryGiB: 192 - (255 + 11 * 737 + 100) / GiB - 0.25, pods: 735, gpus: 4, why: 'cpu 80+44×2.5=190m, maxPods 15×49+2=737' },
    ];

    it('covers one type of every family in the hand computations', () => {
      expect(new Set(cases.map((c) => c.type.split('.')[0]))).toEqual(new Set(FAMILIES));
    });

    for (const c of cases) {
      it(`matches the EKS AMI rules when given ${c.type} ${c.why ? `(${c.why})` : ''}`.trim(), () => {
        // Act
        const a = allocatable(getInstanceType(c.type));
        // Assess
        expect(a.cpu).toBeCloseTo(c.cpu, 9);
        expect(a.memoryGiB).toBeCloseTo(c.memoryGiB, 9);
        expect(a.pods).toBe(c.pods);
        expect(a.gpus).toBe(c.gpus);
      });
    }

    it('uses the default overhead of aws-node and kube-proxy when given no options', () => {
      expect(DEFAULT_DAEMONSET_OVERHEAD).toEqual({ cpu: 0.125, memoryGiB: 0.25, pods: 2 });
    });

    it('subtracts a configured daemonset overhead, defaulting the fields not given', () => {
      // Prepare
      const t = getInstanceType('c5.xlarge');
      // Act
      const a = allocatable(t, { daemonsetOverhead: { cpu: 0.5, pods: 5 } });
      const none = allocatable(t, { daemonsetOverhead: { cpu: 0, memoryGiB: 0, pods: 0 } });
      // Assess
      expect(a.cpu).toBeCloseTo(3.92 - 0.5, 9);
      expect(a.memoryGiB).toBeCloseTo(8 - 993 / GiB - 0.25, 9);
      expect(a.pods).toBe(53);
      expect(none).toEqual({ cpu: 3.92, memoryGiB: 8 - 993 / GiB, pods: 58, gpus: 0 });
    });

    it('never goes below zero when the reservations exceed a tiny instance', () => {
      // t3.nano: 0.5 GiB − (255 + 44 + 100) MiB − 0.25 GiB < 0
      expect(allocatable(getInstanceType('t3.nano')).memoryGiB).toBe(0);
    });

    it('throws CatalogOptionsError naming each bad field when given a negative or fractional overhead', () => {
      const t = getInstanceType('c5.xlarge');
      try {
        allocatable(t, { daemonsetOverhead: { cpu: -1, memoryGiB: Number.NaN, pods: 1.5 } });
        expect.unreachable();
      } catch (err) {
        expect(err).toBeInstanceOf(CatalogOptionsError);
        expect((err as CatalogOptionsError).details.map((d) => d.path)).toEqual([
          'daemonsetOverhead.cpu',
          'daemonsetOverhead.memoryGiB',
          'daemonsetOverhead.pods',
        ]);
      }
    });
  });

  describe('Function: allocatableBreakdown', () => {
    it('reports capacity, the kubelet view and what is left for pods', () => {
      const b = allocatableBreakdown(getInstanceType('m5.xlarge'));
      expect(b.capacity).toEqual({ cpu: 4, memoryGiB: 16, pods: 58, gpus: 0 });
      expect(b.kubelet.cpu).toBeCloseTo(3.92, 9);
      expect(b.kubeReservedMemoryGiB).toBeCloseTo(893 / GiB, 9);
      expect(b.evictionMemoryGiB).toBeCloseTo(100 / GiB, 9);
      expect(b.forPods.pods).toBe(56);
    });
  });
});
