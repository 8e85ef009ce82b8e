import {
  CreateAutoScalingGroupCommand,
  CreateOrUpdateTagsCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeScalingActivitiesCommand,
  SetDesiredCapacityCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  UpdateAutoScalingGroupCommand,
  type Activity,
  type AutoScalingClient,
  type AutoScalingGroup,
} from '@aws-sdk/client-auto-scaling';
import { systemClock, type Clock } from '../../shared/core/clock.ts';
import type { Logger } from '../../shared/core/logger.ts';
import { retry, type BackoffPolicy } from '../../shared/core/retry.ts';
import { EksAwsError } from './errors.ts';
import { apiStatus, wrapApiError, type KubeClients } from './kube.ts';
import { KeyedMutex, listClusterNamespaces, liveSignature, type LiveCluster } from './live.ts';
import { EKS_ANNOTATIONS, EKS_LABELS, MANAGED_BY, nodeGroupName } from './manifests/naming.ts';

/**
 * Node capacity: one Auto Scaling group per (user, instance type), e.g.
 * `arathe-c5-xlarge-nodegroup`, min 0, max = the per-group quota.
 *
 * Desired capacity is never incremented or decremented: every reconcile
 * RECOMPUTES it as the sum of the nodes the user's live clusters of that type
 * need (read from the cluster namespaces), so concurrent creates and deletes
 * converge. Reconciles of one group are serialised in this process, and each
 * one re-reads the live set after acting and repeats if it changed, so the
 * last writer is always right even across processes.
 *
 * Scale-in never relies on the group's own choice: new instances are
 * protected from scale-in, so lowering desired capacity terminates nothing by
 * itself. We then terminate only instances whose node hosts no pod of a live
 * cluster, after cordoning the node and checking again (as the cluster
 * autoscaler does), with ShouldDecrementDesiredCapacity=false: desired
 * capacity was already set to the recomputed value, and if two reconciles
 * remove a node each the group replaces the extra one instead of drifting
 * below the sum.
 */
export interface NodeGroupConfig {
  /** Launch template with the EKS bootstrap user data (reads the `recc.io/nodegroup` tag into a node label and taint). */
  launchTemplateName: string;
  /** @default '$Latest' */
  launchTemplateVersion?: string;
  subnetIds: string[];
  /** EKS cluster name, for the `kubernetes.io/cluster/<name>` ownership tag. */
  clusterName: string;
  /** Max nodes per group (the quota). */
  maxNodesPerGroup: number;
  /** Per instance type overrides of the quota. */
  maxNodesByInstanceType?: Record<string, number>;
  /** Prefix for group names. @default '' */
  prefix?: string;
  /**
   * Warm nodes per group (issue 19 #5, templates' `warm.nodes`,
   * shared/spec/warm.ts): the group's MinSize, and the floor of its desired
   * capacity, so those nodes stay up (and are never scaled in) when no
   * cluster uses them. @default none
   */
  warmNodes?: (owner: string, instanceType: string) => number;
}

export interface GroupState {
  groupName: string;
  instanceType: string;
  owner: string;
  needed: number;
  desired: number;
  maxSize: number;
  readyNodes: number;
  /** Nodes of the group cordoned (a scale-in checking them, or an operator): capacity is in flux while any is. */
  cordonedNodes: number;
  /** When the most recently Ready node became Ready (ms), 0 when none or unknown. */
  lastNodeReadyAt: number;
  /** Instances of the group not terminating (more than `desired` means idle nodes still to remove). */
  liveInstances: number;
  exists: boolean;
  activities: Activity[];
}

const GONE = new Set(['Terminating', 'Terminating:Wait', 'Terminating:Proceed', 'Terminated', 'Detaching', 'Detached']);
const TAG_VALUE_MAX = 256;

function listTag(values: string[]): string {
  const sorted = [...new Set(values)].sort();
  let out = '';
  for (const [i, v] of sorted.entries()) {
    const next = out ? `${out} ${v}` : v;
    const more = ` +${sorted.length - i} more`;
    if (next.length > TAG_VALUE_MAX - more.length && i < sorted.length - 1) return `${out}${more}`;
    out = next;
  }
  return out.slice(0, TAG_VALUE_MAX);
}

