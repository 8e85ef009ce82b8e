import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { EKSClient } from '@aws-sdk/client-eks';
import { setHeaderOptions } from '@kubernetes/client-node';
import { isoAt, systemClock, type Clock } from '../../shared/core/clock.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { parseSchedulerStatus, type SchedulerStatus } from '../../shared/engine/scheduler-status.ts';
import { toLabelValue } from '../../shared/definition/render.ts';
import { SECRET_FILES, type ClusterDefinition, type ClusterSecrets } from '../../shared/definition/types.ts';
import { planCluster } from '../../shared/plan/planner.ts';
import type { BackendClusterRef, ComponentFailure, ComputeBackend, GrantChange, Observation, ScaleOptions } from '../../shared/ports/compute-backend.ts';
import { BackendUnavailableError, ClusterNotFoundError } from '../../shared/ports/errors.ts';
import type { ClusterSpec, Plan } from '../../shared/spec/types.ts';
import type { EksBackendConfig } from './config.ts';
import { manifestOptions } from './config.ts';
import { grantEditInNamespace } from './edit-access.ts';
import { AccessEntries } from './identity.ts';
import { KubeApplier, apiStatus, wrapApiError, type KubeClients } from './kube.ts';
import { MANAGED_SELECTOR, clusterFromNamespace, listClusterNamespaces, type LiveCluster } from './live.ts';
import { buildClusterManifests, schedulerDashboardHost } from './manifests/build.ts';
import { EKS_LABELS, OBJECT_NAMES, sourceVolumeName } from './manifests/naming.ts';
import type { K8sObject, ManagedKind } from './manifests/types.ts';
import { PREPULL_APP, WARM_NAMESPACE, prePullDaemonSet, warmNamespace } from './manifests/prepull.ts';
import type { WarmTarget } from '../../shared/spec/warm.ts';
import { NodeGroups } from './node-groups.ts';
import { ClusterPodIdentity } from './pod-identity.ts';
import { markRetiredPods } from './retire-pods.ts';
import { activityFailures, deploymentFailures, podFailures, podView, pullHistories, retriesImagePulls, startTimesOf, type PodView } from './observe-map.ts';

/**
 * The EKS `ComputeBackend`. Everything it knows about a cluster lives in the
 * cluster's namespace (labels, annotations, a ConfigMap with the definition),
 * so it is self-contained: any process with the same configuration can
 * observe, scale or tear down any cluster.
 *
 * apply: namespace and its security objects, secret, services and
 *   deployments (create-or-update), then the user's access entry, then the
 *   node group's desired capacity (recomputed).
 * teardown: objects in reverse order, mark the namespace deleting, recompute
 *   the node group (idle nodes terminated), delete the namespace, recompute
 *   the user's access.
 */
export type EksConfigSubset = Pick<
  EksBackendConfig,
  | 'clusterName'
  | 'image'
  | 'region'
  | 'allowedCidrs'
  | 'serviceMode'
  | 'controlPlaneCidrs'
  | 'logGroup'
  | 'egressCidrs'
  | 'ingressDomain'
  | 'ingressClassName'
  | 'ingressSourceCidrs'
  | 'efsFileSystemId'
  | 'efsRootPath'
  | 'nodeGroupPrefix'
  | 'launchTemplateName'
  | 'launchTemplateVersion'
  | 'subnetIds'
  | 'maxNodesPerGroup'
  | 'maxNodesByInstanceType'
  | 'userRoleArnTemplate'
  | 'accessPolicyArn'
  | 'kubernetesGroupPrefix'
>;

