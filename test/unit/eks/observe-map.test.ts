import { describe, expect, it } from 'vitest';
import { activityFailures, deploymentFailures, podFailures, type CapacityView, type PodView } from '../../../adapters/eks/observe-map.ts';

const pod = (over: Partial<PodView>): PodView => ({ name: 'p', component: 'worker', phase: 'Running', ready: true, image: 'recc:1', restartCount: 0, ...over });
const capacity = (over: Partial<CapacityView> = {}): CapacityView => ({
  groupName: 'arathe-c5-xlarge-nodegroup',
  instanceType: 'c5.xlarge',
  desired: 2,
  readyNodes: 0,
  maxSize: 20,
  needed: 2,
  ...over,
});

describe('Function: podFailures', () => {
  it('groups pods with the same problem into one failure that counts them', () => {
    // Act
    const failures = podFailures(
      [
        pod({ name: 'w1', ready: false, waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image "recc:1"' }),
        pod({ name: 'w2', ready: false, waitingReason: 'ErrImagePull', waitingMessage: 'not found' }),
        pod({ name: 'w3', ready: false, waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image "recc:1"' }),
        pod({ name: 'ok' }),
      ],
      { capacitySettled: true },
    );

    // Assess
    expect(failures.map((f) => [f.component, f.reason, f.permanent])).toEqual([
      ['worker', 'ImagePullBackOff', true],
      ['worker', 'ErrImagePull', true],
    ]);
    expect(failures[0]?.message).toContain('2 worker pods');
  });

  it('reports CrashLoopBackOff with the exit code and OOMKilled with the limit', () => {
    // Act
    const failures = podFailures(
      [
        pod({ component: 'scheduler', ready: false, waitingReason: 'CrashLoopBackOff', lastTerminatedReason: 'Error', lastExitCode: 3, restartCount: 4 }),
        pod({ ready: false, waitingReason: 'CrashLoopBackOff', lastTerminatedReason: 'OOMKilled', lastExitCode: 137, memoryLimit: '1536Mi', restartCount: 2 }),
      ],
      { capacitySettled: true },
    );

    // Assess
    expect(failures[0]).toMatchObject({ component: 'scheduler', reason: 'CrashLoopBackOff', permanent: true });
    expect(failures[0]?.message).toContain('exit code 3');
    expect(failures[1]).toMatchObject({ component: 'worker', reason: 'OOMKilled', permanent: true });
    expect(failures[1]?.message).toContain('1536Mi');
  });

  it('treats Unschedulable as waiting while nodes are coming, and permanent once the group has them all', () => {
    // Prepare
    const pods = [pod({ ready: false, phase: 'Pending', unschedulableMessage: '0/3 nodes are available: 3 Insufficient cpu.' })];

    // Act
    const waiting = podFailures(pods, { capacitySettled: false });
    const stuck = podFailures(pods, { capacitySettled: true });

    // Assess
    expect(waiting).toEqual([expect.objectContaining({ reason: 'Unschedulable', permanent: false })]);
    expect(stuck).toEqual([expect.objectContaining({ reason: 'Unschedulable', permanent: true })]);
    expect(stuck[0]?.message).toContain('3 Insufficient cpu');
  });

  it('reports nothing for pods that are starting normally', () => {
    expect(podFailures([pod({ ready: false, phase: 'Pending', waitingReason: 'ContainerCreating' })], { capacitySettled: true })).toEqual([]);
  });
});

describe('Function: deploymentFailures', () => {
  it('turns a ReplicaFailure (exceeded quota) into a permanent failure', () => {
    expect(deploymentFailures([{ component: 'worker', replicaFailure: 'exceeded quota: recc-quota' }, { component: 'scheduler' }])).toEqual([
      expect.objectContaining({ component: 'worker', reason: 'FailedCreate', permanent: true }),
    ]);
  });
});

describe('Function: deploymentFailures (quota during a rollout, issue 22 #2)', () => {
  const quota = 'pods "recc-worker-x" is forbidden: exceeded quota: recc-quota, requested: pods=1, used: pods=3, limited: pods=3';
  const now = Date.UTC(2026, 11, 4, 12);

  it('is transient while pods are terminating, however old the condition', () => {
    const out = deploymentFailures([{ component: 'worker', replicaFailure: quota, replicaFailureSince: new Date(now - 600_000).toISOString() }], {
      terminatingPods: 2,
      now,
      settleMs: 90_000,
    });
    expect(out).toEqual([expect.objectContaining({ reason: 'FailedCreate', permanent: false })]);
    expect(out[0]?.message).toContain('2 terminating pods');
  });

  it('is transient for the settle window after the last pod left, then permanent', () => {
    const view = (ageMs: number) => [{ component: 'worker' as const, replicaFailure: quota, replicaFailureSince: new Date(now - ageMs).toISOString() }];
    expect(deploymentFailures(view(10_000), { terminatingPods: 0, now, settleMs: 90_000 })[0]?.permanent).toBe(false);
    expect(deploymentFailures(view(90_000), { terminatingPods: 0, now, settleMs: 90_000 })[0]?.permanent).toBe(true);
  });

  it('keeps any other refusal permanent at once', () => {
    const out = deploymentFailures([{ component: 'worker', replicaFailure: 'pods "x" is forbidden: error looking up service account ns/recc-cluster' }], {
      terminatingPods: 3,
      now,
      settleMs: 90_000,
    });
    expect(out[0]?.permanent).toBe(true);
  });
});

describe('Function: activityFailures', () => {
  const failed = (at: string, message: string) => ({ statusCode: 'Failed', statusMessage: message, startTime: at });

  it('maps the newest failed launch since the cluster was applied to an actionable reason', () => {
    // Act
    const ice = activityFailures([failed('2026-11-27T06:01:00Z', 'Could not launch On-Demand Instances. InsufficientInstanceCapacity - no c5.xlarge')], '2026-11-27T06:00:00Z', capacity());
    const vcpu = activityFailures([failed('2026-11-27T06:01:00Z', 'VcpuLimitExceeded - You have requested more vCPU capacity than your current vCPU limit of 32')], '2026-11-27T06:00:00Z', capacity());
    const other = activityFailures([failed('2026-11-27T06:01:00Z', 'Something transient')], '2026-11-27T06:00:00Z', capacity());

    // Assess
    expect(ice).toEqual([expect.objectContaining({ component: 'nodes', reason: 'InsufficientInstanceCapacity', permanent: true })]);
    expect(vcpu).toEqual([expect.objectContaining({ reason: 'VcpuLimitExceeded', permanent: true })]);
    expect(other).toEqual([expect.objectContaining({ reason: 'NodeLaunchFailed', permanent: false })]);
  });

  it('ignores failures older than the cluster, failures followed by a success, and failures once capacity is there', () => {
    // Act / Assess
    expect(activityFailures([failed('2026-11-27T05:59:00Z', 'InsufficientInstanceCapacity')], '2026-11-27T06:00:00Z', capacity())).toEqual([]);
    expect(
      activityFailures(
        [failed('2026-11-27T06:01:00Z', 'InsufficientInstanceCapacity'), { statusCode: 'Successful', startTime: '2026-11-27T06:02:00Z' }],
        '2026-11-27T06:00:00Z',
        capacity(),
      ),
    ).toEqual([]);
    expect(activityFailures([failed('2026-11-27T06:01:00Z', 'InsufficientInstanceCapacity')], '2026-11-27T06:00:00Z', capacity({ readyNodes: 2 }))).toEqual([]);
  });

  it('reports a group quota too small for the live clusters as permanent', () => {
    expect(activityFailures([], undefined, capacity({ needed: 25, maxSize: 20 }))).toEqual([
      expect.objectContaining({ reason: 'NodeGroupQuotaExceeded', permanent: true }),
    ]);
  });
});
