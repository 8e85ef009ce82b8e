import { describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { MANAGED_BY, nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { startEksStack, useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Auto Scaling as strict as the real API (issue 22 #7): Describe answers in
 * pages of 50 with NextToken, mutating calls can fail with
 * ScalingActivityInProgressFault / ResourceContentionFault and any call with
 * Throttling, a new group shows up in Describe a little later, and a
 * terminated instance stays listed as Terminating for a while.
 */
describe('EKS node groups on the strict Auto Scaling model', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;

  useEksStack((s) => {
    stack = s;
    backend = s.makeBackend();
  });

  it('brings every orphaned group to 0, past the first page of 50', async () => {
    // Prepare: 60 groups this backend made whose clusters are gone.
    for (let i = 0; i < 60; i += 1) {
      const owner = `user${String(i).padStart(2, '0')}`;
      const name = nodeGroupName(owner, 'c5.xlarge');
      stack.asg.createGroup({
        AutoScalingGroupName: name,
        MinSize: 0,
        MaxSize: 4,
        DesiredCapacity: 1,
        VPCZoneIdentifier: 'subnet-aaa',
        MixedInstancesPolicy: { LaunchTemplate: { Overrides: [{ InstanceType: 'c5.xlarge' }] } },
        Tags: [
          { Key: 'user', Value: owner, PropagateAtLaunch: true },
          { Key: 'recc.io/managed-by', Value: MANAGED_BY, PropagateAtLaunch: true },
          { Key: 'recc.io/instance-type', Value: 'c5.xlarge', PropagateAtLaunch: true },
          { Key: 'recc.io/nodegroup', Value: name, PropagateAtLaunch: true },
        ],
      });
    }

    // Act
    const reconciled = await backend.reconcileNodeGroups();

    // Assess
    expect(reconciled).toHaveLength(60);
    const left = stack.asg.groupNames().filter((g) => (stack.asg.group(g)?.desired ?? 0) > 0);
    expect(left).toEqual([]);
  });

  it('retries ScalingActivityInProgressFault, ResourceContentionFault and Throttling instead of failing the apply', async () => {
    // Prepare
    stack.asg.injectFault('DescribeAutoScalingGroups', 'Throttling', 2);
    stack.asg.injectFault('CreateAutoScalingGroup', 'ResourceContentionFault', 1);
    stack.asg.injectFault('SetDesiredCapacity', 'ScalingActivityInProgressFault', 2);
    const def = testDefinition({ clusterId: 'c-faults', workers: 2 });

    // Act
    await backend.apply(def, testSecrets(def.clusterId));

    // Assess
    expect(stack.asg.group(nodeGroupName('arathe', 'c5.xlarge'))?.desired).toBe(def.plan.instances);
    expect(Object.fromEntries(stack.asg.faultCounts)).toEqual({ Throttling: 2, ResourceContentionFault: 1, ScalingActivityInProgressFault: 2 });
  });

  it('waits for a new group to show up in Describe instead of failing the apply', async () => {
    // Prepare
    await stack.close();
    stack = await startEksStack({ asg: { describeLagMs: 300 } });
    backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-lag', workers: 1 });

    // Act
    await backend.apply(def, testSecrets(def.clusterId));

    // Assess
    expect(stack.asg.group(nodeGroupName('arathe', 'c5.xlarge'))?.desired).toBe(1);
  });

  it('does not count Terminating instances and leaves nothing running after teardown', async () => {
    // Prepare
    await stack.close();
    stack = await startEksStack({ asg: { terminatingMs: 60_000 } });
    backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-term', workers: 6 });
    await backend.apply(def, testSecrets(def.clusterId));

    // Act
    await backend.scale(def.clusterId, 1);
    await backend.scale(def.clusterId, 6);
    await backend.teardown(def.clusterId);

    // Assess
    const group = stack.asg.group(nodeGroupName('arathe', 'c5.xlarge'));
    expect(group?.desired).toBe(0);
    expect(group?.instances.filter((i) => i.LifecycleState === 'InService')).toEqual([]);
  });
});