export interface EksBackendDeps {
  config: EksConfigSubset;
  kube: KubeClients;
  autoScaling: AutoScalingClient;
  eks: EKSClient;
  clock?: Clock;
  logger?: Logger;
  /** Nodes a cluster needs for `nWorkers` workers. @default the planner (`planCluster`) */
  nodesFor?: (spec: ClusterSpec, plan: Plan, nWorkers: number) => number;
  /** Lines of log attached to a crash failure. @default 50 */
  logTailLines?: number;
  /**
   * How long the node group's nodes must all have been Ready before an
   * Unschedulable pod is a permanent failure: the scheduler retries a pod
   * only after its backoff (up to 10 s), even once a node joined. @default 30_000
   */
  schedulerSettleMs?: number;
  /** How long an exceeded-quota FailedCreate must last with no pod terminating before it is permanent. @default 90_000 */
  quotaSettleMs?: number;
  /**
   * The shared scheduler role (issue 12 #6): each cluster namespace's service
   * account is associated with it through EKS Pod Identity on apply, and the
   * association removed on teardown. Unset: no association.
   */
  schedulerRoleArn?: string;
  /**
   * Warm capacity (issue 19 #5): per (user, instance type), nodes kept up and
   * images pulled on them ahead of time (`warmTargets` of the templates,
   * shared/spec/warm.ts). Kept by `reconcileCapacity`, and honoured by every
   * node-group reconcile. @default none
   */
  warm?: { targets: readonly WarmTarget[]; pauseImage?: string };
}

export function plannedNodes(spec: ClusterSpec, plan: Plan, nWorkers: number): number {
  if (nWorkers === spec.nWorkers) return plan.instances;
  if (nWorkers < 1) return 1; // the scheduler alone still needs a node
  try {
    return planCluster({ ...spec, nWorkers }, { region: plan.region }).instances;
  } catch {
    return Math.max(1, Math.ceil((plan.instances * nWorkers) / Math.max(1, spec.nWorkers)));
  }
}

/** The cost-allocation tags of a cluster (user-given tags may not suit every AWS API). */
function costTags(tags: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const key of ['user', 'namespace', 'cluster', 'job']) if (tags[key] !== undefined) out[key] = tags[key] as string;
  return out;
}

export class EksComputeBackend implements ComputeBackend {
  readonly kind = 'eks';
  /** RECC_EKS_IMAGE (digest-pinned): what a spec without `image` runs. */
  get defaultImage(): string {
    return this.deps.config.image;
  }
  private readonly applier: KubeApplier;
  private readonly nodeGroups: NodeGroups;
  private readonly identity: AccessEntries;
  private readonly podIdentity: ClusterPodIdentity | undefined;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly nodesFor: (spec: ClusterSpec, plan: Plan, nWorkers: number) => number;

  constructor(private readonly deps: EksBackendDeps) {
    this.applier = new KubeApplier(deps.kube);
    this.clock = deps.clock ?? systemClock;
    this.logger = (deps.logger ?? silentLogger).child({ component: 'eks-backend' });
    this.nodesFor = deps.nodesFor ?? plannedNodes;
    this.nodeGroups = new NodeGroups(
      deps.autoScaling,
      deps.kube,
      {
        launchTemplateName: deps.config.launchTemplateName,
        launchTemplateVersion: deps.config.launchTemplateVersion,
        subnetIds: deps.config.subnetIds,
        clusterName: deps.config.clusterName,
        maxNodesPerGroup: deps.config.maxNodesPerGroup,
        maxNodesByInstanceType: deps.config.maxNodesByInstanceType,
        prefix: deps.config.nodeGroupPrefix,
        warmNodes: (owner, instanceType) => deps.warm?.targets.find((t) => t.owner === owner && t.instanceType === instanceType)?.nodes ?? 0,
      },
      this.logger,
      this.clock,
    );
    this.podIdentity = deps.schedulerRoleArn ? new ClusterPodIdentity(deps.eks, { clusterName: deps.config.clusterName, roleArn: deps.schedulerRoleArn }, this.logger) : undefined;
    this.identity = new AccessEntries(
      deps.eks,
      deps.kube,
      {
        clusterName: deps.config.clusterName,
        userRoleArnTemplate: deps.config.userRoleArnTemplate,
        ...(deps.config.accessPolicyArn ? { accessPolicyArn: deps.config.accessPolicyArn } : {}),
        kubernetesGroupPrefix: deps.config.kubernetesGroupPrefix,
      },
      this.logger,
    );
  }