/**
 * Auto Scaling errors that clear by themselves: account-wide request
 * throttling, and the documented faults of the mutating calls
 * (ScalingActivityInProgressFault, ResourceContentionFault). Retried with
 * backoff (the SDK's own 3 attempts are not enough under contention).
 */
const RETRYABLE = new Set(['Throttling', 'ThrottlingException', 'RequestLimitExceeded', 'ScalingActivityInProgressFault', 'ResourceContentionFault']);
/** Backoff for Auto Scaling: ~25 s worst case over 10 attempts, full jitter (AWS's advice for contention). */
export const ASG_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 'full' });
const ASG_ATTEMPTS = 10;

class NotYetVisibleError extends Error {}

/**
 * A cordon of ours older than this, on a node whose instance is still in
 * service, was left by a scale-in that stopped half-way (an error between
 * cordon and terminate, a process that died): the next reconcile lifts it.
 * Younger ones may belong to a scale-in of another process still checking
 * the node (one check takes seconds; this leaves ample margin).
 */
export const STALE_CORDON_MS = 120_000;
/** Conflicts a cordon or uncordon re-reads through (other writers: the kubelet's status, the node controllers). */
const CORDON_ATTEMPTS = 10;

function instanceIdOf(providerID: string | undefined): string | undefined {
  // aws:///us-east-1a/i-0123456789abcdef0
  const id = providerID?.split('/').pop();
  return id?.startsWith('i-') ? id : undefined;
}

export class NodeGroups {
  private readonly mutex = new KeyedMutex();

  constructor(
    private readonly asg: AutoScalingClient,
    private readonly kube: KubeClients,
    private readonly config: NodeGroupConfig,
    private readonly logger: Logger,
    private readonly clock: Clock = systemClock,
  ) {}

  groupName(owner: string, instanceType: string): string {
    return nodeGroupName(owner, instanceType, this.config.prefix);
  }

  maxSizeFor(instanceType: string): number {
    return this.config.maxNodesByInstanceType?.[instanceType] ?? this.config.maxNodesPerGroup;
  }

  /** The group's warm nodes, never above its maximum. */
  warmFor(owner: string, instanceType: string): number {
    return Math.min(Math.max(0, Math.floor(this.config.warmNodes?.(owner, instanceType) ?? 0)), this.maxSizeFor(instanceType));
  }

  /** `asg.send` retried through transient faults and throttling (shared/core/retry.ts). */
  private async send<T>(command: { readonly input: unknown }, what: string): Promise<T> {
    return retry(() => this.asg.send(command as never) as Promise<T>, {
      ...ASG_BACKOFF,
      attempts: ASG_ATTEMPTS,
      retryIf: (err) => RETRYABLE.has((err as Error)?.name ?? ''),
      onRetry: (err, attempt, delayMs) => this.logger.debug('auto scaling call retried', { what, attempt, delayMs, error: (err as Error)?.name }),
    });
  }

