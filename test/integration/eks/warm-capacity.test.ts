import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { WARM_NAMESPACE, prePullName } from '../../../adapters/eks/manifests/prepull.ts';
import { runHarvester } from '../../../control/harvester.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { warmTargets } from '../../../shared/spec/warm.ts';
import { EKS_LABELS } from '../../../adapters/eks/manifests/naming.ts';
import { waitFor } from '../../support/wait.ts';
import { TEST_EKS_IMAGE, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Warm capacity (issue 19 #5) on the EKS fake: a template's `warm:` block
 * becomes the node group's MinSize and the floor of its desired capacity,
 * kept with no cluster in it; a pre-pull DaemonSet runs one pod on each node
 * of the group (pulling the template's image there); the harvester keeps
 * both and never takes them for orphans; clusters use the warm nodes before
 * the group grows; and scale-in after a delete goes back to the floor, the
 * pre-pull pods never keeping a node busy.
 */
const GROUP = 'arathe-c5-xlarge-nodegroup';
const warm = (nodes: number) =>
  warmTargets([{ name: 'small', description: '', spec: { instanceType: 'c5.xlarge' }, warm: { nodes, users: ['arathe'], prePull: true } }], TEST_EKS_IMAGE);

describe('Feature: warm capacity on EKS', () => {
  let stack: EksStack;

  beforeEach(async () => {
    stack = await startEksStack();
  });

  afterEach(async () => {
    await stack.close();
  });

  const nodesOfGroup = () => stack.fake.objects('Node').filter((n) => n.metadata.labels?.[EKS_LABELS.nodeGroup] === GROUP).map((n) => n.metadata.name).sort();
  const prePullPods = () => stack.fake.objects('Pod', WARM_NAMESPACE).filter((p) => !p.metadata.deletionTimestamp);

  it('keeps the warm nodes with no cluster, pre-pulls the image on each, and the harvester takes neither for orphans', async () => {
    // Prepare
    const backend = stack.makeBackend({}, { warm: { targets: warm(2) } });

    // Act: the harvester's run keeps the capacity (an empty store: no cluster exists).
    const clock = new ManualClock();
    const report = await runHarvester({ store: new InMemoryClusterStore(), backend, clock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });

    // Assess: the group exists with its floor, and its two nodes run a pre-pull pod each.
    expect(report.warmGroups).toEqual([GROUP]);
    expect(report.orphansRemoved).toEqual([]);
    expect(report.capacityError).toBeUndefined();
    expect(stack.asg.group(GROUP)).toMatchObject({ min: 2, desired: 2 });
    expect(stack.asg.group(GROUP)?.instances).toHaveLength(2);
    const ds = stack.fake.object('DaemonSet', WARM_NAMESPACE, prePullName(GROUP))!;
    expect(ds.spec.template.spec.nodeSelector).toEqual({ [EKS_LABELS.nodeGroup]: GROUP });
    expect(ds.spec.template.spec.initContainers.map((c: { image: string }) => c.image)).toEqual([TEST_EKS_IMAGE]);
    expect(prePullPods().map((p) => p.spec.nodeName).sort()).toEqual(nodesOfGroup());
    expect(prePullPods().every((p) => p.metadata.labels?.[EKS_LABELS.managedBy] === undefined)).toBe(true);
    expect(await backend.list()).toEqual([]);

    // A second run changes nothing (level-triggered).
    const instances = stack.asg.group(GROUP)?.instances.map((i) => i.InstanceId);
    await runHarvester({ store: new InMemoryClusterStore(), backend, clock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });
    expect(stack.asg.group(GROUP)?.instances.map((i) => i.InstanceId)).toEqual(instances);
    expect(prePullPods()).toHaveLength(2);
  });

  it('puts a cluster on the warm nodes first, grows past them only when needed, and scales back to the floor after the delete', async () => {
    // Prepare
    const backend = stack.makeBackend({}, { warm: { targets: warm(2) } });
    await backend.reconcileCapacity();
    const warmInstances = stack.asg.group(GROUP)!.instances.map((i) => i.InstanceId).sort();
    const small = testDefinition({ clusterId: 'warm-1', workers: 2 });
    const big = testDefinition({ clusterId: 'warm-2', workers: 12 });
    expect(small.plan.instances).toBeLessThanOrEqual(2);
    expect(small.plan.instances + big.plan.instances).toBeGreaterThan(2);

    // Act 1: a small cluster fits the warm nodes.
    await backend.apply(small, testSecrets(small.clusterId));

    // Assess 1: no instance launched; its pods run on the warm nodes.
    expect(stack.asg.group(GROUP)!.instances.map((i) => i.InstanceId).sort()).toEqual(warmInstances);
    const podNodes = stack.fake.objects('Pod', small.namespace).map((p) => p.spec.nodeName);
    expect(podNodes.length).toBeGreaterThan(0);
    expect(podNodes.every((n) => nodesOfGroup().includes(n))).toBe(true);
    // Ready, it reports its start milestones from the pods (kept on the record at RUNNING).
    const ready = await waitFor(async () => {
      const o = await backend.observe(small.clusterId);
      return o.ready ? o : undefined;
    }, { what: 'small cluster ready', timeoutMs: 20_000 });
    const t = ready.startTimes!;
    expect(Object.keys(t).sort()).toEqual(['containersStartedAt', 'podsCreatedAt', 'schedulerReadyAt', 'workersRegisteredAt']);
    expect(t.podsCreatedAt! <= t.containersStartedAt! && t.containersStartedAt! <= t.schedulerReadyAt!).toBe(true);

    // Act 2: a big one needs more than the floor.
    await backend.apply(big, testSecrets(big.clusterId));
    const grown = stack.asg.group(GROUP)!;

    // Assess 2: desired = what the clusters need; every new node gets its pre-pull pod.
    expect(grown.desired).toBe(small.plan.instances + big.plan.instances);
    expect(prePullPods().map((p) => p.spec.nodeName).sort()).toEqual(nodesOfGroup());

    // Act 3: both go.
    await backend.teardown(small.clusterId);
    await backend.teardown(big.clusterId);
    stack.fake.finalizeNamespace(small.namespace);
    stack.fake.finalizeNamespace(big.namespace);
    await backend.reconcileCapacity();

    // Assess 3: back to the floor, idle nodes removed although a pre-pull pod ran on each.
    expect(stack.asg.group(GROUP)).toMatchObject({ min: 2, desired: 2 });
    expect(stack.asg.group(GROUP)!.instances).toHaveLength(2);
    expect(nodesOfGroup()).toHaveLength(2);
    expect(prePullPods().map((p) => p.spec.nodeName).sort()).toEqual(nodesOfGroup());
  });

  it('drops the floor and the DaemonSet once no template warms the group', async () => {
    // Prepare
    await stack.makeBackend({}, { warm: { targets: warm(1) } }).reconcileCapacity();
    expect(stack.asg.group(GROUP)).toMatchObject({ min: 1, desired: 1 });

    // Act: the templates no longer have a warm block.
    const groups = await stack.makeBackend().reconcileCapacity();

    // Assess
    expect(groups).toEqual([]);
    expect(stack.asg.group(GROUP)).toMatchObject({ min: 0, desired: 0 });
    expect(stack.asg.group(GROUP)!.instances).toEqual([]);
    expect(stack.fake.object('DaemonSet', WARM_NAMESPACE, prePullName(GROUP))).toBeUndefined();
    expect(prePullPods()).toEqual([]);
  });
});