  /** The Kubernetes objects for a definition (real secret values), as applied. */
  manifests(definition: ClusterDefinition, secrets: ClusterSecrets | undefined, extra: { nodes: number; appliedAt: string }): K8sObject[] {
    return buildClusterManifests(
      definition,
      { ...manifestOptions(this.deps.config), nodes: extra.nodes, appliedAt: extra.appliedAt },
      secrets ? { kind: 'values', secrets } : { kind: 'references' },
    );
  }

  async apply(definition: ClusterDefinition, secrets: ClusterSecrets): Promise<void> {
    const existing = await this.applier.read('Namespace', '', definition.namespace);
    if (existing?.metadata?.deletionTimestamp || existing?.metadata?.labels?.[EKS_LABELS.state] === 'deleting') {
      throw new BackendUnavailableError(`namespace ${definition.namespace} is still being deleted; try again shortly`);
    }
    const appliedAt: string = existing?.metadata?.annotations?.['recc.io/applied-at'] ?? isoAt(this.clock);
    const nodes = this.nodesFor(definition.spec, definition.plan, definition.workers.replicas);
    // The user's access entry first (issue 22 #8): EKS refuses it for a missing IAM role or a CONFIG_MAP
    // cluster, and then nothing of the cluster exists yet. Its scope already names the new namespace.
    await this.identity.reconcile(definition.owner, [definition.namespace]);
    await this.applyObjects(this.manifests(definition, secrets, { nodes, appliedAt }));
    await this.podIdentity?.ensure(definition.namespace, costTags(definition.tags));
    await this.identity.reconcile(definition.owner);
    await this.nodeGroups.reconcile(definition.owner, definition.plan.instanceType);
    this.logger.info('cluster applied', { clusterId: definition.clusterId, namespace: definition.namespace, nodes });
  }

  private async applyObjects(objects: K8sObject[]): Promise<void> {
    for (const obj of objects) await this.applier.apply(obj);
  }

  private async findNamespace(clusterId: string): Promise<{ ns: any; cluster: LiveCluster } | undefined> {
    const { core } = await this.deps.kube.apis();
    let list;
    try {
      list = await core.listNamespace({ labelSelector: `${MANAGED_SELECTOR},${EKS_LABELS.cluster}=${toLabelValue(clusterId)}` });
    } catch (err) {
      throw wrapApiError(err, 'list namespaces');
    }
    for (const ns of list.items ?? []) {
      const cluster = clusterFromNamespace(ns);
      if (cluster?.clusterId === clusterId) return { ns, cluster };
    }
    return undefined;
  }

  private async storedDefinition(namespace: string): Promise<ClusterDefinition | undefined> {
    const cm = await this.applier.read('ConfigMap', namespace, OBJECT_NAMES.definition);
    const text = cm?.data?.['definition.json'];
    return text ? (JSON.parse(text) as ClusterDefinition) : undefined;
  }

