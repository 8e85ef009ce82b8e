import type { ComponentFailure } from '../../shared/ports/compute-backend.ts';
import { EKS_LABELS } from './manifests/naming.ts';

/**
 * Pure mapping from what Kubernetes and Auto Scaling report to lifecycle
 * failures a user can act on. One observe cycle reads pods, deployments and
 * scaling activities once and calls these; nothing waits for a timeout.
 */
export interface PodView {
  name: string;
  component: 'scheduler' | 'worker';
  phase: string;
  ready: boolean;
  image: string;
  nodeName?: string;
  waitingReason?: string;
  waitingMessage?: string;
  lastTerminatedReason?: string;
  lastExitCode?: number;
  restartCount: number;
  /** PodScheduled=False / Unschedulable message from the scheduler. */
  unschedulableMessage?: string;
  memoryLimit?: string;
  /** The pod's failed image pulls, from the kubelet's events (see `pullHistories`). */
  pulls?: PullHistory;
  /** Start milestones (issue 19 #5): creation, container running since, Ready since (ISO). */
  createdAt?: string;
  runningSince?: string;
  readySince?: string;
}

function isReady(pod: any): boolean {
  return (pod.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
}

/** What the observer needs of a pod of a cluster (scheduler or worker; others are ignored). */
export function podView(pod: any): PodView | undefined {
  const component = pod.metadata?.labels?.[EKS_LABELS.component];
  if (component !== 'scheduler' && component !== 'worker') return undefined;
  const cs = pod.status?.containerStatuses?.[0];
  const container = pod.spec?.containers?.[0];
  const scheduled = (pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled');
  return {
    name: pod.metadata?.name ?? '',
    component,
    phase: pod.status?.phase ?? 'Unknown',
    ready: isReady(pod),
    image: container?.image ?? '',
    ...(pod.spec?.nodeName ? { nodeName: pod.spec.nodeName } : {}),
    ...(cs?.state?.waiting?.reason ? { waitingReason: cs.state.waiting.reason } : {}),
    ...(cs?.state?.waiting?.message ? { waitingMessage: cs.state.waiting.message } : {}),
    ...(cs?.lastState?.terminated?.reason ? { lastTerminatedReason: cs.lastState.terminated.reason } : {}),
    ...(cs?.lastState?.terminated?.exitCode !== undefined ? { lastExitCode: cs.lastState.terminated.exitCode } : {}),
    restartCount: cs?.restartCount ?? 0,
    ...(scheduled?.status === 'False' && scheduled.reason === 'Unschedulable' ? { unschedulableMessage: scheduled.message ?? '' } : {}),
    ...(container?.resources?.limits?.memory ? { memoryLimit: String(container.resources.limits.memory) } : {}),
    ...isoField('createdAt', pod.metadata?.creationTimestamp),
    ...isoField('runningSince', cs?.state?.running?.startedAt),
    ...(isReady(pod) ? isoField('readySince', (pod.status?.conditions ?? []).find((c: any) => c.type === 'Ready')?.lastTransitionTime) : {}),
  };
}

/** client-node gives Date objects, the wire gives strings: either way an ISO string, or nothing. */
function isoField<K extends string>(key: K, value: unknown): Partial<Record<K, string>> {
  if (value === undefined || value === null) return {};
  const ms = new Date(value as string | Date).getTime();
  return Number.isNaN(ms) ? {} : ({ [key]: new Date(ms).toISOString() } as Record<K, string>);
}

/**
 * The start milestones of a ready cluster from its pods (issue 19 #5):
 * first pod created; the scheduler's container running (after node boot and
 * image pull); the scheduler Ready; the last of the desired workers Ready (a
 * worker is Ready once it registered: its readiness probe is the file it
 * writes then). Times are the API server's and kubelets' (rounded to the
 * second by Kubernetes).
 */
export function startTimesOf(views: readonly PodView[], workersDesired: number): { podsCreatedAt?: string; containersStartedAt?: string; schedulerReadyAt?: string; workersRegisteredAt?: string } {
  const min = (xs: (string | undefined)[]) => xs.filter((x): x is string => x !== undefined).sort()[0];
  const scheduler = views.find((v) => v.component === 'scheduler' && v.ready);
  const workersReady = views.filter((v) => v.component === 'worker' && v.readySince !== undefined).map((v) => v.readySince as string).sort();
  const podsCreatedAt = min(views.map((v) => v.createdAt));
  return {
    ...(podsCreatedAt ? { podsCreatedAt } : {}),
    ...(scheduler?.runningSince ? { containersStartedAt: scheduler.runningSince } : {}),
    ...(scheduler?.readySince ? { schedulerReadyAt: scheduler.readySince } : {}),
    ...(workersDesired > 0 && workersReady.length >= workersDesired ? { workersRegisteredAt: workersReady[workersDesired - 1] as string } : {}),
  };
}

/** What the kubelet's `Failed` events say about one pod's image pulls. */
export interface PullHistory {
  /** Failed pulls (the aggregated events' counts). */
  failed: number;
  /** Failed pulls whose error says the image or tag does not exist. */
  notFound: number;
  /** The newest pull error. */
  lastError?: string;
}

/** A core/v1 Event as the backend reads it. */
export interface EventView {
  podName?: string;
  reason?: string;
  message?: string;
  count?: number;
  lastTimestamp?: Date | string;
}

export interface DeploymentView {
  component: 'scheduler' | 'worker';
  /** ReplicaFailure condition message (e.g. exceeded quota). */
  replicaFailure?: string;
  /** When the ReplicaFailure condition last became True (ISO), if known. */
  replicaFailureSince?: string;
}

export interface QuotaContext {
  /** Pods of the namespace still in their grace period (they keep their quota until gone). */
  terminatingPods: number;
  /** Now, in ms since the epoch. */
  now: number;
  /**
   * How long an exceeded-quota FailedCreate must last, with no pod terminating,
   * before it is permanent: the ReplicaSet retries on its own backoff and the
   * quota controller frees usage asynchronously after a pod is gone.
   */
  settleMs: number;
}

export interface ActivityView {
  statusCode: string;
  statusMessage?: string;
  description?: string;
  startTime?: Date | string;
}

export interface CapacityView {
  groupName: string;
  instanceType: string;
  /** Desired capacity of the node group. */
  desired: number;
  /** Nodes of the group that joined the cluster and are Ready. */
  readyNodes: number;
  /** Max size of the group (the quota). */
  maxSize: number;
  /** Nodes this user's live clusters of this type need in total. */
  needed: number;
}

/**
 * The reference itself cannot be used, so no pull is tried and retrying cannot
 * help: an unparsable reference, pull policy Never with the image absent, a
 * signature policy refusing it (pkg/kubelet/images/types.go,
 * k8s.io/cri-api/pkg/errors).
 */
const IMAGE_PERMANENT_REASONS = new Set(['InvalidImageName', 'ErrImageNeverPull', 'SignatureValidationFailed']);
/**
 * A pull failed and the kubelet retries it with back-off (10 s doubling to
 * 300 s): ErrImagePull right after a failed pull, ImagePullBackOff while
 * waiting, RegistryUnavailable from newer runtimes. The cause is in the pull
 * error: timeouts, 429 rate limits, 401/403 from an expired node credential
 * or a policy not yet propagated come and go; only "not found" is a property
 * of the image, and even that is believed only after several pulls (a tag
 * pushed while the cluster starts, registry replication lag).
 */
const IMAGE_RETRY_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'RegistryUnavailable']);
/** Failed pulls that must all say "not found" (about 30 s of the kubelet's back-off) before the image is called missing. */
export const IMAGE_NOT_FOUND_CONFIRMATIONS = 3;

