import type { ErrorDetail } from '../core/errors.ts';
import { allocatable, type DaemonsetOverhead } from '../catalog/allocatable.ts';
import { gpuInstanceTypes, type InstanceType } from '../catalog/instances.ts';
import { isGpuResource } from '../spec/schema.ts';
import type { ClusterSpec, NodeResources } from '../spec/types.ts';

/**
 * Does one worker, and the scheduler, fit on one node of the spec's instance
 * type? Shared by spec resolution (to report problems) and the planner (to
 * refuse an impossible plan). Each problem names the largest size that fits.
 */

/** Tolerance for binary floating point when comparing sizes (1e-9 vCPU or GiB). */
export const EPSILON = 1e-9;

/** GPUs one worker asks for: the sum of its GPU-named resources. */
export function workerGpus(resources: Record<string, number>): number {
  let n = 0;
  for (const [k, v] of Object.entries(resources)) if (isGpuResource(k)) n += v;
  return n;
}

/** Round down for display, so "the largest that fits" really fits. */
export function floorTo(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.floor(n * f + EPSILON) / f;
}

export interface FitOptions {
  daemonsetOverhead?: Partial<DaemonsetOverhead>;
}

export function fitProblems(
  spec: Pick<ClusterSpec, 'instanceType' | 'workerCpu' | 'workerMemoryGiB' | 'schedulerCpu' | 'schedulerMemoryGiB' | 'resources'>,
  instance: InstanceType,
  options: FitOptions = {},
): ErrorDetail[] {
  const alloc: NodeResources = allocatable(instance, options);
  const type = instance.name;
  const problems: ErrorDetail[] = [];

  if (alloc.cpu <= EPSILON || alloc.memoryGiB <= EPSILON || alloc.pods < 1) {
    const what = alloc.pods < 1 ? 'pod slots' : alloc.cpu <= EPSILON ? 'CPU' : 'memory';
    problems.push({
      path: 'instanceType',
      message: `a ${type} node has no ${what} left for recc pods after kubelet reservations and daemonsets; choose a larger instance type`,
    });
    return problems;
  }

  const cpuMax = floorTo(alloc.cpu, 3);
  const memMax = floorTo(alloc.memoryGiB, 2);
  const tooBig = (who: string, asked: number, max: number, unit: string) =>
    `a ${who} of ${asked} ${unit} does not fit on a ${type} node (${max} ${unit} allocatable to pods); the largest that fits is ${max} ${unit}`;

  if (spec.workerCpu > alloc.cpu + EPSILON) {
    problems.push({ path: 'workerCpu', message: tooBig('worker', spec.workerCpu, cpuMax, 'vCPU') });
  }
  if (spec.workerMemoryGiB > alloc.memoryGiB + EPSILON) {
    problems.push({ path: 'workerMemoryGiB', message: tooBig('worker', spec.workerMemoryGiB, memMax, 'GiB') });
  }
  if (spec.schedulerCpu > alloc.cpu + EPSILON) {
    problems.push({ path: 'schedulerCpu', message: tooBig('scheduler', spec.schedulerCpu, cpuMax, 'vCPU') });
  }
  if (spec.schedulerMemoryGiB > alloc.memoryGiB + EPSILON) {
    problems.push({ path: 'schedulerMemoryGiB', message: tooBig('scheduler', spec.schedulerMemoryGiB, memMax, 'GiB') });
  }

  const gpuKeys = Object.keys(spec.resources).filter(isGpuResource);
  const gpus = workerGpus(spec.resources);
  if (gpus > 0) {
    const path = `resources.${gpuKeys[0] ?? 'GPU'}`;
    if (instance.gpus === 0) {
      problems.push({
        path,
        message: `${type} has no GPUs; choose a GPU instance type such as ${cheapestGpuTypePerFamily().join(', ')}`,
      });
    } else if (gpus > instance.gpus) {
      problems.push({
        path,
        message: `${gpus} GPUs per worker do not fit on a ${type} node (${instance.gpus} GPU${instance.gpus === 1 ? '' : 's'}); the largest that fits is ${instance.gpus}`,
      });
    }
  }
  return problems;
}

/** The cheapest GPU instance type of each GPU family, cheapest first (e.g. g4dn.xlarge, g5.xlarge, p3.2xlarge). */
export function cheapestGpuTypePerFamily(): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const name of gpuInstanceTypes()) {
    const family = name.split('.')[0] ?? name;
    if (seen.has(family)) continue;
    seen.add(family);
    out.push(name);
  }
  return out;
}