  async observe(clusterId: string): Promise<Observation> {
    const empty: Observation = {
      clusterId,
      exists: false,
      schedulerReady: false,
      workersDesired: 0,
      workersRegistered: 0,
      ready: false,
      failures: [],
    };
    const found = await this.findNamespace(clusterId);
    if (!found) return empty;
    const { cluster } = found;
    const namespace = cluster.namespace;
    const { core, apps } = await this.deps.kube.apis();
    if (!cluster.live) return { ...empty, exists: true };

    // The moment the pods and deployments are read: their conditions are judged against it. Reading the
    // node group below can take many seconds (throttled Auto Scaling calls are retried), and a node that
    // turns Ready meanwhile must not make a pod condition read before it look settled (issue 22 chaos run).
    const readAt = this.clock.now();
    const [pods, deployments, service, definition] = await Promise.all([
      core.listNamespacedPod({ namespace }).catch((e: unknown) => {
        throw wrapApiError(e, 'list pods');
      }),
      apps.listNamespacedDeployment({ namespace }).catch((e: unknown) => {
        throw wrapApiError(e, 'list deployments');
      }),
      this.applier.read('Service', namespace, 'recc-scheduler'),
      this.storedDefinition(namespace),
    ]);
    const livePods = (pods.items ?? []).filter((p: any) => !p.metadata?.deletionTimestamp);
    const views = livePods.map(podView).filter((v): v is PodView => v !== undefined);
    const workerDeployment = (deployments.items ?? []).find((d: any) => d.metadata?.name === OBJECT_NAMES.workerDeployment);
    const workersDesired = workerDeployment?.spec?.replicas ?? 0;
    const schedulerReady = views.some((v) => v.component === 'scheduler' && v.ready);
    // Registered workers and activity come from the scheduler itself (its dashboard, through the API
    // server's service proxy, so no network path to the pods is needed); Ready pods are the fallback.
    const status = schedulerReady && definition ? await this.schedulerStatus(namespace, definition) : undefined;
    const workersRegistered = status ? status.workers : views.filter((v) => v.component === 'worker' && v.ready).length;
    // In nlb mode the scheduler is reachable only once the load balancer controller filled in its hostname
    // (minutes after the Service exists); until then the cluster is not ready, and nothing has failed.
    const lbHost = service?.status?.loadBalancer?.ingress?.[0]?.hostname ?? service?.status?.loadBalancer?.ingress?.[0]?.ip;
    const addressKnown = this.deps.config.serviceMode !== 'nlb' || Boolean(lbHost);
    const ready = schedulerReady && workersRegistered >= workersDesired && addressKnown;

    const failures: ComponentFailure[] = [];
    if (!ready) {
      const all = await listClusterNamespaces(this.deps.kube);
      const group = await this.nodeGroups.state(cluster.owner, cluster.instanceType, all);
      // Settled: every node the group needs was Ready (and schedulable) for the scheduler's whole retry
      // window BEFORE the pods were read, so their Unschedulable is the scheduler's answer with all nodes.
      const now = readAt;
      const capacitySettled =
        group.exists &&
        group.desired >= group.needed &&
        group.readyNodes >= group.desired &&
        group.cordonedNodes === 0 &&
        now - group.lastNodeReadyAt >= (this.deps.schedulerSettleMs ?? 30_000);
      if (retriesImagePulls(views)) await this.attachPullHistories(namespace, views);
      failures.push(...podFailures(views, { capacitySettled }));
      const terminatingPods = (pods.items ?? []).filter((p: any) => p.metadata?.deletionTimestamp).length;
      failures.push(
        ...deploymentFailures(
          (deployments.items ?? []).map((d: any) => {
            const failure = (d.status?.conditions ?? []).find((c: any) => c.type === 'ReplicaFailure' && c.status === 'True');
            return {
              component: d.metadata?.name === OBJECT_NAMES.schedulerDeployment ? ('scheduler' as const) : ('worker' as const),
              ...(failure ? { replicaFailure: failure.message ?? 'ReplicaFailure' } : {}),
              ...(failure?.lastTransitionTime ? { replicaFailureSince: new Date(failure.lastTransitionTime).toISOString() } : {}),
            };
          }),
          { terminatingPods, now, settleMs: this.deps.quotaSettleMs ?? 90_000 },
        ),
      );
      if (group.exists && group.liveInstances > group.desired) {
        // Idle nodes left over (their pods were still running when the last reconcile looked): remove them now.
        await this.nodeGroups.reconcile(cluster.owner, cluster.instanceType).catch((err: unknown) => {
          this.logger.warn('reconciling the node group from observe failed', { group: group.groupName, error: err });
        });
      }
      failures.push(
        ...activityFailures(
          group.activities.map((a) => ({
            statusCode: a.StatusCode ?? '',
            ...(a.StatusMessage ? { statusMessage: a.StatusMessage } : {}),
            ...(a.Description ? { description: a.Description } : {}),
            ...(a.StartTime ? { startTime: a.StartTime } : {}),
          })),
          cluster.appliedAt,
          {
            groupName: group.groupName,
            instanceType: cluster.instanceType,
            desired: group.desired,
            readyNodes: group.readyNodes,
            maxSize: group.maxSize,
            needed: group.needed,
          },
        ),
      );
      await this.attachLogTails(namespace, livePods, failures);
    }

    const commPort = definition?.schedulerService.ports.find((p) => p.name === 'comm')?.port ?? 8786;
    const dashboardPort = definition?.schedulerService.ports.find((p) => p.name === 'dashboard')?.port ?? 8787;
    let schedulerAddress: string | undefined;
    let dashboardUrl: string | undefined;
    if (this.deps.config.serviceMode === 'nlb') {
      const ingress = service?.status?.loadBalancer?.ingress?.[0];
      const host = ingress?.hostname ?? ingress?.ip;
      if (host) {
        schedulerAddress = `tls://${host}:${commPort}`;
        dashboardUrl = `http://${host}:${dashboardPort}/`;
      }
    } else if (service) {
      schedulerAddress = `tls://${service.metadata?.name}.${namespace}.svc:${commPort}`;
      const host = definition ? schedulerDashboardHost(definition, manifestOptions(this.deps.config)) : undefined;
      if (host) dashboardUrl = `https://${host}/`;
    }
    return {
      clusterId,
      exists: true,
      schedulerReady,
      workersDesired,
      workersRegistered,
      ready,
      failures,
      ...(schedulerAddress ? { schedulerAddress } : {}),
      ...(dashboardUrl ? { dashboardUrl } : {}),
      ...(status
        ? {
            activity: {
              ...(status.lastActivityAt ? { lastActivityAt: status.lastActivityAt } : {}),
              tasksProcessing: status.tasksProcessing,
              clientsConnected: status.clientsConnected,
            },
          }
        : {}),
      ...(schedulerReady ? { schedulerReachable: status !== undefined } : {}),
      // Kept on the record at RUNNING (issue 19 #5): where the start time went, node boot and image pull included.
      ...(ready ? { startTimes: startTimesOf(views, workersDesired) } : {}),
    };
  }

