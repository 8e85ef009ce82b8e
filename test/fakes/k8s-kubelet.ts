import { createHash } from 'node:crypto';
import { cpuMilli as cpuOf, isTerminalPod as isTerminal, memBytes as memOf, quotaDenial } from './k8s-quota.ts';
import { ImagePuller, type ImagePullFailure } from './k8s-image-pull.ts';
import { JobController } from './k8s-jobs.ts';
import { podSecurityDenial } from './k8s-pod-security.ts';
import { reconcileVolumes, unboundClaimReason } from './k8s-volumes.ts';
import { matchesLabels, resourceByKind, clone, type Obj, type ObjectStore } from './k8s-store.ts';

/**
 * The controllers of the fake cluster, run synchronously after every write so
 * tests are deterministic:
 * - a Deployment controller that turns Deployments into Pods (template hash,
 *   scale up/down, recreate on template change, ResourceQuota admission,
 *   status with readyReplicas and a ReplicaFailure condition):
 *   pkg/controller/deployment/ (sync.go, rolling.go), pkg/controller/replicaset/
 *   replica_set.go `manageReplicas` (a refused create sets ReplicaFailure
 *   reason FailedCreate), pkg/controller/deployment/util/deployment_util.go;
 * - a scheduler that binds Pods to Nodes (Ready, nodeSelector, taints and
 *   tolerations, requests against allocatable, least-allocated scoring) or
 *   marks them Unschedulable with the real message format: plugins in
 *   pkg/scheduler/framework/plugins/ (nodeunschedulable, nodeaffinity,
 *   tainttoleration, noderesources/fit.go "Insufficient cpu", "Too many pods",
 *   noderesources/least_allocated.go), the message from
 *   pkg/scheduler/framework/types.go `FitError.Error` ("0/N nodes are
 *   available: …") and the preemption suffix of
 *   pkg/scheduler/framework/preemption/preemption.go;
 * - a kubelet that pulls the image of a bound Pod (`k8s-image-pull.ts`:
 *   InvalidImageName, ErrImagePull then ImagePullBackOff with the kubelet's
 *   back-off, events) and starts it (Running and Ready) unless a failure rule
 *   says CrashLoopBackOff (pkg/kubelet/kuberuntime/kuberuntime_manager.go
 *   `doBackOff`: "back-off 40s restarting failed container=… pod=…", last
 *   state terminated with reason Error or OOMKilled);
 * - the PV controller's static binding and the scheduler's volume check
 *   (`k8s-volumes.ts`), and Pod Security Admission on the pods the
 *   controllers create (`k8s-pod-security.ts`);
 * - a service controller standing in for the AWS Load Balancer Controller:
 *   a LoadBalancer Service gets `status.loadBalancer.ingress[0].hostname`
 *   `k8s-<namespace>-<name>-<hash>.elb.<region>.amazonaws.com` once the NLB
 *   exists (AWS Load Balancer Controller docs, "Network Load Balancer").
 */
export type PodFailure =
  | ImagePullFailure
  | { kind: 'CrashLoopBackOff'; log: string; exitCode?: number; oomKilled?: boolean }
  | { kind: 'Unschedulable'; message: string };

export interface FailureRule {
  /** Which pods: all conditions must hold. */
  match: { namespace?: string; component?: string; image?: string | RegExp; labels?: Record<string, string> };
  failure: PodFailure;
}

const NODE = resourceByKind('Node');
const POD = resourceByKind('Pod');
const DEPLOYMENT = resourceByKind('Deployment');
const DAEMONSET = resourceByKind('DaemonSet');
const SERVICE = resourceByKind('Service');
const NAMESPACE = resourceByKind('Namespace');

/**
 * How long the controllers take. Every delay defaults to 0 (act at once, as
 * before); the strict tests (`strict-backend.test.ts`) and the chaos run
 * (`test/support/eks-chaos.ts`) give them the durations real clusters show,
 * so transient states are visible.
 */
export interface ControllerTiming {
  /** A deleted pod's container exits this long after SIGTERM (capped by its grace period). */
  podExitMs?: () => number;
  /** Bound pod → container running and Ready (image pull, start). */
  podStartMs?: () => number;
  /** Service → `status.loadBalancer` filled by the AWS Load Balancer Controller. */
  loadBalancerMs?: () => number;
  /**
   * A pod that did not fit is retried only after the scheduler's backoff,
   * 1 s doubling to 10 s (pkg/scheduler/internal/queue/scheduling_queue.go,
   * DefaultPodInitialBackoffDuration / DefaultPodMaxBackoffDuration), even when a
   * node joins meanwhile; it stays PodScheduled=False/Unschedulable until then.
   */
  schedulerBackoff?: boolean;
  /**
   * A new node registers NotReady and turns Ready this much later, once the
   * CNI (aws-node) is up: "container runtime network not ready" until then
   * (pkg/kubelet/nodestatus/setters.go `ReadyCondition`, EKS node
   * join takes about a minute).
   */
  nodeReadyMs?: () => number;
}

