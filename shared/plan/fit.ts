import type { ErrorDetail } from '../core/errors.ts';
import { allocatable, type DaemonsetOverhead } from '../catalog/allocatable.ts';
import { gpuInstanceTypes, type InstanceType } from '../catalog/instances.ts';
import { isGpuResource } from '../spec/schema.ts';
import { dollars } from './format.ts';
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

type FitSpec = Pick<ClusterSpec, 'instanceType' | 'workerCpu' | 'workerMemoryGiB' | 'schedulerCpu' | 'schedulerMemoryGiB' | 'resources'> & { nWorkers?: number };

export function fitProblems(
  spec: FitSpec,
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
  // A worker problem suggests the largest size that fits; say what taking it does to nodes and $/h.
  const workerProblems = problems.filter((p) => p.path === 'workerCpu' || p.path === 'workerMemoryGiB');
  const effect = workerProblems.length > 0 ? suggestionEffect(spec, instance, alloc, { cpu: Math.min(spec.workerCpu, cpuMax), memoryGiB: Math.min(spec.workerMemoryGiB, memMax) }) : '';
  for (const p of workerProblems) p.message += effect;

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

/**
 * `; at 3.795 vCPU and 6.78 GiB, 20 workers take 21 nodes (1 per node, the
 * scheduler on a node of its own), EC2 $3.57/h`: the plan with the suggested
 * worker size, as the planner would make it (planner.ts; same arithmetic,
 * kept here because the planner imports this file). Empty when the count of
 * workers is unknown or the scheduler or GPUs do not fit either.
 */
function suggestionEffect(spec: FitSpec, instance: InstanceType, alloc: NodeResources, size: { cpu: number; memoryGiB: number }): string {
  const n = spec.nWorkers;
  if (n === undefined || !Number.isInteger(n) || n < 1) return '';
  if (spec.schedulerCpu > alloc.cpu + EPSILON || spec.schedulerMemoryGiB > alloc.memoryGiB + EPSILON) return '';
  const gpus = workerGpus(spec.resources);
  if (gpus > instance.gpus) return '';
  const worker: NodeResources = { cpu: size.cpu, memoryGiB: size.memoryGiB, pods: 1, gpus };
  const perNode = fitCount(alloc, worker);
  if (perNode < 1) return '';
  const besideScheduler = fitCount(
    { cpu: alloc.cpu - spec.schedulerCpu, memoryGiB: alloc.memoryGiB - spec.schedulerMemoryGiB, pods: alloc.pods - 1, gpus: alloc.gpus },
    worker,
  );
  const onSchedulerNode = Math.min(besideScheduler, n);
  const nodes = 1 + Math.ceil((n - onSchedulerNode) / perNode);
  const where = besideScheduler === 0 ? 'the scheduler on a node of its own' : `${onSchedulerNode} beside the scheduler`;
  const at = [size.cpu < spec.workerCpu ? `${size.cpu} vCPU` : '', size.memoryGiB < spec.workerMemoryGiB ? `${size.memoryGiB} GiB` : ''].filter(Boolean).join(' and ');
  const one = n === 1 ? '1 worker takes' : `${n} workers take`;
  return `; at ${at}, ${one} ${nodes} node${nodes === 1 ? '' : 's'} (${perNode} per node, ${where}), EC2 ${dollars(nodes * instance.pricePerHour)}/h`;
}

/** Workers of this size that fit in `capacity` (the planner's workersThatFit, count only). */
function fitCount(capacity: NodeResources, worker: NodeResources): number {
  let count = Math.floor(capacity.pods / worker.pods);
  count = Math.min(count, Math.floor((capacity.cpu + EPSILON) / worker.cpu));
  count = Math.min(count, Math.floor((capacity.memoryGiB + EPSILON) / worker.memoryGiB));
  if (worker.gpus > 0) count = Math.min(count, Math.floor(capacity.gpus / worker.gpus));
  return Math.max(0, count);
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