  /**
   * `GET /api/status` of the scheduler dashboard through the API server's
   * service proxy; undefined when it does not answer. The status API needs
   * the cluster token (issue 17 #9); the API server consumes `Authorization`
   * itself, so the token travels in `x-recc-token`, read from the cluster's
   * Secret.
   */
  private async schedulerStatus(
    namespace: string,
    definition: ClusterDefinition,
  ): Promise<SchedulerStatus | undefined> {
    const { core } = await this.deps.kube.apis();
    try {
      const secret = await this.applier.read('Secret', namespace, OBJECT_NAMES.secret);
      const encoded: string | undefined = secret?.data?.[SECRET_FILES.token];
      if (encoded === undefined) return undefined;
      const token = Buffer.from(encoded, 'base64').toString('utf8');
      const raw: unknown = await core.connectGetNamespacedServiceProxyWithPath(
        { name: `${definition.schedulerService.name}:dashboard`, namespace, path: 'api/status' },
        setHeaderOptions('x-recc-token', token),
      );
      return parseSchedulerStatus(typeof raw === 'string' ? JSON.parse(raw) : raw);
    } catch (err) {
      this.logger.debug('scheduler status not available', { namespace, error: err });
      return undefined;
    }
  }

  /** Each pod's failed pulls from the kubelet's events, so a missing image is told from a registry hiccup (issue 22 #4). */
  private async attachPullHistories(namespace: string, views: PodView[]): Promise<void> {
    const { core } = await this.deps.kube.apis();
    try {
      const events = await core.listNamespacedEvent({ namespace, fieldSelector: 'involvedObject.kind=Pod,reason=Failed' });
      const histories = pullHistories(
        (events.items ?? []).map((e) => ({ podName: e.involvedObject?.name, reason: e.reason, message: e.message, count: e.count, lastTimestamp: e.lastTimestamp ?? e.eventTime })),
      );
      for (const view of views) {
        const history = histories.get(view.name);
        if (history) view.pulls = history;
      }
    } catch (err) {
      // Without events no image is called missing: the kubelet keeps retrying and the provisioning deadline names the error.
      this.logger.warn('reading pod events failed', { namespace, error: err });
    }
  }