  async describe(groupName: string): Promise<AutoScalingGroup | undefined> {
    try {
      const out = await this.send<{ AutoScalingGroups?: AutoScalingGroup[] }>(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [groupName] }), 'describe');
      return out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === groupName);
    } catch (err) {
      throw new EksAwsError(`describing node group ${groupName} failed`, { cause: err });
    }
  }

  /** A group just created (or found to exist) may take a moment to appear in Describe (eventual consistency). */
  private async describeCreated(groupName: string): Promise<AutoScalingGroup> {
    try {
      return await retry(
        async () => {
          const g = await this.describe(groupName);
          if (!g) throw new NotYetVisibleError(groupName);
          return g;
        },
        { ...ASG_BACKOFF, attempts: ASG_ATTEMPTS, retryIf: (err) => err instanceof NotYetVisibleError },
      );
    } catch (err) {
      if (err instanceof NotYetVisibleError) throw new EksAwsError(`node group ${groupName} was created but cannot be described`);
      throw err;
    }
  }

  /** Bring the group to the sum of its live clusters' nodes; repeats until the live set is stable. */
  async reconcile(owner: string, instanceType: string): Promise<void> {
    const groupName = this.groupName(owner, instanceType);
    await this.mutex.run(groupName, async () => {
      let signature = '';
      for (let round = 0; round < 10; round += 1) {
        const all = await listClusterNamespaces(this.kube);
        signature = liveSignature(all.filter((c) => c.nodeGroup === groupName));
        await this.reconcileOnce(groupName, owner, instanceType, all);
        const after = await listClusterNamespaces(this.kube);
        if (liveSignature(after.filter((c) => c.nodeGroup === groupName)) === signature) return;
      }
      this.logger.warn('node group kept changing while reconciling; the next reconcile will finish it', { groupName });
    });
  }

  /** Every group this backend made (for orphan reconciliation): reconcile each against the live namespaces. */
  async reconcileAll(): Promise<string[]> {
    // Describe answers in pages (50 by default) with NextToken: read them all before acting.
    const groups: AutoScalingGroup[] = [];
    let nextToken: string | undefined;
    do {
      const out = await this.send<{ AutoScalingGroups?: AutoScalingGroup[]; NextToken?: string }>(
        new DescribeAutoScalingGroupsCommand({
          Filters: [{ Name: 'tag:recc.io/managed-by', Values: [MANAGED_BY] }],
          MaxRecords: 100,
          ...(nextToken ? { NextToken: nextToken } : {}),
        }),
        'describe all',
      );
      groups.push(...(out.AutoScalingGroups ?? []));
      nextToken = out.NextToken;
    } while (nextToken);
    const names: string[] = [];
    for (const g of groups) {
      const tags = Object.fromEntries((g.Tags ?? []).map((t) => [t.Key, t.Value]));
      const owner = tags.user;
      const type = tags['recc.io/instance-type'];
      if (!owner || !type || !g.AutoScalingGroupName) continue;
      await this.reconcile(owner, type);
      names.push(g.AutoScalingGroupName);
    }
    return names;
  }

  private tagsFor(groupName: string, owner: string, instanceType: string, live: LiveCluster[]): Array<{ Key: string; Value: string }> {
    return [
      { Key: 'user', Value: owner },
      { Key: 'namespace', Value: listTag(live.map((c) => c.namespace)) },
      { Key: 'cluster', Value: listTag(live.map((c) => c.clusterId)) },
      { Key: 'job', Value: listTag(live.map((c) => c.job ?? '-')) },
      { Key: 'recc.io/managed-by', Value: MANAGED_BY },
      { Key: 'recc.io/nodegroup', Value: groupName },
      { Key: 'recc.io/instance-type', Value: instanceType },
      { Key: `kubernetes.io/cluster/${this.config.clusterName}`, Value: 'owned' },
      { Key: 'Name', Value: groupName },
    ];
  }

  private async reconcileOnce(groupName: string, owner: string, instanceType: string, all: LiveCluster[]): Promise<void> {
    const live = all.filter((c) => c.live && c.nodeGroup === groupName);
    const needed = live.reduce((n, c) => n + c.nodes, 0);
    const maxSize = this.maxSizeFor(instanceType);
    const warm = this.warmFor(owner, instanceType);
    // Warm nodes are a floor, not headroom: clusters use them first, and the group grows only past them.
    const target = Math.min(Math.max(needed, warm), maxSize);
    const tags = this.tagsFor(groupName, owner, instanceType, live);
    let group = await this.describe(groupName);
    if (!group) {
      if (target === 0) return;
      try {
        await this.send(
          new CreateAutoScalingGroupCommand({
            AutoScalingGroupName: groupName,
            MinSize: warm,
            MaxSize: maxSize,
            DesiredCapacity: warm,
            VPCZoneIdentifier: this.config.subnetIds.join(','),
            NewInstancesProtectedFromScaleIn: true,
            MixedInstancesPolicy: {
              LaunchTemplate: {
                LaunchTemplateSpecification: {
                  LaunchTemplateName: this.config.launchTemplateName,
                  Version: this.config.launchTemplateVersion ?? '$Latest',
                },
                Overrides: [{ InstanceType: instanceType }],
              },
              InstancesDistribution: { OnDemandPercentageAboveBaseCapacity: 100 },
            },
            Tags: tags.map((t) => ({ ...t, PropagateAtLaunch: true, ResourceId: groupName, ResourceType: 'auto-scaling-group' })),
          }),
          'create',
        );
        this.logger.info('node group created', { groupName, maxSize, warmNodes: warm });
      } catch (err) {
        if ((err as Error).name !== 'AlreadyExistsFault') throw new EksAwsError(`creating node group ${groupName} failed`, { cause: err });
      }
      group = await this.describeCreated(groupName);
    } else {
      const current = Object.fromEntries((group.Tags ?? []).map((t) => [t.Key, t.Value]));
      const changed = tags.filter((t) => current[t.Key] !== t.Value);
      if (changed.length > 0) {
        await this.send(
          new CreateOrUpdateTagsCommand({
            Tags: changed.map((t) => ({ ...t, PropagateAtLaunch: true, ResourceId: groupName, ResourceType: 'auto-scaling-group' })),
          }),
          'tag',
        );
      }
      if (group.MaxSize !== maxSize || (group.MinSize ?? 0) !== warm) {
        // Desired capacity is set right after: with the new MinSize it is never below it.
        await this.send(new UpdateAutoScalingGroupCommand({ AutoScalingGroupName: groupName, MaxSize: maxSize, MinSize: warm }), 'update');
        this.logger.info('node group size limits set', { groupName, minSize: warm, maxSize });
      }
    }

    // Desired capacity first: every instance is protected from scale-in, so lowering it terminates nothing by itself.
    if (group.DesiredCapacity !== target) {
      await this.send(new SetDesiredCapacityCommand({ AutoScalingGroupName: groupName, DesiredCapacity: target, HonorCooldown: false }), 'set desired');
      this.logger.info('node group desired capacity set', { groupName, desired: target, needed, warmNodes: warm, clusters: live.length });
    }
    // Then targeted scale-in of idle nodes only, without touching desired capacity again: if concurrent
    // reconciles both remove nodes, the group launches replacements up to the desired capacity.
    const instances = (group.Instances ?? []).filter((i) => !GONE.has(i.LifecycleState ?? ''));
    await this.liftStaleCordons(groupName, new Set(instances.map((i) => i.InstanceId ?? '')));
    if (instances.length > target) {
      await this.scaleIn(groupName, instances.map((i) => i.InstanceId ?? ''), instances.length - target);
    }
  }

  /** Terminate up to `count` instances whose nodes host no pod of a live cluster. Returns the ids terminated. */
  private async scaleIn(groupName: string, instanceIds: string[], count: number): Promise<string[]> {
    const { core } = await this.kube.apis();
    const nodes = (await core.listNode({ labelSelector: `${EKS_LABELS.nodeGroup}=${groupName}` }).catch((e: unknown) => {
      throw wrapApiError(e, 'list nodes');
    })).items ?? [];
    const nodeByInstance = new Map<string, any>();
    for (const n of nodes) {
      const id = instanceIdOf(n.spec?.providerID);
      if (id) nodeByInstance.set(id, n);
    }
    const busyNodes = await this.busyNodeNames();
    // Not-yet-joined instances first (nothing can run there), then joined idle nodes.
    const candidates = [
      ...instanceIds.filter((id) => !nodeByInstance.has(id)),
      ...instanceIds.filter((id) => nodeByInstance.has(id) && !busyNodes.has(nodeByInstance.get(id).metadata.name)),
    ];
    const terminated: string[] = [];
    for (const id of candidates) {
      if (terminated.length >= count) break;
      const node = nodeByInstance.get(id);
      // Cordon (so nothing lands there while we check), check again, terminate. Whatever stops that short
      // (the node turned busy, the check or the terminate failed) lifts our cordon in `finally`: a cordon left
      // on a node that stays makes every pod that needs it wait forever (issue 22 chaos run). A node someone
      // else had cordoned is left as it was.
      const cordoned = node ? await this.setCordon(node.metadata.name, true) : false;
      let gone = false;
      try {
        if (node && (await this.busyNodeNames()).has(node.metadata.name)) continue;
        try {
          await this.send(new TerminateInstanceInAutoScalingGroupCommand({ InstanceId: id, ShouldDecrementDesiredCapacity: false }), 'terminate');
          gone = true;
          terminated.push(id);
          this.logger.info('idle node terminated', { groupName, instanceId: id, node: node?.metadata?.name });
        } catch (err) {
          this.logger.warn('terminating an idle node failed', { groupName, instanceId: id, error: err });
        }
      } finally {
        if (cordoned && !gone) await this.uncordon(node.metadata.name, groupName);
      }
    }
    return terminated;
  }

  /**
   * Nodes hosting a pod that must stay. The namespaces are read again here
   * (never reused from the start of the reconcile): a cluster created since
   * then is live too. Only pods of namespaces known to be going away are
   * ignored; a pod of any other namespace keeps its node.
   */
  private async busyNodeNames(): Promise<Set<string>> {
    const { core } = await this.kube.apis();
    const goingAway = new Set((await listClusterNamespaces(this.kube)).filter((c) => !c.live).map((c) => c.namespace));
    const pods = await core.listPodForAllNamespaces({ labelSelector: `${EKS_LABELS.managedBy}=${MANAGED_BY}` }).catch((e: unknown) => {
      throw wrapApiError(e, 'list pods');
    });
    const busy = new Set<string>();
    for (const p of pods.items ?? []) {
      // A terminating pod is leaving anyway (it may take its whole grace period), and a Failed
      // (e.g. Evicted) or Succeeded pod stays bound to its node but runs nothing: neither keeps a node.
      const leaving = Boolean(p.metadata?.deletionTimestamp) || p.status?.phase === 'Failed' || p.status?.phase === 'Succeeded';
      if (p.spec?.nodeName && !leaving && !goingAway.has(p.metadata?.namespace ?? '')) busy.add(p.spec.nodeName);
    }
    return busy;
  }

  /**
   * Cordon (`unschedulable: true`, marked with our annotation and the time)
   * or lift our cordon. Returns whether this call changed the node: false
   * when it is gone or already in that state (cordoned by someone else: then
   * it is not ours to lift). Conflicts re-read; running out of attempts is an
   * error, never a silent return (the caller's `finally` and the next
   * reconcile's stale-cordon sweep rely on knowing).
   */
  private async setCordon(nodeName: string, unschedulable: boolean): Promise<boolean> {
    const { core } = await this.kube.apis();
    let lastConflict: unknown;
    for (let attempt = 0; attempt < CORDON_ATTEMPTS; attempt += 1) {
      let node;
      try {
        node = await core.readNode({ name: nodeName });
      } catch (err) {
        if (apiStatus(err) === 404) return false;
        throw wrapApiError(err, `read node ${nodeName}`);
      }
      const ours = node.metadata?.annotations?.[EKS_ANNOTATIONS.scaleInCordonedAt] !== undefined;
      // Already cordoned: ours when it carries our mark (our own earlier write whose answer was lost, then
      // a 409 on the retry), someone else's otherwise. Only our own cordon is ever lifted.
      if (unschedulable && node.spec?.unschedulable) return ours;
      if (!unschedulable && !ours) return false;
      const annotations = { ...(node.metadata?.annotations ?? {}) };
      if (unschedulable) annotations[EKS_ANNOTATIONS.scaleInCordonedAt] = new Date(this.clock.now()).toISOString();
      else delete annotations[EKS_ANNOTATIONS.scaleInCordonedAt];
      node.metadata = { ...(node.metadata ?? {}), annotations };
      node.spec = { ...(node.spec ?? {}), unschedulable };
      try {
        await core.replaceNode({ name: nodeName, body: node });
        return true;
      } catch (err) {
        if (apiStatus(err) === 404) return false;
        if (apiStatus(err) !== 409) throw wrapApiError(err, `${unschedulable ? 'cordon' : 'uncordon'} node ${nodeName}`);
        lastConflict = err;
      }
    }
    throw wrapApiError(lastConflict, `${unschedulable ? 'cordon' : 'uncordon'} node ${nodeName} (it kept changing)`);
  }

  /** Lift our cordon; a failure is logged, and the next reconcile's sweep lifts it (`liftStaleCordons`). */
  private async uncordon(nodeName: string, groupName: string): Promise<void> {
    try {
      await this.setCordon(nodeName, false);
    } catch (err) {
      this.logger.warn('lifting a scale-in cordon failed; the next reconcile retries', { groupName, node: nodeName, error: err });
    }
  }

  /**
   * Lift cordons of ours older than STALE_CORDON_MS on nodes whose instance
   * is still in service: a scale-in stopped between cordon and terminate
   * (the process died, or the uncordon itself failed). Without this nothing
   * would ever lift them once the group no longer has nodes to remove.
   */
  private async liftStaleCordons(groupName: string, liveInstanceIds: Set<string>): Promise<void> {
    const { core } = await this.kube.apis();
    const nodes = (await core.listNode({ labelSelector: `${EKS_LABELS.nodeGroup}=${groupName}` }).catch((e: unknown) => {
      throw wrapApiError(e, 'list nodes');
    })).items ?? [];
    const now = this.clock.now();
    for (const n of nodes) {
      const at = n.metadata?.annotations?.[EKS_ANNOTATIONS.scaleInCordonedAt];
      const id = instanceIdOf(n.spec?.providerID);
      if (!at || !n.spec?.unschedulable || !id || !liveInstanceIds.has(id) || !n.metadata?.name) continue;
      const since = Date.parse(at);
      if (Number.isFinite(since) && now - since < STALE_CORDON_MS) continue;
      this.logger.info('lifting a stale scale-in cordon', { groupName, node: n.metadata.name, cordonedAt: at });
      await this.uncordon(n.metadata.name, groupName);
    }
  }

  /** What observe needs about a cluster's node group. */
  async state(owner: string, instanceType: string, all: LiveCluster[]): Promise<GroupState> {
    const groupName = this.groupName(owner, instanceType);
    const needed = all.filter((c) => c.live && c.nodeGroup === groupName).reduce((n, c) => n + c.nodes, 0);
    const group = await this.describe(groupName);
    const maxSize = group?.MaxSize ?? this.maxSizeFor(instanceType);
    if (!group) return { groupName, instanceType, owner, needed, desired: 0, maxSize, readyNodes: 0, cordonedNodes: 0, lastNodeReadyAt: 0, liveInstances: 0, exists: false, activities: [] };
    const { core } = await this.kube.apis();
    const nodes = (await core.listNode({ labelSelector: `${EKS_LABELS.nodeGroup}=${groupName}` }).catch((e: unknown) => {
      throw wrapApiError(e, 'list nodes');
    })).items ?? [];
    const ready = nodes.filter((n) => !n.spec?.unschedulable && (n.status?.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True'));
    const readyNodes = ready.length;
    const cordonedNodes = nodes.filter((n) => n.spec?.unschedulable).length;
    const lastNodeReadyAt = Math.max(
      0,
      ...ready.map((n) => {
        const at = (n.status?.conditions ?? []).find((c) => c.type === 'Ready')?.lastTransitionTime;
        return at ? new Date(at).getTime() : 0;
      }),
    );
    const liveInstances = (group.Instances ?? []).filter((i) => !GONE.has(i.LifecycleState ?? '')).length;
    let activities: Activity[] = [];
    try {
      const out = await this.send<{ Activities?: Activity[] }>(new DescribeScalingActivitiesCommand({ AutoScalingGroupName: groupName, MaxRecords: 20 }), 'activities');
      activities = out.Activities ?? [];
    } catch (err) {
      this.logger.warn('reading scaling activities failed', { groupName, error: err });
    }
    return { groupName, instanceType, owner, needed, desired: group.DesiredCapacity ?? 0, maxSize, readyNodes, cordonedNodes, lastNodeReadyAt, liveInstances, exists: true, activities };
  }
}
