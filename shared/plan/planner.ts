import { allocatable, compileDaemonsetOverhead, type DaemonsetOverhead } from '../catalog/allocatable.ts';
import { BASE_REGION, PRICE_DATE, PRICE_SOURCE, getInstanceType } from '../catalog/instances.ts';
import { LIVE_PRICE_SOURCE, livePrice, type PriceTable } from '../catalog/prices.ts';
import { resolveSpec, type ResolveOptions, type ResolveRequest } from '../spec/resolve.ts';
import type { BoundBy, ClusterSpec, NodeResources, Plan, PlannedNode } from '../spec/types.ts';
import { PlanInfeasibleError, PlanOptionsError } from './errors.ts';
import { EPSILON, fitProblems, workerGpus } from './fit.ts';

/**
 * Capacity planner (pure): how many nodes of the spec's instance type hold
 * the scheduler and `nWorkers` workers, and what they cost per hour.
 *
 * Every node offers the same allocatable (see `allocatable.ts`). A full node
 * holds `workersPerInstance = min over cpu, memory, pods (and GPUs when asked)
 * of floor(allocatable / per-worker request)`; the resource reaching the
 * minimum is `boundBy`. Node 0 holds the scheduler and as many workers as fit
 * beside it; the other nodes are filled in order, the last one with the
 * remainder. This is the minimum node count: some node must host the
 * scheduler, and no node holds more workers than a full one.
 *
 * Cost: instances × on-demand price (in the region) + `controlPlaneShare` ×
 * the EKS control plane fee ($0.10/hour per EKS cluster). recc clusters share
 * one EKS cluster, so deployments may pass their own share; the default 1
 * charges the whole fee to each cluster, so an estimate never understates.
 */
export const EKS_CONTROL_PLANE_FEE_PER_HOUR = 0.1;
export const DEFAULT_CONTROL_PLANE_SHARE = 1;

export interface PlanOptions {
  region?: string;
  daemonsetOverhead?: Partial<DaemonsetOverhead>;
  /** Fraction (0..1) of the EKS control plane fee charged to this cluster; default 1. */
  controlPlaneShare?: number;
  /** Prices from the Price List API (shared/catalog/prices.ts); the static dated table where they do not cover the type or region. */
  prices?: PriceTable;
}

export function planCluster(spec: ClusterSpec, options: PlanOptions = {}): Plan {
  const region = options.region ?? BASE_REGION;
  const share = options.controlPlaneShare ?? DEFAULT_CONTROL_PLANE_SHARE;
  if (!Number.isFinite(share) || share < 0 || share > 1) {
    throw new PlanOptionsError('invalid planner options', [
      { path: 'controlPlaneShare', message: `must be a number from 0 to 1 (got ${share})` },
    ]);
  }
  if (!Number.isInteger(spec.nWorkers) || spec.nWorkers < 1) {
    throw new PlanInfeasibleError([{ path: 'nWorkers', message: `must be a positive whole number (got ${spec.nWorkers})` }]);
  }
  const overhead = compileDaemonsetOverhead(options.daemonsetOverhead);
  const listed = getInstanceType(spec.instanceType, region);
  const live = livePrice(options.prices, listed.name, region);
  const instance = live === undefined ? listed : { ...listed, pricePerHour: live };
  const problems = fitProblems(spec, instance, { daemonsetOverhead: overhead });
  if (problems.length > 0) throw new PlanInfeasibleError(problems);

  const alloc = allocatable(instance, { daemonsetOverhead: overhead });
  const worker: NodeResources = { cpu: spec.workerCpu, memoryGiB: spec.workerMemoryGiB, pods: 1, gpus: workerGpus(spec.resources) };
  const scheduler: NodeResources = { cpu: spec.schedulerCpu, memoryGiB: spec.schedulerMemoryGiB, pods: 1, gpus: 0 };

  const full = workersThatFit(alloc, worker);
  const besideScheduler = workersThatFit(subtract(alloc, scheduler), worker);
  const n = spec.nWorkers;
  const onSchedulerNode = Math.min(besideScheduler.count, n);
  const rest = n - onSchedulerNode;
  const instances = 1 + Math.ceil(rest / full.count);

  const nodes: PlannedNode[] = [];
  let left = rest;
  for (let index = 0; index < instances; index++) {
    const hostsScheduler = index === 0;
    const workers = hostsScheduler ? onSchedulerNode : Math.min(full.count, left);
    if (!hostsScheduler) left -= workers;
    const used = add(scale(worker, workers), hostsScheduler ? scheduler : ZERO);
    nodes.push({ index, workers, hostsScheduler, used, allocatable: { ...alloc } });
  }

  const headroom = nodes.reduce((acc, node) => add(acc, subtract(node.allocatable, node.used)), ZERO);
  const ec2CostPerHour = money(instances * instance.pricePerHour);
  const controlPlaneCostPerHour = money(share * EKS_CONTROL_PLANE_FEE_PER_HOUR);
  const costPerHour = money(ec2CostPerHour + controlPlaneCostPerHour);
  return {
    instanceType: instance.name,
    region,
    instances,
    workersPerInstance: full.count,
    schedulerNode: 0,
    nodes,
    headroom: clean(headroom),
    boundBy: full.boundBy,
    ec2CostPerHour,
    controlPlaneCostPerHour,
    costPerHour,
    costPerWorkerHour: money(costPerHour / n),
    priceSource:
      live === undefined || !options.prices
        ? `${PRICE_SOURCE} ${PRICE_DATE}${region === BASE_REGION ? '' : ` × ${region} multiplier (approximate)`}`
        : `${LIVE_PRICE_SOURCE} ${region} ${options.prices.asOf}`,
    pricePerInstanceHour: instance.pricePerHour,
    controlPlaneShare: share,
    workersBesideScheduler: besideScheduler.count,
  };
}