  private async attachLogTails(namespace: string, pods: any[], failures: ComponentFailure[]): Promise<void> {
    const { core } = await this.deps.kube.apis();
    for (const failure of failures) {
      if (failure.reason !== 'CrashLoopBackOff' && failure.reason !== 'OOMKilled') continue;
      const pod = pods.find(
        (p) => p.metadata?.labels?.[EKS_LABELS.component] === failure.component && p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CrashLoopBackOff',
      );
      if (!pod) continue;
      const request = { name: pod.metadata.name, namespace, container: failure.component, tailLines: this.deps.logTailLines ?? 50 };
      for (const previous of [true, false]) {
        try {
          const text = await core.readNamespacedPodLog({ ...request, previous });
          if (text) {
            failure.logTail = String(text);
            break;
          }
        } catch (err) {
          if (apiStatus(err) !== 400 && apiStatus(err) !== 404) this.logger.warn('reading a pod log failed', { namespace, pod: pod.metadata.name, error: err });
        }
      }
    }
  }

  /**
   * Follow `nWorkers`. The workers named in `retire` (pod names; the
   * scheduler retired them gracefully, they hold nothing) are the ones the
   * ReplicaSet removes: they are marked with the lowest pod-deletion-cost
   * before the Deployment's replicas drop, and the ReplicaSet controller
   * deletes lower-cost pods first among pods equally ready. Without that it
   * would pick the newest pod, which may hold results.
   */
  async scale(clusterId: string, nWorkers: number, options: ScaleOptions = {}): Promise<void> {
    const found = await this.findNamespace(clusterId);
    if (!found || !found.cluster.live) throw new ClusterNotFoundError(clusterId);
    const definition = await this.storedDefinition(found.cluster.namespace);
    if (!definition) throw new ClusterNotFoundError(clusterId);
    const retired = options.retire && options.retire.length > 0 ? await markRetiredPods(this.deps.kube, found.cluster.namespace, options.retire) : [];
    const next: ClusterDefinition = { ...definition, workers: { ...definition.workers, replicas: nWorkers } };
    const nodes = this.nodesFor(next.spec, next.plan, nWorkers);
    const appliedAt = found.cluster.appliedAt ?? isoAt(this.clock);
    // The Secret is left as it is: scaling never needs (or sees) the secret material.
    await this.applyObjects(this.manifests(next, undefined, { nodes, appliedAt }).filter((o) => o.kind !== 'Secret'));
    await this.nodeGroups.reconcile(found.cluster.owner, found.cluster.instanceType);
    this.logger.info('cluster scaled', { clusterId, workers: nWorkers, nodes, ...(retired.length > 0 ? { retired } : {}) });
  }

