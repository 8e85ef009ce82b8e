import type { DatastoresSpec } from '../datastores/config.ts';

/**
 * The resolved cluster spec: what a researcher asked for after defaults,
 * template and overrides are merged and validated. The zod schema in
 * `schema.ts` is the single source of truth for validation; this interface is
 * the contract the rest of recc builds on.
 */
export interface ClusterSpec {
  /** EC2 instance type for worker nodes, e.g. `c5.xlarge`. */
  instanceType: string;
  nWorkers: number;
  /** vCPU per worker (may be fractional, e.g. 0.5). */
  workerCpu: number;
  workerMemoryGiB: number;
  schedulerCpu: number;
  schedulerMemoryGiB: number;
  /** Custom worker resources advertised to the scheduler, e.g. `{ GPU: 1 }`. */
  resources: Record<string, number>;
  /**
   * Container image for scheduler and workers, pinned by a version tag or a
   * digest (never `latest`). Absent: the deployment's image (RECC_EKS_IMAGE,
   * digest-pinned, on EKS; this checkout's code on the local backend).
   */
  image?: string;
  /** Git branch of the research code, mounted into workers (EFS on EKS). */
  sourceGitBranch?: string;
  env: Record<string, string>;
  idleTimeoutMinutes: number;
  maxLifetimeHours: number;
  name?: string;
  job?: string;
  tags: Record<string, string>;
  /**
   * Datastores for the workers: named stores (local roots, S3 buckets and
   * prefixes), read order, write target, cache. Workers get them as
   * RECC_DATASTORES_JSON; on EKS the S3 stores also scope the data policy.
   */
  datastores?: DatastoresSpec;
  /**
   * Size the cluster from its work (adaptive scaling): the scheduler asks for
   * between `minimum` and `maximum` workers so that the queued and running
   * work would take about `targetDuration` seconds. `nWorkers` is the start.
   */
  adaptive?: AdaptiveSpec;
}

export interface AdaptiveSpec {
  /** Fewest workers (0: the cluster may shrink to its scheduler). */
  minimum: number;
  maximum: number;
  /** Seconds the work on hand should take (Dask's target-duration). @default 5 */
  targetDuration: number;
  /** Consecutive looks that must agree before a worker retires. @default 3 */
  waitCount: number;
  /** Seconds between looks. @default 1 */
  interval: number;
}

/** A partial spec as written in a template, a YAML file or overrides. */
export type ClusterSpecInput = Partial<Omit<ClusterSpec, 'adaptive'>> & { adaptive?: AdaptiveSpecInput };

/** `adaptive` as written: only `maximum` is required. */
export interface AdaptiveSpecInput {
  minimum?: number | undefined;
  maximum: number;
  targetDuration?: number | undefined;
  waitCount?: number | undefined;
  interval?: number | undefined;
}

export type BoundBy = 'cpu' | 'memory' | 'pods' | 'gpus';

export interface NodeResources {
  cpu: number;
  memoryGiB: number;
  pods: number;
  gpus: number;
}

export interface PlannedNode {
  index: number;
  workers: number;
  hostsScheduler: boolean;
  used: NodeResources;
  allocatable: NodeResources;
}

/** What a spec takes and costs. Produced by the pure planner. */
export interface Plan {
  instanceType: string;
  region: string;
  /** Number of EC2 instances (nodes). */
  instances: number;
  /** Workers on a full node. */
  workersPerInstance: number;
  /** Index into `nodes` of the node that holds the scheduler. */
  schedulerNode: number;
  nodes: PlannedNode[];
  /** Unused allocatable summed over all nodes. */
  headroom: NodeResources;
  /** Which resource limited workers per node. */
  boundBy: BoundBy;
  /** EC2 on-demand $/hour for all instances. */
  ec2CostPerHour: number;
  /** This cluster's configured share of the EKS control plane fee, $/hour. */
  controlPlaneCostPerHour: number;
  /** ec2CostPerHour + controlPlaneCostPerHour. */
  costPerHour: number;
  costPerWorkerHour: number;
  /** Where the price came from, e.g. `aws-pricing-api us-east-1 2026-11-01`. */
  priceSource: string;
  /** On-demand $/hour of one instance in `region`. */
  pricePerInstanceHour?: number;
  /** Fraction of the EKS control plane fee charged to this cluster (0..1). */
  controlPlaneShare?: number;
  /** Workers that fit on the scheduler's node beside the scheduler. */
  workersBesideScheduler?: number;
}

/** A cluster template from `templates/*.yaml` (or a YAML file given by path). */
export interface TemplateInfo {
  /** File name without extension, e.g. `large-cluster-large-workers`. */
  name: string;
  description: string;
  /** The partial spec the template sets (merged over the defaults). */
  spec: ClusterSpecInput;
  /** Warm capacity the template keeps on EKS (`warm:`, shared/spec/warm.ts). */
  warm?: import('./warm.ts').WarmPool;
}