/**
 * Whether a runtime pull error says the image or tag does not exist: containerd
 * "…: not found" (gRPC NotFound), the registry API's MANIFEST_UNKNOWN /
 * NAME_UNKNOWN, Docker Hub's "repository does not exist or may require
 * authorization" (its answer for a repository that does not exist).
 */
export function isMissingImageError(text: string): boolean {
  return /: not found\b|code = NotFound|manifest unknown|name unknown|repository does not exist/i.test(text);
}

const PULL_FAILED = /^(?:\(combined from similar events\): )?Failed to pull image "[^"]*": ([\s\S]*)$/;

/**
 * Per pod name, the pulls that failed and how, from the kubelet's Warning
 * events `Failed` "Failed to pull image "X": <error>"; identical events are
 * aggregated with a count (client-go tools/record EventCorrelator).
 */
export function pullHistories(events: EventView[]): Map<string, PullHistory> {
  const out = new Map<string, PullHistory>();
  const newest = new Map<string, number>();
  for (const e of events) {
    const m = e.reason === 'Failed' && e.podName ? PULL_FAILED.exec(e.message ?? '') : null;
    if (!m || !e.podName) continue;
    const error = m[1] ?? '';
    const count = Math.max(1, Number(e.count ?? 1));
    const at = e.lastTimestamp ? new Date(e.lastTimestamp).getTime() : 0;
    const h = out.get(e.podName) ?? { failed: 0, notFound: 0 };
    h.failed += count;
    if (isMissingImageError(error)) h.notFound += count;
    if (at >= (newest.get(e.podName) ?? Number.NEGATIVE_INFINITY)) {
      newest.set(e.podName, at);
      h.lastError = error;
    }
    out.set(e.podName, h);
  }
  return out;
}

