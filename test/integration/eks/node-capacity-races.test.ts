import { afterEach, describe, expect, it } from 'vitest';
import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { newAutoScalingClient, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The two races node capacity must survive, forced in an exact order by
 * holding one backend's Auto Scaling call until another backend finished:
 * a reconcile that read an old live set writes last, and a scale-in that
 * picked an idle node while a new cluster's pods look for a node.
 */
class Hold {
  private release: (() => void) | undefined;
  private reachedResolve: (() => void) | undefined;
  readonly reached = new Promise<void>((r) => (this.reachedResolve = r));
  private used = false;
  constructor(
    private readonly command: string,
    private readonly client: () => AutoScalingClient | undefined,
  ) {}
  gate = async (command: string, _input: unknown, client: unknown): Promise<void> => {
    if (this.used || command !== this.command || client !== this.client()) return;
    this.used = true;
    this.reachedResolve?.();
    await new Promise<void>((r) => (this.release = r));
  };
  open(): void {
    this.release?.();
  }
}

describe('Class: EksComputeBackend (node capacity races)', () => {
  let stack: EksStack | undefined;
  afterEach(async () => {
    await stack?.close();
    stack = undefined;
  });

  it('ends at the sum of both clusters when a reconcile that read the old live set writes last', async () => {
    // Prepare: backend A's SetDesiredCapacity is held after it read a live set without cluster y.
    const clientA = newAutoScalingClient();
    const hold = new Hold('SetDesiredCapacity', () => clientA);
    stack = await startEksStack({ gate: hold.gate });
    const a = stack.makeBackend({}, { autoScaling: clientA });
    const b = stack.makeBackend();
    const x = testDefinition({ clusterId: 'race-x', workers: 4 });
    const y = testDefinition({ clusterId: 'race-y', workers: 6 });
    const group = nodeGroupName('arathe', 'c5.xlarge');

    // Act: A applies x and stops before writing; B applies y completely; then A writes its stale value.
    const applyX = a.apply(x, testSecrets(x.clusterId));
    await hold.reached;
    await b.apply(y, testSecrets(y.clusterId));
    const afterB = stack.asg.group(group)?.desired;
    hold.open();
    await applyX;

    // Assess: the stale write happened, and A's re-check repaired it.
    expect(afterB).toBe(x.plan.instances + y.plan.instances);
    expect(stack.asg.desiredHistory.filter((h) => h.group === group).map((h) => h.desired)).toContain(x.plan.instances);
    expect(stack.asg.group(group)?.desired).toBe(x.plan.instances + y.plan.instances);
    expect((await a.observe(x.clusterId)).ready).toBe(true);
    expect((await a.observe(y.clusterId)).ready).toBe(true);
  });

  it('never terminates a node that a new cluster started using while a scale-in was deciding', async () => {
    // Prepare: cluster x runs; A will tear it down and is held just before terminating its idle nodes.
    const clientA = newAutoScalingClient();
    const hold = new Hold('TerminateInstanceInAutoScalingGroup', () => clientA);
    stack = await startEksStack({ gate: hold.gate });
    const a = stack.makeBackend({}, { autoScaling: clientA });
    const b = stack.makeBackend();
    const x = testDefinition({ clusterId: 'race-old', workers: 5 });
    const y = testDefinition({ clusterId: 'race-new', workers: 5 });
    const group = nodeGroupName('arathe', 'c5.xlarge');
    await b.apply(x, testSecrets(x.clusterId));
    await waitFor(async () => (await b.observe(x.clusterId)).ready, { what: 'x ready' });

    // Act: A's teardown reaches the termination of an idle (cordoned) node; B creates y meanwhile.
    const teardownX = a.teardown(x.clusterId);
    await hold.reached;
    const cordoned = stack.fake.objects('Node').filter((n) => n.spec?.unschedulable);
    await b.apply(y, testSecrets(y.clusterId));
    hold.open();
    await teardownX;

    // Assess: the node being removed was cordoned, y's pods never landed on a node that went away,
    // and the group ends at exactly y's nodes with y ready.
    expect(cordoned.length).toBeGreaterThan(0);
    expect(stack.fake.kubelet.evictions).toEqual([]);
    const yPods = stack.fake.objects('Pod', y.namespace);
    expect(yPods.every((p) => !cordoned.some((n) => n.metadata.name === p.spec?.nodeName))).toBe(true);
    await waitFor(async () => (await b.observe(y.clusterId)).ready, { what: 'y ready' });
    expect(stack.asg.group(group)?.desired).toBe(y.plan.instances);
  });
});
