import type { ClusterSpec, Plan } from '../spec/types.ts';

export const CLUSTER_STATUSES = ['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING', 'DELETED', 'FAILED'] as const;
export type ClusterStatus = (typeof CLUSTER_STATUSES)[number];

/** Statuses in which a cluster may hold backend resources. */
export const LIVE_STATUSES: readonly ClusterStatus[] = ['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING'];
export const TERMINAL_STATUSES: readonly ClusterStatus[] = ['DELETED', 'FAILED'];

/** How to reach a running cluster. Shown to the owner only. */
export interface ClusterConnection {
  /** e.g. `tls://10.0.3.4:8786` or `tcp://127.0.0.1:41234`. */
  schedulerAddress: string;
  dashboardUrl?: string;
  token: string;
  /** PEM of the per-cluster CA, when the scheduler speaks TLS. */
  caPem?: string;
  /** The SQS route (issue 12): the cluster's request queue, for clients that cannot reach the scheduler over TCP. */
  requestQueueUrl?: string;
  /** Where payloads over the inline limit go (S3 bucket and key prefix of the cluster). */
  payloadBucket?: string;
  payloadPrefix?: string;
}

export interface ClusterCost {
  /** Dollars accrued from PROVISIONING until now (or DELETED). */
  toDate: number;
  /** Dollars per hour while it keeps running. */
  perHour: number;
  /** ISO time the figures were computed. */
  asOf: string;
  /**
   * Live clusters only (added by the cost accrual, `shared/cost/`): dollars the
   * cluster will have cost when the harvester reaps it if it stays idle from
   * `asOf`, and the time of that reap.
   */
  projected?: number;
  projectedUntil?: string;
}

export interface ClusterRecord {
  id: string;
  /** User name derived from the caller's IAM principal (or the OS user locally). */
  owner: string;
  /**
   * The full IAM principal ARN that created the cluster (e.g.
   * `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`), for audit. Absent on
   * records created before it was recorded.
   */
  principalArn?: string;
  name: string;
  job?: string;
  /** Kubernetes namespace (or local equivalent): `recc-<owner>-<id suffix>`. */
  namespace: string;
  template?: string;
  status: ClusterStatus;
  /** Why the cluster is in its status: failure reason, reap reason, … */
  statusReason?: string;
  /** Optimistic-concurrency version; every write bumps it and is conditional on it. */
  version: number;
  spec: ClusterSpec;
  plan: Plan;
  /** Workers currently wanted (starts at spec.nWorkers; PATCH changes it). */
  desiredWorkers: number;
  clientToken?: string;
  createdAt: string;
  updatedAt: string;
  /** Last activity seen: API call, client heartbeat, scheduler-reported task activity. */
  lastActivityAt: string;
  /** Last client heartbeat (client lease). */
  lastHeartbeatAt?: string;
  /** When the cluster first entered PROVISIONING / RUNNING / a terminal status. */
  provisioningAt?: string;
  runningAt?: string;
  endedAt?: string;
  connection?: ClusterConnection;
  cost?: ClusterCost;
  /**
   * First time the harvester found the scheduler unreachable while it should
   * be up; cleared when it answers again. Kept on the record so that a wedged
   * scheduler cannot keep a cluster alive across harvester runs.
   */
  schedulerUnreachableSince?: string;
  /**
   * Quota scopes (`user:<name>`, `group:<name>`) this cluster counts against,
   * fixed at creation so that its release decrements exactly what its
   * creation charged (`shared/quota/usage.ts`). Absent: counts nothing.
   */
  quotaScopes?: string[];
  /**
   * Workers the backend stops first when it scales down: the scheduler
   * retired them gracefully (their results live on elsewhere). Names only
   * matter while such a worker still runs; the backend ignores the others.
   */
  retireWorkers?: string[];
  /**
   * When the owner was allowed kubectl `--edit` on this cluster (issue 21
   * #3); the provisioner grants it on the backend while the cluster runs,
   * and it goes with the cluster.
   */
  kubectlEditAt?: string;
  /**
   * When the backend saw each start-up milestone (issue 19 #5), copied from
   * the observation that made the cluster RUNNING; `startTimeline` turns them
   * into stage durations for `recc cluster get`.
   */
  startTimes?: BackendStartTimes;
}

/**
 * Start-up milestones as the backend saw them (ISO times; each optional, a
 * backend reports what it can). Local: process spawn, the `scheduler.ready`
 * and `worker.ready` log lines. EKS: pod creation, container start, Ready
 * conditions.
 */
export interface BackendStartTimes {
  /** The first pod (local: process) of the cluster was created. */
  podsCreatedAt?: string;
  /** The scheduler's container started running (EKS: after node boot and image pull). */
  containersStartedAt?: string;
  /** The scheduler accepted connections. */
  schedulerReadyAt?: string;
  /** The last of the desired workers registered with the scheduler. */
  workersRegisteredAt?: string;
}

/** One recorded status change (the status history). */
export interface StatusChange {
  clusterId: string;
  from: ClusterStatus | null;
  to: ClusterStatus;
  at: string;
  /** Who caused it: a user name, `provisioner`, `harvester`, `local-stack`. */
  actor: string;
  reason?: string;
  /** Version of the record after this change. */
  version: number;
}
