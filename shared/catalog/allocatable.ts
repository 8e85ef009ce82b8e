import type { NodeResources } from '../spec/types.ts';
import { CatalogOptionsError } from './errors.ts';
import type { InstanceType } from './instances.ts';

/**
 * What a node offers to pods, following the EKS-optimised AMI (AL2/AL2023
 * bootstrap) rules for kubelet reservations:
 *
 * - CPU kube-reserved, in tiers of the node's cores: 6% of the first core,
 *   1% of the second, 0.5% of the third and fourth, 0.25% of every core above
 *   four (a c5.xlarge reserves 60 + 10 + 5 + 5 = 80 millicores).
 * - Memory kube-reserved: 255 MiB + 11 MiB × maxPods.
 * - Hard eviction threshold: `memory.available < 100Mi`.
 * - Pods: maxPods from the ENI formula (see `instances.ts`).
 *
 * Nodes also run daemonsets before any recc pod lands. The default overhead
 * models the two every EKS node runs: aws-node (VPC CNI, requests 25m CPU)
 * and kube-proxy (requests 100m CPU), so 0.125 vCPU and 2 pods. Neither sets a
 * memory request; 0.25 GiB covers their working set and part of the gap
 * between the nominal instance memory and what the kernel reports to kubelet.
 * Clusters with more daemonsets (log shipper, node exporter, NVIDIA device
 * plugin) pass a larger `daemonsetOverhead`.
 */
export interface DaemonsetOverhead {
  cpu: number;
  memoryGiB: number;
  pods: number;
}

export const DEFAULT_DAEMONSET_OVERHEAD: Readonly<DaemonsetOverhead> = Object.freeze({
  cpu: 0.125,
  memoryGiB: 0.25,
  pods: 2,
});

export const MEMORY_RESERVED_BASE_MIB = 255;
export const MEMORY_RESERVED_PER_POD_MIB = 11;
export const EVICTION_HARD_MIB = 100;

/** Kube-reserved CPU in millicores for a node with `vcpu` cores (EKS AMI tiers). */
export function kubeReservedCpuMillicores(vcpu: number): number {
  const tiers: Array<[from: number, to: number, percent: number]> = [
    [0, 1, 6],
    [1, 2, 1],
    [2, 4, 0.5],
    [4, Number.POSITIVE_INFINITY, 0.25],
  ];
  let reserved = 0;
  for (const [from, to, percent] of tiers) {
    const cores = Math.max(0, Math.min(vcpu, to) - from);
    reserved += cores * 1000 * (percent / 100);
  }
  return reserved;
}

/** Kube-reserved memory in MiB: 255 + 11 × maxPods. */
export function kubeReservedMemoryMiB(maxPods: number): number {
  return MEMORY_RESERVED_BASE_MIB + MEMORY_RESERVED_PER_POD_MIB * maxPods;
}

export interface AllocatableBreakdown {
  /** Nominal instance size. */
  capacity: NodeResources;
  /** Kubelet's view: capacity − kube-reserved − eviction threshold. */
  kubelet: NodeResources;
  /** What is left for recc pods after the daemonset overhead. */
  forPods: NodeResources;
  kubeReservedCpu: number;
  kubeReservedMemoryGiB: number;
  evictionMemoryGiB: number;
  daemonsetOverhead: DaemonsetOverhead;
}

/**
 * Allocatable resources of one node for recc pods (scheduler and workers),
 * after kube-reserved, the eviction threshold and the daemonset overhead.
 * Values are exact to 1e-12 (no rounding to a display precision).
 */
export function allocatable(
  instance: InstanceType,
  options: { daemonsetOverhead?: Partial<DaemonsetOverhead> } = {},
): NodeResources {
  return allocatableBreakdown(instance, options).forPods;
}

export function allocatableBreakdown(
  instance: InstanceType,
  options: { daemonsetOverhead?: Partial<DaemonsetOverhead> } = {},
): AllocatableBreakdown {
  const overhead = compileDaemonsetOverhead(options.daemonsetOverhead);
  const kubeReservedCpu = kubeReservedCpuMillicores(instance.vcpu) / 1000;
  const kubeReservedMemoryGiB = kubeReservedMemoryMiB(instance.maxPods) / 1024;
  const evictionMemoryGiB = EVICTION_HARD_MIB / 1024;
  const capacity: NodeResources = {
    cpu: instance.vcpu,
    memoryGiB: instance.memoryGiB,
    pods: instance.maxPods,
    gpus: instance.gpus,
  };
  const kubelet: NodeResources = {
    cpu: clean(instance.vcpu - kubeReservedCpu),
    memoryGiB: clean(instance.memoryGiB - kubeReservedMemoryGiB - evictionMemoryGiB),
    pods: instance.maxPods,
    gpus: instance.gpus,
  };
  const forPods: NodeResources = {
    cpu: Math.max(0, clean(kubelet.cpu - overhead.cpu)),
    memoryGiB: Math.max(0, clean(kubelet.memoryGiB - overhead.memoryGiB)),
    pods: Math.max(0, kubelet.pods - overhead.pods),
    gpus: instance.gpus,
  };
  return { capacity, kubelet, forPods, kubeReservedCpu, kubeReservedMemoryGiB, evictionMemoryGiB, daemonsetOverhead: overhead };
}

/** Fill in defaults and reject negative or non-finite overheads. */
export function compileDaemonsetOverhead(input: Partial<DaemonsetOverhead> = {}): DaemonsetOverhead {
  const merged = { ...DEFAULT_DAEMONSET_OVERHEAD, ...stripUndefined(input) };
  const details = [];
  for (const key of ['cpu', 'memoryGiB', 'pods'] as const) {
    const v = merged[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      details.push({ path: `daemonsetOverhead.${key}`, message: 'must be a number ≥ 0' });
    } else if (key === 'pods' && !Number.isInteger(v)) {
      details.push({ path: 'daemonsetOverhead.pods', message: 'must be a whole number ≥ 0' });
    }
  }
  if (details.length > 0) throw new CatalogOptionsError('invalid daemonset overhead', details);
  return merged;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** Remove binary floating-point noise (e.g. 3.9200000000000004 → 3.92), to 1e-12. */
function clean(n: number): number {
  return Math.round(n * 1e12) / 1e12;
}