export interface NodeSpecInput {
  name: string;
  labels?: Record<string, string>;
  taints?: Array<{ key: string; value?: string; effect: string }>;
  allocatable: { cpu: string; memory: string; pods: string; 'nvidia.com/gpu'?: string };
  providerID?: string;
}

function podRequests(pod: Obj): { cpu: number; memory: number; gpu: number } {
  let cpu = 0;
  let memory = 0;
  let gpu = 0;
  for (const c of pod.spec?.containers ?? []) {
    const req = c.resources?.requests ?? c.resources?.limits ?? {};
    cpu += cpuOf(req.cpu);
    memory += memOf(req.memory);
    gpu += Number(req['nvidia.com/gpu'] ?? 0);
  }
  return { cpu, memory, gpu };
}

export class KubeletSimulator {
  private readonly rules = new Map<number, FailureRule>();
  private ruleSeq = 0;
  private podSeq = 0;
  private lbSeq = 0;
  private ipSeq = 0;
  /** Pod logs by `namespace/name`. */
  readonly logs = new Map<string, string>();
  /** When each pod's log was last written (`timestamps=true` on the log endpoint). */
  readonly logTimes = new Map<string, number>();
  /** The batch/v1 Job controller and the container scripts of job pods (`k8s-jobs.ts`). */
  readonly jobs: JobController;
  /** The kubelet's image pulls: back-off, waiting reasons and events (issue 22 #4). */
  readonly images: ImagePuller;
  /** Pods removed because their node went away (a scale-in that hit a live cluster shows up here). */
  readonly evictions: Array<{ namespace: string; pod: string; node: string }> = [];
  /** When a pending controller action is due (`exit:<uid>`, `bind:<uid>`, `start:<uid>`, `lb:<uid>`), or attempt counts (`attempts:<uid>`). */
  private readonly due = new Map<string, number>();
  timing: ControllerTiming = {};

  constructor(
    private readonly store: ObjectStore,
    private readonly now: () => number,
  ) {
    this.images = new ImagePuller(store, now);
    this.jobs = new JobController({
      store,
      now,
      logs: this.logs,
      logTimes: this.logTimes,
      quotaDenial: (pod) => this.admissionDenial(pod),
      deletePod: (pod) => this.deletePod(pod),
    });
  }

  addRule(rule: FailureRule): number {
    this.ruleSeq += 1;
    this.rules.set(this.ruleSeq, rule);
    return this.ruleSeq;
  }

  removeRule(id: number): void {
    this.rules.delete(id);
  }

  clearRules(): void {
    this.rules.clear();
  }

  // ------------------------------------------------------------ nodes