  async teardown(clusterId: string): Promise<void> {
    const found = await this.findNamespace(clusterId);
    if (!found) return;
    const { cluster } = found;
    const namespace = cluster.namespace;
    const definition = await this.storedDefinition(namespace);
    // Reverse apply order: ingress, deployments, service, source claim and volume, …; the namespace goes last.
    // The source PersistentVolume is cluster-scoped: the namespace's deletion would not take it, so it is
    // deleted here, before the namespace (a retried teardown without the definition still names it).
    const objects: Array<{ kind: ManagedKind; namespace: string; name: string }> = definition
      ? this.manifests(definition, undefined, { nodes: 0, appliedAt: '' })
          .filter((o) => o.kind !== 'Namespace')
          .map((o) => ({ kind: o.kind as ManagedKind, namespace: o.metadata.namespace ?? '', name: o.metadata.name }))
      : [
          { kind: 'PersistentVolume', namespace: '', name: sourceVolumeName(namespace) },
          { kind: 'Service', namespace, name: 'recc-scheduler' },
          { kind: 'Deployment', namespace, name: OBJECT_NAMES.schedulerDeployment },
          { kind: 'Deployment', namespace, name: OBJECT_NAMES.workerDeployment },
        ];
    objects.reverse();
    for (const o of objects) await this.applier.remove(o.kind, o.namespace, o.name);
    await this.markDeleting(namespace);
    await this.nodeGroups.reconcile(cluster.owner, cluster.instanceType);
    await this.podIdentity?.remove(namespace);
    await this.applier.remove('Namespace', '', namespace);
    await this.identity.reconcile(cluster.owner);
    this.logger.info('cluster torn down', { clusterId, namespace });
  }