/** Resolve a spec (defaults → template → overrides) and plan it. */
export function estimate(
  request: ResolveRequest & PlanOptions & Pick<ResolveOptions, 'templatesDir'> = {},
): { spec: ClusterSpec; plan: Plan } {
  const { template, overrides, templatesDir, region, daemonsetOverhead, controlPlaneShare } = request;
  const spec = resolveSpec(
    { ...(template === undefined ? {} : { template }), ...(overrides === undefined ? {} : { overrides }) },
    { ...(templatesDir === undefined ? {} : { templatesDir }), ...(daemonsetOverhead === undefined ? {} : { daemonsetOverhead }) },
  );
  const plan = planCluster(spec, {
    ...(region === undefined ? {} : { region }),
    ...(daemonsetOverhead === undefined ? {} : { daemonsetOverhead }),
    ...(controlPlaneShare === undefined ? {} : { controlPlaneShare }),
  });
  return { spec, plan };
}

const ZERO: NodeResources = Object.freeze({ cpu: 0, memoryGiB: 0, pods: 0, gpus: 0 });
// On a tie the scarcer, costlier resource is reported: GPUs, then CPU, memory, pods.
const ORDER: readonly BoundBy[] = ['gpus', 'cpu', 'memory', 'pods'];
const KEY: Record<BoundBy, keyof NodeResources> = { cpu: 'cpu', memory: 'memoryGiB', pods: 'pods', gpus: 'gpus' };

/** How many workers fit in `capacity`, and which resource limits it (ties reported in gpus, cpu, memory, pods order). */
export function workersThatFit(capacity: NodeResources, worker: NodeResources): { count: number; boundBy: BoundBy } {
  let count = Number.POSITIVE_INFINITY;
  let boundBy: BoundBy = 'cpu';
  for (const r of ORDER) {
    const need = worker[KEY[r]];
    if (need <= 0) continue;
    const fits = Math.max(0, Math.floor((capacity[KEY[r]] + EPSILON) / need));
    if (fits < count) {
      count = fits;
      boundBy = r;
    }
  }
  return { count: Number.isFinite(count) ? count : 0, boundBy };
}

function add(a: NodeResources, b: NodeResources): NodeResources {
  return clean({ cpu: a.cpu + b.cpu, memoryGiB: a.memoryGiB + b.memoryGiB, pods: a.pods + b.pods, gpus: a.gpus + b.gpus });
}
function subtract(a: NodeResources, b: NodeResources): NodeResources {
  return clean({ cpu: a.cpu - b.cpu, memoryGiB: a.memoryGiB - b.memoryGiB, pods: a.pods - b.pods, gpus: a.gpus - b.gpus });
}
function scale(a: NodeResources, k: number): NodeResources {
  return clean({ cpu: a.cpu * k, memoryGiB: a.memoryGiB * k, pods: a.pods * k, gpus: a.gpus * k });
}
function clean(r: NodeResources): NodeResources {
  const c = (n: number) => Math.round(n * 1e9) / 1e9;
  return { cpu: c(r.cpu), memoryGiB: c(r.memoryGiB), pods: c(r.pods), gpus: c(r.gpus) };
}
/** Dollars to 1e-6 (removes floating-point noise; display rounds further). */
function money(n: number): number {
  return Math.round(n * 1e6) / 1e6;
}