  /** A node registers (pkg/kubelet/kubelet_node_status.go `registerWithAPIServer`) with its Ready condition (pkg/kubelet/nodestatus/setters.go `ReadyCondition`). */
  addNode(input: NodeSpecInput): Obj {
    const node: Obj = {
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: input.name, labels: { 'kubernetes.io/hostname': input.name, ...input.labels } },
      spec: { providerID: input.providerID, taints: input.taints ?? [] },
      status: {
        capacity: { ...input.allocatable },
        allocatable: { ...input.allocatable },
        conditions: [
          { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastTransitionTime: new Date(this.now()).toISOString() },
        ],
      },
    };
    const readyMs = this.timing.nodeReadyMs?.() ?? 0;
    if (readyMs > 0) {
      node.status.conditions = [
        {
          type: 'Ready',
          status: 'False',
          reason: 'KubeletNotReady',
          message: 'container runtime network not ready: NetworkReady=false reason:NetworkPluginNotReady message:Network plugin returns error: cni plugin not initialized',
          lastTransitionTime: new Date(this.now()).toISOString(),
        },
      ];
      this.due.set(`ready:${input.name}`, this.now() + readyMs);
    }
    const stored = this.store.insert(NODE, node);
    this.reconcile();
    return stored;
  }

  /**
   * The node is gone (instance terminated): its pods are deleted and their controllers recreate them
   * elsewhere (pkg/controller/podgc/gc_controller.go `gcOrphaned`: pods bound to a node that no longer exists).
   */
  removeNode(name: string): void {
    if (!this.store.remove(NODE, undefined, name)) return;
    this.due.delete(`ready:${name}`);
    for (const pod of this.store.list(POD, undefined, (p) => p.spec?.nodeName === name)) {
      this.evictions.push({ namespace: pod.metadata.namespace ?? '', pod: pod.metadata.name, node: name });
      this.removePod(pod);
    }
    this.reconcile();
  }

  /** Make one running pod fail now (e.g. a crash after start). */
  failPod(namespace: string, name: string, failure: PodFailure): void {
    const pod = this.store.get(POD, namespace, name);
    if (!pod) throw new Error(`fake k8s: no pod ${namespace}/${name}`);
    this.applyFailure(pod, failure);
    this.store.save(POD, pod);
    this.reconcile();
  }

  // ------------------------------------------------------------ controllers

  /** Run every controller until nothing changes. */
  reconcile(): void {
    for (let i = 0; i < 20; i += 1) {
      let changed = false;
      changed = this.finishTerminations() || changed;
      changed = this.readyNodes() || changed;
      changed = reconcileVolumes(this.store) || changed;
      for (const d of this.store.list(DEPLOYMENT)) changed = this.reconcileDeployment(d) || changed;
      changed = this.reconcileDaemonSets() || changed;
      changed = this.schedule() || changed;
      changed = this.startPods() || changed;
      changed = this.jobs.reconcile() || changed;
      for (const s of this.store.list(SERVICE)) changed = this.reconcileService(s) || changed;
      for (const d of this.store.list(DEPLOYMENT)) changed = this.updateDeploymentStatus(d) || changed;
      if (!changed) return;
    }
  }

  /** Nodes whose network came up turn Ready. */
  private readyNodes(): boolean {
    let changed = false;
    for (const node of this.store.list(NODE)) {
      const key = `ready:${node.metadata.name}`;
      const at = this.due.get(key);
      if (at === undefined || at > this.now()) continue;
      this.due.delete(key);
      node.status.conditions = [
        { type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status', lastTransitionTime: new Date(this.now()).toISOString() },
      ];
      this.store.save(NODE, node);
      changed = true;
    }
    return changed;
  }

  private templateHash(d: Obj): string {
    return createHash('sha256').update(JSON.stringify(d.spec?.template ?? {})).digest('hex').slice(0, 10);
  }

  /**
   * The pods a ReplicaSet counts: active ones only, not terminal and not
   * terminating (pkg/controller/controller_utils.go `FilterActivePods`), so a
   * replacement is created while the old pod is still shutting down.
   */
  private podsOf(d: Obj): Obj[] {
    const selector = d.spec?.selector?.matchLabels ?? {};
    return this.store.list(
      POD,
      d.metadata.namespace,
      (p) =>
        !isTerminal(p) &&
        !p.metadata.deletionTimestamp &&
        (p.metadata.ownerReferences ?? []).some((o) => o.uid === d.metadata.uid) &&
        Object.entries(selector).every(([k, v]) => p.metadata.labels?.[k] === v),
    );
  }

  private reconcileDeployment(d: Obj): boolean {
    const ns = this.store.get(NAMESPACE, undefined, d.metadata.namespace ?? '');
    if (!ns || ns.metadata.deletionTimestamp) return false;
    const hash = this.templateHash(d);
    let changed = false;
    const pods = this.podsOf(d);
    // Template changed: old pods go (maxSurge 0 / Recreate: never more pods than replicas;
    // pkg/controller/deployment/rolling.go `reconcileOldReplicaSets`, recreate.go).
    for (const p of pods.filter((x) => x.metadata.labels?.['pod-template-hash'] !== hash)) {
      this.deletePod(p);
      changed = true;
    }
    const current = this.podsOf(d);
    const want = Number(d.spec?.replicas ?? 1);
    if (current.length > want) {
      // Scale down: unscheduled, then not ready, then the lowest pod-deletion-cost, then newest first
      // (as the ReplicaSet controller ranks them: pkg/controller/controller_utils.go ActivePodsWithRanks).
      const ranked = [...current].sort((a, b) => rank(a) - rank(b) || deletionCost(a) - deletionCost(b) || (b.metadata.creationTimestamp ?? '').localeCompare(a.metadata.creationTimestamp ?? '') || b.metadata.name.localeCompare(a.metadata.name));
      for (const p of ranked.slice(0, current.length - want)) this.deletePod(p);
      changed = true;
    }
    let failure: string | undefined;
    for (let i = current.length; i < want; i += 1) {
      const pod = this.newPod(d, hash);
      const denied = this.admissionDenial(pod);
      if (denied) {
        failure = denied;
        break;
      }
      this.store.insert(POD, pod);
      changed = true;
    }
    const conditions = (d.status?.conditions ?? []).filter((c: any) => c.type !== 'ReplicaFailure');
    if (failure) {
      // Conditions keep their lastTransitionTime while the status stays the same (apps/v1 DeploymentCondition;
      // pkg/controller/deployment/util/deployment_util.go `SetDeploymentCondition`).
      const since = (d.status?.conditions ?? []).find((c: any) => c.type === 'ReplicaFailure')?.lastTransitionTime ?? new Date(this.now()).toISOString();
      conditions.push({ type: 'ReplicaFailure', status: 'True', reason: 'FailedCreate', message: failure, lastTransitionTime: since });
    }
    if (JSON.stringify(conditions) !== JSON.stringify(d.status?.conditions ?? [])) {
      d.status = { ...(d.status ?? {}), conditions };
      this.store.save(DEPLOYMENT, d);
      changed = true;
    }
    return changed;
  }

  private newPod(d: Obj, hash: string): Obj {
    this.podSeq += 1;
    const suffix = this.podSeq.toString(36).padStart(5, '0');
    const template = clone(d.spec?.template ?? {});
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: `${d.metadata.name}-${hash}-${suffix}`,
        namespace: d.metadata.namespace,
        labels: { ...(template.metadata?.labels ?? {}), 'pod-template-hash': hash },
        ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: d.metadata.name, uid: d.metadata.uid ?? '', controller: true }],
      },
      spec: template.spec ?? {},
      status: { phase: 'Pending', conditions: [] },
    };
  }

  /**
   * The DaemonSet controller (pkg/controller/daemon/daemon_controller.go
   * `manage`): one pod per node that the pod's nodeSelector matches and
   * whose NoSchedule/NoExecute taints it tolerates; the controller adds the
   * `node.kubernetes.io/unschedulable` toleration itself (util/daemonset_util.go
   * `AddOrUpdateDaemonPodTolerations`), so a cordoned node keeps its pod. The
   * pod is created bound to its node (the real controller pins it with node
   * affinity and lets the scheduler bind it: the same node). Pods of a deleted
   * DaemonSet are garbage-collected; a removed node's pods go with it (removeNode).
   */
  private reconcileDaemonSets(): boolean {
    let changed = false;
    const sets = this.store.list(DAEMONSET);
    const owned = (p: Obj) => p.metadata.ownerReferences?.find((o: any) => o.kind === 'DaemonSet');
    for (const pod of this.store.list(POD, undefined, (p) => owned(p) !== undefined && !p.metadata.deletionTimestamp)) {
      const ref = owned(pod);
      if (!sets.some((d) => d.metadata.uid === ref?.uid)) {
        this.removePod(pod);
        changed = true;
      }
    }
    for (const ds of sets) {
      const template = ds.spec?.template ?? {};
      const selector: Record<string, string> = template.spec?.nodeSelector ?? {};
      const tolerations: any[] = template.spec?.tolerations ?? [];
      for (const node of this.store.list(NODE)) {
        if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v)) continue;
        const untolerated = (node.spec?.taints ?? []).some(
          (t: any) =>
            (t.effect === 'NoSchedule' || t.effect === 'NoExecute') &&
            !tolerations.some((tol) => tol.key === t.key && (tol.operator === 'Exists' || tol.value === t.value) && (!tol.effect || tol.effect === t.effect)),
        );
        if (untolerated) continue;
        const has = this.store.list(POD, ds.metadata.namespace, (p) => owned(p)?.uid === ds.metadata.uid && p.spec?.nodeName === node.metadata.name && !p.metadata.deletionTimestamp);
        if (has.length > 0) continue;
        this.podSeq += 1;
        const spec = clone(template.spec ?? {});
        this.store.insert(POD, {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: {
            name: `${ds.metadata.name}-${this.podSeq.toString(36).padStart(5, '0')}`,
            namespace: ds.metadata.namespace,
            labels: { ...(template.metadata?.labels ?? {}) },
            ownerReferences: [{ apiVersion: 'apps/v1', kind: 'DaemonSet', name: ds.metadata.name, uid: ds.metadata.uid ?? '', controller: true }],
          },
          spec: { ...spec, nodeName: node.metadata.name, tolerations: [...(spec.tolerations ?? []), { key: 'node.kubernetes.io/unschedulable', operator: 'Exists', effect: 'NoSchedule' }] },
          status: { phase: 'Pending', conditions: [] },
        });
        changed = true;
      }
    }
    return changed;
  }

  /** ResourceQuota admission of a new pod (see k8s-quota.ts). */
  quotaDenial(pod: Obj): string | undefined {
    return quotaDenial(this.store, POD, pod, this.now());
  }

  /**
   * What a controller's pod create is refused with: Pod Security Admission
   * (k8s-pod-security.ts), then ResourceQuota, in the API server's admission
   * order (ResourceQuota is the last validating plugin).
   */
  admissionDenial(pod: Obj): string | undefined {
    return podSecurityDenial(this.store, pod) ?? this.quotaDenial(pod);
  }

  /**
   * Graceful pod deletion (pkg/registry/core/pod/strategy.go `CheckGracefulDelete`,
   * staging/.../registry/rest/delete.go `BeforeDelete`): the pod stays, with
   * its nodeName, `deletionTimestamp` = now + grace and
   * `deletionGracePeriodSeconds`; the kubelet marks it not Ready (endpoints
   * drop it) and removes it once the container exited, at most the grace
   * period later. Until then it still counts against quota (k8s-quota.ts).
   */
  deletePod(p: Obj): void {
    const stored = this.store.get(POD, p.metadata.namespace, p.metadata.name);
    if (!stored || stored.metadata.deletionTimestamp) return;
    const grace = Number(stored.spec?.terminationGracePeriodSeconds ?? 30);
    const exitMs = !stored.spec?.nodeName || isTerminal(stored) ? 0 : Math.min(this.timing.podExitMs?.() ?? 0, grace * 1000);
    if (exitMs <= 0) {
      this.removePod(stored);
      return;
    }
    stored.metadata.deletionTimestamp = new Date(this.now() + grace * 1000).toISOString();
    stored.metadata.deletionGracePeriodSeconds = grace;
    stored.status = {
      ...(stored.status ?? {}),
      conditions: (stored.status?.conditions ?? []).map((c: any) =>
        c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False', reason: 'PodTerminating' } : c,
      ),
    };
    this.due.set(`exit:${stored.metadata.uid}`, this.now() + exitMs);
    this.store.save(POD, stored);
  }

  private removePod(p: Obj): void {
    this.store.remove(POD, p.metadata.namespace, p.metadata.name);
    this.logs.delete(`${p.metadata.namespace}/${p.metadata.name}`);
    this.logTimes.delete(`${p.metadata.namespace}/${p.metadata.name}`);
    for (const k of ['exit', 'bind', 'start', 'attempts']) this.due.delete(`${k}:${p.metadata.uid}`);
    this.images.forget(p.metadata.uid ?? '');
  }

  /** Terminating pods whose container has exited are removed (the kubelet's final delete with grace 0). */
  private finishTerminations(): boolean {
    let changed = false;
    for (const pod of this.store.list(POD, undefined, (p) => Boolean(p.metadata.deletionTimestamp))) {
      const exitAt = this.due.get(`exit:${pod.metadata.uid}`) ?? 0;
      if (this.now() >= exitAt || this.now() >= Date.parse(pod.metadata.deletionTimestamp ?? '')) {
        this.removePod(pod);
        changed = true;
      }
    }
    return changed;
  }

  /**
   * A pod evicted by the kubelet (node pressure): phase Failed, reason
   * Evicted, still bound to its node (pkg/kubelet/eviction/eviction_manager.go).
   * Its ReplicaSet no longer counts it (it is not active) and makes a new one.
   */
  evictPod(namespace: string, name: string, message = 'The node was low on resource: memory.'): void {
    const pod = this.store.get(POD, namespace, name);
    if (!pod) throw new Error(`fake k8s: no pod ${namespace}/${name}`);
    pod.status = {
      ...(pod.status ?? {}),
      phase: 'Failed',
      reason: 'Evicted',
      message,
      conditions: (pod.status?.conditions ?? []).map((c: any) => (c.type === 'Ready' || c.type === 'ContainersReady' ? { ...c, status: 'False' } : c)),
    };
    this.store.save(POD, pod);
    this.reconcile();
  }

  private ruleFor(pod: Obj): FailureRule | undefined {
    for (const rule of this.rules.values()) {
      const m = rule.match;
      if (m.namespace && pod.metadata.namespace !== m.namespace) continue;
      if (m.component && pod.metadata.labels?.['recc.io/component'] !== m.component) continue;
      if (m.labels && !Object.entries(m.labels).every(([k, v]) => pod.metadata.labels?.[k] === v)) continue;
      const image: string = pod.spec?.containers?.[0]?.image ?? '';
      if (m.image !== undefined && (typeof m.image === 'string' ? image !== m.image : !m.image.test(image))) continue;
      return rule;
    }
    return undefined;
  }

  /** kube-scheduler's filter and score cycle (plugins and message sources in the class comment). */
  private schedule(): boolean {
    let changed = false;
    const nodes = this.store.list(NODE);
    for (const pod of this.store.list(POD, undefined, (p) => !p.spec?.nodeName && !isTerminal(p) && !p.metadata.deletionTimestamp)) {
      if ((this.due.get(`bind:${pod.metadata.uid}`) ?? 0) > this.now()) continue; // still in the scheduler's backoff queue
      const rule = this.ruleFor(pod);
      if (rule?.failure.kind === 'Unschedulable') {
        changed = this.setUnschedulable(pod, rule.failure.message) || changed;
        continue;
      }
      // VolumeBinding's PreFilter (k8s-volumes.ts): UnschedulableAndUnresolvable on every node, so preemption cannot help.
      const claimProblem = unboundClaimReason(this.store, pod);
      if (claimProblem) {
        const message = `0/${nodes.length} nodes are available: ${claimProblem}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} Preemption is not helpful for scheduling.`;
        changed = this.setUnschedulable(pod, message) || changed;
        continue;
      }
      const req = podRequests(pod);
      const reasons = new Map<string, number>();
      const bump = (r: string) => reasons.set(r, (reasons.get(r) ?? 0) + 1);
      let best: { node: Obj; score: number } | undefined;
      for (const node of nodes) {
        const ready = (node.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
        // Filters run in plugin order and a node counts under the first that rejects it: NodeUnschedulable
        // (pkg/scheduler/framework/plugins/nodeunschedulable/node_unschedulable.go, "node(s) were unschedulable")
        // for a cordoned node, then TaintToleration for a node not Ready yet: the node lifecycle controller
        // taints it node.kubernetes.io/not-ready:NoSchedule (pkg/controller/nodelifecycle/node_lifecycle_controller.go,
        // TaintNodesByCondition), which pods do not tolerate (the default tolerations are NoExecute), and the
        // reason reads "node(s) had untolerated taint {key: value}" (tainttoleration/taint_toleration.go).
        if (node.spec?.unschedulable) {
          bump('node(s) were unschedulable');
          continue;
        }
        if (!ready) {
          bump('node(s) had untolerated taint {node.kubernetes.io/not-ready: }');
          continue;
        }
        const selector: Record<string, string> = pod.spec?.nodeSelector ?? {};
        if (!Object.entries(selector).every(([k, v]) => node.metadata.labels?.[k] === v)) {
          bump("node(s) didn't match Pod's node affinity/selector");
          continue;
        }
        const tolerations: any[] = pod.spec?.tolerations ?? [];
        const untolerated = (node.spec?.taints ?? []).find(
          (t: any) =>
            (t.effect === 'NoSchedule' || t.effect === 'NoExecute') &&
            !tolerations.some((tol) => tol.key === t.key && (tol.operator === 'Exists' || tol.value === t.value) && (!tol.effect || tol.effect === t.effect)),
        );
        if (untolerated) {
          bump(`node(s) had untolerated taint {${untolerated.key}: ${untolerated.value ?? ''}}`);
          continue;
        }
        const onNode = this.store.list(POD, undefined, (p) => p.spec?.nodeName === node.metadata.name && !isTerminal(p));
        const used = onNode.reduce(
          (acc, p) => {
            const r = podRequests(p);
            return { cpu: acc.cpu + r.cpu, memory: acc.memory + r.memory, gpu: acc.gpu + r.gpu };
          },
          { cpu: 0, memory: 0, gpu: 0 },
        );
        const alloc = node.status?.allocatable ?? {};
        const allocCpu = cpuOf(alloc.cpu);
        const allocMem = memOf(alloc.memory);
        let fits = true;
        if (used.cpu + req.cpu > allocCpu + 1e-6) {
          bump('Insufficient cpu');
          fits = false;
        }
        if (used.memory + req.memory > allocMem + 1e-6) {
          bump('Insufficient memory');
          fits = false;
        }
        if (req.gpu > 0 && used.gpu + req.gpu > Number(alloc['nvidia.com/gpu'] ?? 0)) {
          bump('Insufficient nvidia.com/gpu');
          fits = false;
        }
        if (onNode.length + 1 > Number(alloc.pods ?? 110)) {
          bump('Too many pods');
          fits = false;
        }
        if (!fits) continue;
        // LeastAllocated: the node with the most free capacity after placing the pod wins
        // (pkg/scheduler/framework/plugins/noderesources/least_allocated.go, equal cpu and memory weights).
        const score = (allocCpu - used.cpu - req.cpu) / Math.max(allocCpu, 1) + (allocMem - used.memory - req.memory) / Math.max(allocMem, 1);
        if (!best || score > best.score + 1e-9) best = { node, score };
      }
      if (best) {
        pod.spec.nodeName = best.node.metadata.name;
        pod.status = {
          phase: 'Pending',
          conditions: [{ type: 'PodScheduled', status: 'True' }],
        };
        this.store.save(POD, pod);
        changed = true;
      } else {
        if (this.timing.schedulerBackoff) {
          const attempts = (this.due.get(`attempts:${pod.metadata.uid}`) ?? 0) + 1;
          this.due.set(`attempts:${pod.metadata.uid}`, attempts);
          this.due.set(`bind:${pod.metadata.uid}`, this.now() + Math.min(1000 * 2 ** (attempts - 1), 10_000));
        }
        const detail = [...reasons.entries()].map(([r, n]) => `${n} ${r}`).sort().join(', ');
        const message = `0/${nodes.length} nodes are available${detail ? `: ${detail}` : ''}. preemption: 0/${nodes.length} nodes are available: ${nodes.length} Preemption is not helpful for scheduling.`;
        changed = this.setUnschedulable(pod, message) || changed;
      }
    }
    return changed;
  }

  private setUnschedulable(pod: Obj, message: string): boolean {
    const conditions = [{ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message }];
    if (JSON.stringify(pod.status?.conditions) === JSON.stringify(conditions)) return false;
    pod.status = { phase: 'Pending', conditions };
    this.store.save(POD, pod);
    return true;
  }

  /**
   * The kubelet's pod sync: ContainerCreating while the sandbox and image are prepared, then Running with
   * PodScheduled/Initialized/ContainersReady/Ready (pkg/kubelet/status/generate.go, pkg/kubelet/kubelet_pods.go
   * `generateAPIPodStatus`; waiting reason ContainerCreating from pkg/kubelet/kuberuntime/kuberuntime_container.go).
   */
  private startPods(): boolean {
    let changed = false;
    // Bound pods whose container has not started yet (phase Pending: creating, or waiting for its image).
    for (const pod of this.store.list(POD, undefined, (p) => Boolean(p.spec?.nodeName) && p.status?.phase !== 'Running' && !p.metadata.deletionTimestamp && !isTerminal(p))) {
      const startKey = `start:${pod.metadata.uid}`;
      if (!this.due.has(startKey)) this.due.set(startKey, this.now() + (this.timing.podStartMs?.() ?? 0));
      if ((this.due.get(startKey) ?? 0) > this.now()) {
        const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting?.reason;
        if (waiting !== 'ContainerCreating') {
          const c = pod.spec?.containers?.[0] ?? {};
          pod.status = {
            ...(pod.status ?? {}),
            phase: 'Pending',
            containerStatuses: [{ name: c.name ?? 'main', image: c.image, imageID: '', ready: false, started: false, restartCount: 0, state: { waiting: { reason: 'ContainerCreating' } } }],
          };
          this.store.save(POD, pod);
          changed = true;
        }
        continue;
      }
      const rule = this.ruleFor(pod);
      const pull = this.images.ensureImage(pod, rule?.failure.kind === 'ImagePull' ? rule.failure : undefined);
      if (!pull.present) {
        changed = pull.changed || changed;
        continue;
      }
      this.ipSeq += 1;
      const container = pod.spec?.containers?.[0] ?? {};
      const startedAt = new Date(this.now()).toISOString();
      pod.status = {
        phase: 'Running',
        hostIP: '10.0.0.1',
        podIP: `10.1.${Math.floor(this.ipSeq / 250)}.${(this.ipSeq % 250) + 1}`,
        startTime: pod.status?.startTime ?? startedAt,
        conditions: [
          { type: 'PodScheduled', status: 'True' },
          { type: 'Initialized', status: 'True' },
          { type: 'ContainersReady', status: 'True', lastTransitionTime: startedAt },
          { type: 'Ready', status: 'True', lastTransitionTime: startedAt },
        ],
        containerStatuses: [
          { name: container.name ?? 'main', image: container.image, imageID: '', ready: true, started: true, restartCount: 0, state: { running: { startedAt } } },
        ],
      };
      this.logs.set(`${pod.metadata.namespace}/${pod.metadata.name}`, `{"level":"info","message":"${container.name ?? 'container'} started"}\n`);
      this.logTimes.set(`${pod.metadata.namespace}/${pod.metadata.name}`, this.now());
      if (rule?.failure.kind === 'CrashLoopBackOff') this.applyFailure(pod, rule.failure);
      this.store.save(POD, pod);
      changed = true;
    }
    return changed;
  }

  private applyFailure(pod: Obj, failure: PodFailure): void {
    const container = pod.spec?.containers?.[0] ?? {};
    const image = container.image ?? '';
    const notReady = (pod.status?.conditions ?? [])
      .filter((c: any) => c.type !== 'Ready' && c.type !== 'ContainersReady')
      .concat([
        { type: 'ContainersReady', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${container.name}]` },
        { type: 'Ready', status: 'False', reason: 'ContainersNotReady', message: `containers with unready status: [${container.name}]` },
      ]);
    const base = { name: container.name ?? 'main', image, imageID: '', ready: false, started: false };
    if (failure.kind === 'CrashLoopBackOff') {
      const reason = failure.oomKilled ? 'OOMKilled' : 'Error';
      pod.status = {
        ...pod.status,
        phase: 'Running',
        conditions: notReady,
        containerStatuses: [
          {
            ...base,
            restartCount: 3,
            state: { waiting: { reason: 'CrashLoopBackOff', message: `back-off 40s restarting failed container=${base.name} pod=${pod.metadata.name}` } },
            lastState: { terminated: { exitCode: failure.exitCode ?? (failure.oomKilled ? 137 : 1), reason } },
          },
        ],
      };
      this.logs.set(`${pod.metadata.namespace}/${pod.metadata.name}`, failure.log);
    }
  }

  /** ClusterIP allocation on create (pkg/registry/core/service/ipallocator/bitmap.go), the load balancer status later (class comment). */
  private reconcileService(s: Obj): boolean {
    let changed = false;
    if (!s.spec?.clusterIP) {
      this.ipSeq += 1;
      s.spec = { ...(s.spec ?? {}), clusterIP: `172.20.${Math.floor(this.ipSeq / 250)}.${(this.ipSeq % 250) + 1}` };
      s.spec.clusterIPs = [s.spec.clusterIP];
      changed = true;
    }
    const lbKey = `lb:${s.metadata.uid}`;
    if (s.spec?.type === 'LoadBalancer' && !s.status?.loadBalancer?.ingress?.length && !this.due.has(lbKey)) {
      this.due.set(lbKey, this.now() + (this.timing.loadBalancerMs?.() ?? 0));
    }
    if (s.spec?.type === 'LoadBalancer' && !s.status?.loadBalancer?.ingress?.length && (this.due.get(lbKey) ?? 0) <= this.now()) {
      this.lbSeq += 1;
      const id = createHash('sha256').update(`${s.metadata.namespace}/${s.metadata.name}/${this.lbSeq}`).digest('hex').slice(0, 16);
      const hostname = `k8s-${(s.metadata.namespace ?? '').slice(0, 8)}-${s.metadata.name.slice(0, 8)}-${id}.elb.us-east-1.amazonaws.com`;
      s.status = { loadBalancer: { ingress: [{ hostname }] } };
      changed = true;
    }
    if (changed) this.store.save(SERVICE, s);
    return changed;
  }

  /** Deployment status from its pods (pkg/controller/deployment/sync.go `calculateStatus`). */
  private updateDeploymentStatus(d: Obj): boolean {
    const pods = this.podsOf(d);
    const ready = pods.filter((p) => (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True')).length;
    const next = {
      ...(d.status ?? {}),
      observedGeneration: d.metadata.generation ?? 1,
      replicas: pods.length,
      updatedReplicas: pods.length,
      readyReplicas: ready,
      availableReplicas: ready,
      unavailableReplicas: Math.max(0, Number(d.spec?.replicas ?? 1) - ready),
    };
    if (JSON.stringify(next) === JSON.stringify(d.status ?? {})) return false;
    d.status = next;
    this.store.save(DEPLOYMENT, d);
    return true;
  }

  /** The owner went with the Orphan policy: its pods lose the ownerReference and live on (pkg/controller/garbagecollector/garbagecollector.go `orphanDependents`). */
  orphanDependents(owner: Obj): void {
    for (const p of this.store.list(POD, owner.metadata.namespace, (x) => (x.metadata.ownerReferences ?? []).some((o) => o.uid === owner.metadata.uid))) {
      p.metadata.ownerReferences = (p.metadata.ownerReferences ?? []).filter((o) => o.uid !== owner.metadata.uid);
      this.store.save(POD, p);
    }
  }

  /** Pods removed when their deployment is deleted (background garbage collection of dependents, pkg/controller/garbagecollector/). */
  deleteDependents(owner: Obj): void {
    for (const p of this.store.list(POD, owner.metadata.namespace, (x) => (x.metadata.ownerReferences ?? []).some((o) => o.uid === owner.metadata.uid))) {
      this.deletePod(p);
    }
  }
}

/** `controller.kubernetes.io/pod-deletion-cost` (an int32; absent or invalid counts as 0). */
function deletionCost(p: Obj): number {
  const raw = p.metadata.annotations?.['controller.kubernetes.io/pod-deletion-cost'];
  const v = typeof raw === 'string' && /^-?\d+$/.test(raw) ? Number(raw) : 0;
  return v >= -2147483648 && v <= 2147483647 ? v : 0;
}

function rank(p: Obj): number {
  if (!p.spec?.nodeName) return 0;
  const ready = (p.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
  return ready ? 2 : 1;
}

export { matchesLabels };