  /**
   * Label the namespace `deleting`, so the node-group reconcile that follows no longer counts the cluster.
   * Losing every replace to other writers is an error (the teardown is retried), never a silent return:
   * the reconcile would keep the cluster's nodes, and once the namespace is gone nothing reconciles them
   * (issue 22 chaos run, seed 35).
   */
  private async markDeleting(namespace: string): Promise<void> {
    const { core } = await this.deps.kube.apis();
    let lastConflict: unknown;
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const ns = await this.applier.read('Namespace', '', namespace);
      if (!ns || ns.metadata?.deletionTimestamp || ns.metadata?.labels?.[EKS_LABELS.state] === 'deleting') return;
      ns.metadata.labels = { ...(ns.metadata.labels ?? {}), [EKS_LABELS.state]: 'deleting' };
      try {
        await core.replaceNamespace({ name: namespace, body: ns });
        return;
      } catch (err) {
        if (apiStatus(err) === 404) return;
        if (apiStatus(err) !== 409) throw wrapApiError(err, `mark namespace ${namespace} deleting`);
        lastConflict = err;
      }
    }
    throw wrapApiError(lastConflict, `mark namespace ${namespace} deleting (it kept changing)`);
  }

  /**
   * The secret material in the cluster's Secret (the provisioner reuses it on
   * a re-apply and copies token and CA to the record). The CA private key is
   * never stored in the cluster, so `caKeyPem` is empty here.
   */
  async readSecrets(clusterId: string): Promise<ClusterSecrets | undefined> {
    const found = await this.findNamespace(clusterId);
    if (!found) return undefined;
    const secret = await this.applier.read('Secret', found.cluster.namespace, OBJECT_NAMES.secret);
    const data: Record<string, string> | undefined = secret?.data;
    if (!data) return undefined;
    const file = (name: string): string | undefined => (data[name] === undefined ? undefined : Buffer.from(data[name], 'base64').toString('utf8'));
    const token = file(SECRET_FILES.token);
    const caCertPem = file(SECRET_FILES.caCert);
    const serverCertPem = file(SECRET_FILES.serverCert);
    const serverKeyPem = file(SECRET_FILES.serverKey);
    if (!token || !caCertPem || !serverCertPem || !serverKeyPem) return undefined;
    return { token, caCertPem, caKeyPem: '', serverCertPem, serverKeyPem };
  }

  async list(): Promise<BackendClusterRef[]> {
    const all = await listClusterNamespaces(this.deps.kube);
    return all.map((c) => ({ clusterId: c.clusterId, owner: c.owner, namespace: c.namespace }));
  }

  /**
   * Orphaned grants (issue 21 #3): Pod Identity associations of namespaces
   * that are gone, then every recc access entry recomputed from the live
   * namespaces (deleted when its user has none, rescoped when it names gone
   * ones). The user's RoleBinding lives inside the cluster namespace and goes
   * with it; a namespace without a live record is the harvester's orphan
   * teardown, which recomputes the access itself.
   */
  async sweepGrants(): Promise<GrantChange[]> {
    const changes: GrantChange[] = [];
    if (this.podIdentity) {
      const namespaces = async () => new Set((await listClusterNamespaces(this.deps.kube)).map((c) => c.namespace));
      for (const r of await this.podIdentity.sweep(namespaces)) changes.push({ kind: 'pod-identity', subject: r.namespace, change: 'deleted' });
    }
    for (const c of await this.identity.sweep()) {
      changes.push({ kind: 'access-entry', subject: c.principalArn, owner: c.owner, change: c.change === 'deleted' ? 'deleted' : 'rescoped' });
    }
    return changes;
  }

  /** kubectl `--edit` for the owner in this cluster's namespace only (adapters/eks/edit-access.ts). */
  async grantEdit(clusterId: string): Promise<void> {
    const found = await this.findNamespace(clusterId);
    if (!found?.cluster.live) return;
    const { cluster } = found;
    await grantEditInNamespace(this.deps.kube, this.applier, { clusterId, owner: cluster.owner, namespace: cluster.namespace }, this.deps.config.kubernetesGroupPrefix);
    await this.identity.reconcile(cluster.owner);
    this.logger.info('kubectl edit granted', { clusterId, owner: cluster.owner, namespace: cluster.namespace });
  }

  /** Bring every node group this backend made in line with the live namespaces (orphan clean-up). */
  async reconcileNodeGroups(): Promise<string[]> {
    return this.nodeGroups.reconcileAll();
  }

  /**
   * Warm capacity (issue 19 #5), level-triggered, run by the harvester: every
   * warm group exists with its minimum (created with no cluster in it), every
   * other group this backend made is recomputed (its warm floor dropped when
   * no template asks for it any more), and each warm group with images has
   * its pre-pull DaemonSet; DaemonSets of groups no longer warm are deleted.
   * Returns the warm groups' names.
   */
  async reconcileCapacity(): Promise<string[]> {
    const targets = this.deps.warm?.targets ?? [];
    const warmGroups: string[] = [];
    for (const t of targets) {
      await this.nodeGroups.reconcile(t.owner, t.instanceType);
      warmGroups.push(this.nodeGroups.groupName(t.owner, t.instanceType));
    }
    await this.nodeGroups.reconcileAll();
    const wanted = new Map<string, K8sObject>();
    for (const t of targets) {
      if (t.images.length === 0) continue;
      const ds = prePullDaemonSet(this.nodeGroups.groupName(t.owner, t.instanceType), t.images, this.deps.warm?.pauseImage);
      wanted.set(ds.metadata.name, ds);
    }
    if (wanted.size > 0) await this.applier.apply(warmNamespace());
    for (const ds of wanted.values()) {
      const outcome = await this.applier.apply(ds);
      if (outcome !== 'unchanged') this.logger.info('pre-pull DaemonSet applied', { name: ds.metadata.name, outcome, images: ds.metadata.annotations?.['recc.io/images'] });
    }
    const { apps } = await this.deps.kube.apis();
    let existing: any[] = [];
    try {
      existing = (await apps.listNamespacedDaemonSet({ namespace: WARM_NAMESPACE })).items ?? [];
    } catch (err) {
      if (apiStatus(err) !== 404) throw wrapApiError(err, 'list pre-pull DaemonSets');
    }
    for (const ds of existing) {
      const name: string = ds.metadata?.name ?? '';
      if (!name || wanted.has(name) || ds.metadata?.labels?.['app.kubernetes.io/name'] !== PREPULL_APP) continue;
      await this.applier.remove('DaemonSet', WARM_NAMESPACE, name);
      this.logger.info('pre-pull DaemonSet removed (no template warms its group any more)', { name });
    }
    return warmGroups;
  }
}
