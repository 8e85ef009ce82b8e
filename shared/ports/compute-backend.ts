import type { ClusterDefinition, ClusterSecrets } from '../definition/types.ts';
import type { BackendStartTimes } from '../lifecycle/types.ts';

/**
 * Where clusters run. Adapters: local processes (`adapters/local-backend`)
 * and EKS (`adapters/eks`). `test/conformance/compute-backend.ts` is the
 * contract every backend passes.
 *
 * Every operation is idempotent. `teardown` of something that does not exist
 * succeeds. Errors a user can act on are thrown as typed errors with a
 * statusCode below 500.
 */
export interface ComponentFailure {
  component: 'scheduler' | 'worker' | 'nodes';
  /** Machine-readable reason: CrashLoopBackOff, ImagePullBackOff, Unschedulable, InsufficientInstanceCapacity, ProcessExited, … */
  reason: string;
  /** A message the user can act on. */
  message: string;
  /** Last lines of the failing component's log, when there is one. */
  logTail?: string;
  /** True when retrying will not help (the cluster should go to FAILED). */
  permanent: boolean;
}

export interface ClusterActivity {
  /** ISO time of the last task start/finish or client connect seen by the scheduler. */
  lastActivityAt?: string;
  tasksProcessing: number;
  clientsConnected: number;
}

export interface Observation {
  clusterId: string;
  /** False when the backend holds nothing for this cluster. */
  exists: boolean;
  schedulerReady: boolean;
  workersDesired: number;
  workersRegistered: number;
  /** True when schedulerReady and workersRegistered >= workersDesired. */
  ready: boolean;
  failures: ComponentFailure[];
  /** How clients reach the scheduler, once known. */
  schedulerAddress?: string;
  dashboardUrl?: string;
  /** Activity reported by the scheduler, when it is reachable. */
  activity?: ClusterActivity;
  /** False when the scheduler should be up but did not answer. */
  schedulerReachable?: boolean;
  /** Start-up milestones, when `ready` and the backend knows them (kept on the record at RUNNING). */
  startTimes?: BackendStartTimes;
}

export interface BackendClusterRef {
  clusterId: string;
  owner?: string;
  namespace?: string;
}

/** One access grant the backend removed or narrowed because no live cluster needed it (any more). */
export interface GrantChange {
  /** `access-entry`: a user's EKS access entry; `pod-identity`: a namespace's Pod Identity association. */
  kind: 'access-entry' | 'pod-identity';
  /** The principal ARN or the namespace. */
  subject: string;
  /** `deleted`, or `rescoped` when the grant still serves other live clusters. */
  change: 'deleted' | 'rescoped';
  owner?: string;
}

export interface ScaleOptions {
  retire?: readonly string[];
}

export interface ComputeBackend {
  readonly kind: string;
  /**
   * The image a cluster gets when its spec names none (EKS: RECC_EKS_IMAGE,
   * pinned by digest). Backends that run no container omit it.
   */
  readonly defaultImage?: string;
  /** Create or update everything for the cluster. */
  apply(definition: ClusterDefinition, secrets: ClusterSecrets): Promise<void>;
  observe(clusterId: string): Promise<Observation>;
  /**
   * Follow `nWorkers`. Workers named in `retire` (pod names) are the ones to
   * stop first when scaling down: the scheduler retired them gracefully, the
   * others may hold results. Names of workers that are gone are ignored.
   */
  scale(clusterId: string, nWorkers: number, options?: ScaleOptions): Promise<void>;
  /** Remove everything for the cluster. Not-found is success. */
  teardown(clusterId: string): Promise<void>;
  /** Every cluster the backend holds resources for (for orphan reconciliation). */
  list(): Promise<BackendClusterRef[]>;
  /**
   * The secrets last applied for the cluster, when the backend keeps them
   * (local: the state dir; EKS: the cluster's Secret). The provisioner reuses
   * them on a re-apply and reads the token for the record's connection, so a
   * retried step never rotates the certificates of running pods.
   */
  readSecrets?(clusterId: string): Promise<ClusterSecrets | undefined>;
  /**
   * Remove or narrow access grants (EKS access entries and their namespace-
   * scoped policies, Pod Identity associations) that name clusters which no
   * longer exist. Run by the harvester; level-triggered and idempotent (a
   * second call on the same state changes nothing); not-found is success.
   * Backends that grant nothing outside a cluster's own resources omit it.
   */
  sweepGrants?(): Promise<GrantChange[]>;
  /**
   * Give the cluster's owner kubectl `edit` in the cluster's namespace
   * (`recc cluster kubeconfig ID --edit`: exec into and delete its pods,
   * nothing more), for as long as the cluster lives; teardown and
   * `sweepGrants` take it away. The API decided the owner may have it; the
   * provisioner calls this while the cluster is RUNNING. Idempotent; a
   * cluster the backend does not hold is success. Backends without kubectl
   * access (local processes) omit it.
   */
  grantEdit?(clusterId: string): Promise<void>;
  /**
   * Warm capacity (issue 19 #5): keep the nodes and pre-pulled images the
   * templates ask for (`warm:`), whether or not a cluster uses them, and stop
   * keeping what no template asks for any more. Run by the harvester;
   * level-triggered and idempotent. Returns the warm groups. Backends with
   * nothing to keep warm (local processes) omit it.
   */
  reconcileCapacity?(): Promise<string[]>;
}
