import { describe, expect, it } from 'vitest';
import {
  activityFailures,
  deploymentFailures,
  isMissingImageError,
  podFailures,
  pullHistories,
  podView,
  startTimesOf,
  unschedulableReasons,
  waitsOnlyForNodes,
  type CapacityView,
  type PodView,
} from '../../../adapters/eks/observe-map.ts';

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
    // Prepare
    const missing = { failed: 3, notFound: 3, lastError: 'rpc error: code = NotFound desc = failed to resolve reference "docker.io/library/recc:1": not found' };

    // Act
    const failures = podFailures(
      [
        pod({ name: 'w1', ready: false, waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image "recc:1"', pulls: missing }),
        pod({ name: 'w2', ready: false, waitingReason: 'InvalidImageName', waitingMessage: 'couldn\'t parse image name "Recc:1": invalid reference format' }),
        pod({ name: 'w3', ready: false, waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image "recc:1"', pulls: missing }),
        pod({ name: 'ok' }),
      ],
      { capacitySettled: true },
    );

    // Assess
    expect(failures.map((f) => [f.component, f.reason, f.permanent])).toEqual([
      ['worker', 'ImagePullBackOff', true],
      ['worker', 'InvalidImageName', true],
    ]);
    expect(failures[0]?.message).toContain('2 worker pods');
  });

  it('tells an unbound or missing source claim from missing capacity: never "ask for smaller workers"', () => {
    // Prepare
    const unbound = '0/2 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.';
    const missing = '0/2 nodes are available: persistentvolumeclaim "recc-source" not found. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.';
    const view = (message: string) => pod({ ready: false, phase: 'Pending', unschedulableMessage: message });

    // Act
    const binding = podFailures([view(unbound), view(unbound)], { capacitySettled: false });
    const stuck = podFailures([view(missing)], { capacitySettled: true });

    // Assess
    expect(binding).toEqual([expect.objectContaining({ reason: 'Unschedulable', permanent: false })]);
    expect(binding[0]?.message).toBe(`2 worker pods waiting for the git source volume to bind: ${unbound}`);
    expect(stuck).toEqual([expect.objectContaining({ reason: 'Unschedulable', permanent: true })]);
    expect(stuck[0]?.message).toContain('git source volume of sourceGitBranch');
    expect(stuck[0]?.message).not.toContain('smaller workers');
  });

  it('calls an image missing only after three "not found" pulls with "not found" the newest error (issue 22 #4)', () => {
    // Prepare
    const notFound = 'rpc error: code = NotFound desc = failed to pull and unpack image "docker.io/library/recc:1": failed to resolve reference "docker.io/library/recc:1": docker.io/library/recc:1: not found';
    const tooMany = 'rpc error: code = Unknown desc = failed to copy: httpReadSeeker: failed open: unexpected status code https://registry-1.docker.io/v2/library/recc/manifests/sha256:00: 429 Too Many Requests';
    const waiting = (pulls: { failed: number; notFound: number; lastError: string }) =>
      podFailures([pod({ ready: false, phase: 'Pending', waitingReason: 'ImagePullBackOff', waitingMessage: 'Back-off pulling image "recc:1"', pulls })], { capacitySettled: true });

    // Act
    const twice = waiting({ failed: 2, notFound: 2, lastError: notFound });
    const thrice = waiting({ failed: 3, notFound: 3, lastError: notFound });
    const thenLimited = waiting({ failed: 4, notFound: 3, lastError: tooMany });
    const noEvents = podFailures([pod({ ready: false, phase: 'Pending', waitingReason: 'ErrImagePull', waitingMessage: notFound })], { capacitySettled: true });

    // Assess
    expect(twice).toEqual([expect.objectContaining({ reason: 'ImagePullBackOff', permanent: false })]);
    expect(twice[0]?.message).toContain('not found 2 of the 3 times');
    expect(thrice).toEqual([expect.objectContaining({ reason: 'ImagePullBackOff', permanent: true })]);
    expect(thrice[0]?.message).toContain('does not exist');
    expect(thenLimited).toEqual([expect.objectContaining({ permanent: false })]);
    expect(thenLimited[0]?.message).toContain('429 Too Many Requests');
    expect(noEvents).toEqual([expect.objectContaining({ reason: 'ErrImagePull', permanent: false })]);
  });

  it('reads pull histories from the kubelet\'s aggregated Failed events', () => {
    // Act
    const histories = pullHistories([
      { podName: 'w1', reason: 'Failed', message: 'Failed to pull image "recc:1": rpc error: code = NotFound desc = recc:1: not found', count: 3, lastTimestamp: '2026-12-05T12:00:30Z' },
      { podName: 'w1', reason: 'Failed', message: 'Failed to pull image "recc:1": dial tcp 52.94.0.10:443: i/o timeout', count: 1, lastTimestamp: '2026-12-05T12:00:00Z' },
      { podName: 'w1', reason: 'Failed', message: 'Error: ErrImagePull', count: 4 },
      { podName: 'w2', reason: 'BackOff', message: 'Back-off pulling image "recc:1"', count: 9 },
      { podName: 'w3', reason: 'Failed', message: '(combined from similar events): Failed to pull image "x": 401 Unauthorized', count: 12 },
    ]);

    // Assess
    expect(histories.get('w1')).toEqual({ failed: 4, notFound: 3, lastError: 'rpc error: code = NotFound desc = recc:1: not found' });
    expect(histories.has('w2')).toBe(false);
    expect(histories.get('w3')).toEqual({ failed: 12, notFound: 0, lastError: '401 Unauthorized' });
    expect(isMissingImageError('pull access denied, repository does not exist or may require authorization')).toBe(true);
    expect(isMissingImageError('unexpected status from HEAD request: 403 Forbidden')).toBe(false);
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

describe('Function: startTimesOf (issue 19 #5)', () => {
  const pod = (component: string, created: string, running?: string, ready?: string) =>
    podView({
      metadata: { name: `${component}-${created}`, creationTimestamp: new Date(created), labels: { 'recc.io/component': component } },
      spec: { containers: [{ image: 'x' }] },
      status: {
        phase: running ? 'Running' : 'Pending',
        conditions: ready ? [{ type: 'Ready', status: 'True', lastTransitionTime: new Date(ready) }] : [{ type: 'Ready', status: 'False' }],
        containerStatuses: [running ? { state: { running: { startedAt: new Date(running) } }, restartCount: 0 } : { state: { waiting: { reason: 'ContainerCreating' } }, restartCount: 0 }],
      },
    })!;

  it('reads pod creation, the scheduler container start and Ready, and the time the desired-th worker became Ready', () => {
    const views = [
      pod('scheduler', '2026-12-06T10:00:01Z', '2026-12-06T10:01:20Z', '2026-12-06T10:01:22Z'),
      pod('worker', '2026-12-06T10:00:02Z', '2026-12-06T10:01:21Z', '2026-12-06T10:01:30Z'),
      pod('worker', '2026-12-06T10:00:00Z', '2026-12-06T10:01:21Z', '2026-12-06T10:01:25Z'),
    ];
    expect(startTimesOf(views, 2)).toEqual({
      podsCreatedAt: '2026-12-06T10:00:00.000Z',
      containersStartedAt: '2026-12-06T10:01:20.000Z',
      schedulerReadyAt: '2026-12-06T10:01:22.000Z',
      workersRegisteredAt: '2026-12-06T10:01:30.000Z',
    });
    // One worker wanted: the first to be Ready is enough.
    expect(startTimesOf(views, 1).workersRegisteredAt).toBe('2026-12-06T10:01:25.000Z');
  });

  it('leaves out what is not known yet: no registration time while fewer workers than desired are Ready', () => {
    const views = [pod('scheduler', '2026-12-06T10:00:01Z', '2026-12-06T10:01:20Z', '2026-12-06T10:01:22Z'), pod('worker', '2026-12-06T10:00:02Z')];
    expect(startTimesOf(views, 1)).toEqual({ podsCreatedAt: '2026-12-06T10:00:01.000Z', containersStartedAt: '2026-12-06T10:01:20.000Z', schedulerReadyAt: '2026-12-06T10:01:22.000Z' });
  });
});

describe('Function: waitsOnlyForNodes (issue 22 chaos run)', () => {
  it('reads the per-node reasons of a FitError message', () => {
    expect(unschedulableReasons('0/3 nodes are available: 1 node(s) were unschedulable, 2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.')).toEqual([
      'node(s) were unschedulable',
      'Insufficient cpu',
    ]);
    expect(unschedulableReasons('0/1 nodes are available: 1 Too many pods.')).toEqual(['Too many pods']);
    expect(unschedulableReasons('no nodes available to schedule pods')).toBeUndefined();
  });

  it('is true only when every node was refused for its own state (cordoned, not ready, unreachable)', () => {
    expect(waitsOnlyForNodes('0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.')).toBe(true);
    expect(waitsOnlyForNodes('0/2 nodes are available: 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }, 1 node(s) were unschedulable.')).toBe(true);
    expect(waitsOnlyForNodes('0/2 nodes are available: 1 Insufficient memory, 1 node(s) were unschedulable.')).toBe(false);
    expect(waitsOnlyForNodes('0/1 nodes are available: 1 node(s) had untolerated taint {dedicated: gpu}.')).toBe(false);
    expect(waitsOnlyForNodes('something else')).toBe(false);
  });

  it('keeps a pod refused only by cordoned or not-ready nodes waiting, even with the group settled', () => {
    // Prepare: the node was uncordoned after the scheduler's last attempt, which the message still describes.
    const stale = pod({ ready: false, phase: 'Pending', unschedulableMessage: '0/1 nodes are available: 1 node(s) were unschedulable. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.' });

    // Act
    const failures = podFailures([stale], { capacitySettled: true });

    // Assess
    expect(failures).toEqual([expect.objectContaining({ reason: 'Unschedulable', permanent: false })]);
    expect(failures[0]?.message).toContain('waiting for nodes');
  });
});