/** Whether any pod waits for a pull that is retried (then the events are worth reading). */
export function retriesImagePulls(pods: PodView[]): boolean {
  return pods.some((p) => p.waitingReason !== undefined && IMAGE_RETRY_REASONS.has(p.waitingReason));
}
const CONFIG_REASONS = new Set(['CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/**
 * Taints that say a node is not usable YET or any more, never that the pod
 * is wrong: the node lifecycle controller's condition taints
 * (pkg/controller/nodelifecycle, k8s.io/api core/v1 well_known_taints.go), the
 * cloud provider's uninitialized / shutdown taints, and the cluster
 * autoscaler's scale-in mark.
 */
const NODE_STATE_TAINTS = new Set([
  'node.kubernetes.io/not-ready',
  'node.kubernetes.io/unreachable',
  'node.kubernetes.io/unschedulable',
  'node.kubernetes.io/network-unavailable',
  'node.cloudprovider.kubernetes.io/uninitialized',
  'node.cloudprovider.kubernetes.io/shutdown',
  'ToBeDeletedByClusterAutoscaler',
]);

/**
 * The per-node reasons of a scheduler FitError message, "0/N nodes are
 * available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: …"
 * (pkg/scheduler/framework/types.go `FitError.Error`); undefined when the
 * message is not in that form.
 */
export function unschedulableReasons(message: string): string[] | undefined {
  const m = /^0\/\d+ nodes are available: ([\s\S]*?)\.(?: preemption:[\s\S]*)?$/.exec(message.trim());
  if (!m?.[1]) return undefined;
  const reasons = m[1].split(', ').map((r) => /^\d+ (.+)$/.exec(r.trim())?.[1]);
  return reasons.every((r): r is string => r !== undefined) ? reasons : undefined;
}

/**
 * Whether every node the scheduler turned the pod away from was refused for
 * its own state: cordoned ("node(s) were unschedulable", the NodeUnschedulable
 * plugin) or tainted not-ready, unreachable and the like (TaintToleration).
 * Such a pod waits for nodes; nothing about the pod is wrong, and the
 * message may describe nodes that have recovered since the scheduler's last
 * attempt (it retries after its backoff, on the next node event).
 */
export function waitsOnlyForNodes(message: string): boolean {
  const reasons = unschedulableReasons(message);
  if (!reasons || reasons.length === 0) return false;
  return reasons.every((r) => {
    if (r === 'node(s) were unschedulable') return true;
    const taint = /^node\(s\) had untolerated taint \{([^:}]+):/.exec(r)?.[1];
    return taint !== undefined && NODE_STATE_TAINTS.has(taint);
  });
}

function plural(n: number, word: string): string {
  return `${n} ${word} pod${n === 1 ? '' : 's'}`;
}

/** Failures from pod states. `capacitySettled`: the node group has all its nodes, so Unschedulable will not clear by itself. */
export function podFailures(pods: PodView[], options: { capacitySettled: boolean }): ComponentFailure[] {
  const groups = new Map<string, { pods: PodView[]; failure: Omit<ComponentFailure, 'message'> & { message: (n: number) => string } }>();
  const add = (key: string, pod: PodView, make: () => Omit<ComponentFailure, 'message'> & { message: (n: number) => string }) => {
    const g = groups.get(key);
    if (g) g.pods.push(pod);
    else groups.set(key, { pods: [pod], failure: make() });
  };
  for (const pod of pods) {
    const c = pod.component;
    if (pod.waitingReason && IMAGE_PERMANENT_REASONS.has(pod.waitingReason)) {
      const reason = pod.waitingReason;
      add(`${c}:${reason}`, pod, () => ({
        component: c,
        reason,
        permanent: true,
        message: (n) =>
          `the ${c} image "${pod.image}" cannot be used (${reason}, ${plural(n, c)}): ${pod.waitingMessage ?? 'no detail'}. ` +
          'Check the image name and tag: a lowercase repository, an optional registry host, then :tag or @sha256:digest.',
      }));
    } else if (pod.waitingReason && IMAGE_RETRY_REASONS.has(pod.waitingReason)) {
      const reason = pod.waitingReason;
      const pulls = pod.pulls ?? { failed: 0, notFound: 0 };
      const error = pulls.lastError ?? pod.waitingMessage ?? 'no detail';
      const missing = pulls.notFound >= IMAGE_NOT_FOUND_CONFIRMATIONS && isMissingImageError(error);
      add(`${c}:${reason}:${missing ? 'missing' : 'retrying'}`, pod, () => ({
        component: c,
        reason,
        permanent: missing,
        message: (n) =>
          missing
            ? `the ${c} image "${pod.image}" does not exist (${reason}, ${plural(n, c)}; not found on ${pulls.notFound} pulls): ${error}. ` +
              'Check the image name and tag, and that it was pushed to a registry the cluster nodes can pull from.'
            : `the ${c} image "${pod.image}" could not be pulled yet (${reason}, ${plural(n, c)}, ${pulls.failed} failed pull${pulls.failed === 1 ? '' : 's'}): ${error}; ` +
              'the kubelet retries with back-off' +
              (pulls.notFound > 0 ? ` (not found ${pulls.notFound} of the ${IMAGE_NOT_FOUND_CONFIRMATIONS} times that make it missing)` : ''),
      }));
    } else if (pod.waitingReason === 'CrashLoopBackOff' || (pod.lastTerminatedReason === 'OOMKilled' && !pod.ready)) {
      if (pod.lastTerminatedReason === 'OOMKilled') {
        add(`${c}:OOMKilled`, pod, () => ({
          component: c,
          reason: 'OOMKilled',
          permanent: true,
          message: (n) =>
            `the ${c} ran out of memory and was killed (${plural(n, c)}, limit ${pod.memoryLimit ?? 'unknown'}, restarted ${pod.restartCount} times). ` +
            `Ask for more ${c === 'worker' ? 'workerMemoryGiB' : 'schedulerMemoryGiB'} or use less memory per task.`,
        }));
      } else {
        add(`${c}:CrashLoopBackOff`, pod, () => ({
          component: c,
          reason: 'CrashLoopBackOff',
          permanent: true,
          message: (n) =>
            `the ${c} container keeps exiting (CrashLoopBackOff, ${plural(n, c)}, exit code ${pod.lastExitCode ?? 'unknown'}, restarted ${pod.restartCount} times); see the log tail.`,
        }));
      }
    } else if (pod.waitingReason && CONFIG_REASONS.has(pod.waitingReason)) {
      const reason = pod.waitingReason;
      add(`${c}:${reason}`, pod, () => ({
        component: c,
        reason,
        permanent: true,
        message: () => `the ${c} container cannot be created (${reason}): ${pod.waitingMessage ?? 'no detail'}`,
      }));
    } else if (pod.unschedulableMessage !== undefined && !pod.nodeName && /persistentvolumeclaim/i.test(pod.unschedulableMessage)) {
      // The volume binding filter, not capacity: the git source's claim (sourceGitBranch) is missing or unbound.
      // Its PersistentVolume is pre-bound at apply, so this clears within seconds; still there once the nodes
      // are all Ready, the volume is gone or taken, and no node will help.
      const settled = options.capacitySettled;
      add(`${c}:Unschedulable:volume`, pod, () => ({
        component: c,
        reason: 'Unschedulable',
        permanent: settled,
        message: (n) =>
          settled
            ? `${plural(n, c)} cannot be scheduled: ${pod.unschedulableMessage}. The git source volume of sourceGitBranch (the cluster's PersistentVolume on EFS and its claim) is missing or bound elsewhere; delete the cluster and create it again.`
            : `${plural(n, c)} waiting for the git source volume to bind: ${pod.unschedulableMessage}`,
      }));
    } else if (pod.unschedulableMessage !== undefined && !pod.nodeName) {
      // Permanent only when the group has all its nodes AND the scheduler found the pod too large for them:
      // a pod turned away only by cordoned or not-ready nodes is waiting for them (issue 22 chaos run).
      const settled = options.capacitySettled && !waitsOnlyForNodes(pod.unschedulableMessage);
      add(`${c}:Unschedulable`, pod, () => ({
        component: c,
        reason: 'Unschedulable',
        permanent: settled,
        message: (n) =>
          settled
            ? `${plural(n, c)} cannot be scheduled although the node group has all its nodes: ${pod.unschedulableMessage}. ` +
              'The pod is larger than what a node offers, or the nodes lack a resource it asks for; ask for smaller workers or another instance type.'
            : `${plural(n, c)} waiting for nodes: ${pod.unschedulableMessage}`,
      }));
    }
  }
  return [...groups.values()].map(({ pods: ps, failure }) => ({ ...failure, message: failure.message(ps.length) }));
}

/**
 * FailedCreate from a Deployment. The quota is sized to exactly the planned
 * pods and rolling updates use maxSurge 0, so during a rollout or a scale the
 * new pods are refused until the old ones have left their grace period (a
 * terminating pod still counts, pkg/quota/v1/evaluator/core/pods.go). That is
 * transient; only an exceeded quota that outlasts `settleMs` with nothing
 * terminating (or any other refusal) is permanent.
 */
export function deploymentFailures(deployments: DeploymentView[], quota?: QuotaContext): ComponentFailure[] {
  return deployments
    .filter((d) => d.replicaFailure)
    .map((d) => {
      const byQuota = /exceeded quota/i.test(d.replicaFailure ?? '');
      const since = d.replicaFailureSince ? Date.parse(d.replicaFailureSince) : Number.NaN;
      const settled = quota !== undefined && quota.terminatingPods === 0 && Number.isFinite(since) && quota.now - since >= quota.settleMs;
      if (byQuota && quota && !settled) {
        return {
          component: d.component,
          reason: 'FailedCreate',
          permanent: false,
          message:
            quota.terminatingPods > 0
              ? `new ${d.component} pods wait for ${quota.terminatingPods} terminating pod${quota.terminatingPods === 1 ? '' : 's'} to release the namespace quota`
              : `new ${d.component} pods wait for the namespace quota to be released: ${d.replicaFailure}`,
        };
      }
      return {
        component: d.component,
        reason: 'FailedCreate',
        permanent: true,
        message: `Kubernetes refused to create ${d.component} pods: ${d.replicaFailure}`,
      };
    });
}

/**
 * Auto Scaling activity failures that concern a cluster applied at `since`.
 * Only the newest activity counts: a later success means capacity recovered.
 */
export function activityFailures(activities: ActivityView[], since: string | undefined, capacity: CapacityView): ComponentFailure[] {
  const failures: ComponentFailure[] = [];
  if (capacity.needed > capacity.maxSize) {
    failures.push({
      component: 'nodes',
      reason: 'NodeGroupQuotaExceeded',
      permanent: true,
      message:
        `your clusters of ${capacity.instanceType} need ${capacity.needed} nodes but your node group ${capacity.groupName} allows at most ${capacity.maxSize}. ` +
        'Ask for fewer or smaller workers, delete another cluster, or ask for a larger quota.',
    });
  }
  const sinceMs = since ? Date.parse(since) : Number.NEGATIVE_INFINITY;
  const relevant = activities
    .filter((a) => a.startTime !== undefined && new Date(a.startTime).getTime() >= sinceMs)
    .sort((a, b) => new Date(b.startTime ?? 0).getTime() - new Date(a.startTime ?? 0).getTime());
  const newest = relevant[0];
  if (!newest || newest.statusCode !== 'Failed') return failures;
  if (capacity.readyNodes >= capacity.desired && capacity.desired >= capacity.needed) return failures;
  const text = `${newest.statusMessage ?? ''} ${newest.description ?? ''}`;
  if (/InsufficientInstanceCapacity/i.test(text)) {
    failures.push({
      component: 'nodes',
      reason: 'InsufficientInstanceCapacity',
      permanent: true,
      message:
        `AWS has no ${capacity.instanceType} capacity available right now (InsufficientInstanceCapacity): ${newest.statusMessage ?? ''}`.trim() +
        ' Try another instance type (for example from another family) or try again later.',
    });
  } else if (/VcpuLimitExceeded|vCPU limit|vCPU capacity/i.test(text)) {
    failures.push({
      component: 'nodes',
      reason: 'VcpuLimitExceeded',
      permanent: true,
      message:
        `the AWS account's on-demand vCPU limit was reached while adding ${capacity.instanceType} nodes: ${newest.statusMessage ?? ''}`.trim() +
        ' Ask for fewer or smaller workers, delete clusters you no longer need, or ask for a vCPU quota increase.',
    });
  } else {
    failures.push({
      component: 'nodes',
      reason: 'NodeLaunchFailed',
      permanent: false,
      message: `launching ${capacity.instanceType} nodes failed: ${newest.statusMessage ?? 'no detail'}; retrying`,
    });
  }
  return failures;
}
