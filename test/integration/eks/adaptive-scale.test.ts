import { describe, expect, it } from 'vitest';
import { POD_DELETION_COST, RETIRED_POD_DELETION_COST } from '../../../adapters/eks/retire-pods.ts';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { ClusterService, type Caller } from '../../../control/clusters.ts';
import { Provisioner, scaleClusterEnv } from '../../../control/provisioner.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { useEksStack, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Adaptive scaling on the EKS fake, through the control plane as the
 * scheduler calls it (ClusterService.scale with clamp and the retired
 * workers' names), the real provisioner and the EKS backend: the worker
 * Deployment and the node group's desired capacity follow the count, and
 * each scale-down removes exactly the pod the scheduler retired, not the
 * one the ReplicaSet would pick by itself (the newest, which may hold results).
 */
describe('Feature: adaptive scaling on EKS (fake API server, ASG model)', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;
  const owner: Caller = { user: 'arathe', admin: false };

  useEksStack((s) => {
    stack = s;
    backend = s.makeBackend();
  });

  async function workerPods(namespace: string): Promise<Array<{ name: string; created: string; cost: string | undefined }>> {
    const { core } = await stack.kube.apis();
    const pods = (await core.listNamespacedPod({ namespace, labelSelector: 'recc.io/component=worker' })).items ?? [];
    return pods
      .filter((p: any) => !p.metadata?.deletionTimestamp)
      .map((p: any) => ({ name: p.metadata.name as string, created: String(p.metadata.creationTimestamp ?? ''), cost: p.metadata.annotations?.[POD_DELETION_COST] as string | undefined }))
      .sort((a, b) => a.created.localeCompare(b.created) || a.name.localeCompare(b.name));
  }

  it('grows the Deployment and node group for the scheduler, and every scale-down stops the retired pod and shrinks the node group', async () => {
    // Prepare: an adaptive cluster (1 to 6 workers) running on the fake
    const store = new InMemoryClusterStore();
    const service = new ClusterService({ store, queue: new InMemoryWorkQueue(), clock: systemClock, ids: new SequentialIds() });
    // The scheduler's identity for the scale API, as functions/provisioner-deps.ts wires it on AWS (issue 19).
    const provisioner = new Provisioner({ store, queue: new InMemoryWorkQueue(), backend, generateSecrets: async (d) => testSecrets(d.clusterId), clock: systemClock, logger: silentLogger, controlPlaneEnv: (d) => scaleClusterEnv('https://api.recc.example', d) });
    const { cluster } = await service.create(owner, { overrides: { instanceType: 'c5.xlarge', workerCpu: 1, workerMemoryGiB: 2, adaptive: { minimum: 1, maximum: 6 } } });
    let status = (await provisioner.handle({ clusterId: cluster.id, cause: 'created' })).status;
    for (let i = 0; i < 20 && status !== 'RUNNING'; i++) status = (await provisioner.handle({ clusterId: cluster.id, cause: 'requeue' })).status;
    expect(status).toBe('RUNNING');
    // The applied scheduler pod: API URL, SigV4, its own cluster id, and the token file of the Secret it mounts.
    const schedulerPod = stack.fake.object('Deployment', cluster.namespace, 'recc-scheduler')!.spec.template.spec;
    const container = schedulerPod.containers[0];
    const envOf = (name: string) => container.env.find((e: any) => e.name === name)?.value;
    expect([envOf('RECC_API_URL'), envOf('RECC_API_SIGNING'), envOf('RECC_API_CLUSTER'), envOf('RECC_CLUSTER_ID')]).toEqual(['https://api.recc.example', 'sigv4', cluster.id, cluster.id]);
    const tokenFile: string = envOf('RECC_API_CLUSTER_TOKEN_FILE');
    const secretVolume = schedulerPod.volumes.find((v: any) => v.secret)!;
    const mount = container.volumeMounts.find((m: any) => m.name === secretVolume.name)!;
    expect(tokenFile).toBe(`${mount.mountPath.replace(/\/+$/, '')}/token`);
    expect(container.args[container.args.indexOf('--token-file') + 1]).toBe(tokenFile);
    const group = nodeGroupName(owner.user, 'c5.xlarge');
    const desiredAtOne = stack.asg.group(group)!.desired;
    expect(await workerPods(cluster.namespace)).toHaveLength(1);

    // Act 1: the scheduler asks for more than the maximum; the control plane clamps it to 6
    const up = await service.scale(owner, cluster.id, 40, { clamp: true });
    expect(up.desiredWorkers).toBe(6);
    await provisioner.handle({ clusterId: cluster.id, cause: 'scale' });

    // Assess 1: six worker pods, and the node group grew for them
    let pods = await workerPods(cluster.namespace);
    expect(pods).toHaveLength(6);
    const desiredAtSix = stack.asg.group(group)!.desired;
    expect(desiredAtSix).toBeGreaterThan(desiredAtOne);

    // Act 2: the scheduler retires workers one by one, each time the OLDEST pod (the one the
    // ReplicaSet would remove last), naming it, down to the minimum
    const desiredSeen: number[] = [desiredAtSix];
    for (let n = 5; n >= 1; n--) {
      const retired = pods[0]!.name;
      const kept = pods.slice(1).map((p) => p.name);
      const scaled = await service.scale(owner, cluster.id, n, { retire: [retired], clamp: true });
      expect(scaled.desiredWorkers).toBe(n);
      await provisioner.handle({ clusterId: cluster.id, cause: 'scale' });

      // Assess 2: exactly the named pod went; the others are the same pods
      pods = await workerPods(cluster.namespace);
      expect(pods.map((p) => p.name), `scale to ${n} retiring ${retired}`).toEqual(kept);
      desiredSeen.push(stack.asg.group(group)!.desired);
    }

    // Assess 3: the node group followed the count back down, never up on the way
    expect(desiredSeen.at(-1)).toBe(desiredAtOne);
    for (let i = 1; i < desiredSeen.length; i++) expect(desiredSeen[i]!).toBeLessThanOrEqual(desiredSeen[i - 1]!);
    // A later step with the same record (names of pods long gone) marks and removes nothing else.
    await provisioner.handle({ clusterId: cluster.id, cause: 'requeue' });
    expect((await workerPods(cluster.namespace)).map((p) => p.name)).toEqual(pods.map((p) => p.name));
  });

  it('marks only live worker pods of the cluster: the scheduler\'s pod, unknown names and other namespaces are left alone', async () => {
    const store = new InMemoryClusterStore();
    const service = new ClusterService({ store, queue: new InMemoryWorkQueue(), clock: systemClock, ids: new SequentialIds() });
    const provisioner = new Provisioner({ store, queue: new InMemoryWorkQueue(), backend, generateSecrets: async (d) => testSecrets(d.clusterId), clock: systemClock, logger: silentLogger });
    const { cluster } = await service.create(owner, { overrides: { instanceType: 'c5.xlarge', workerCpu: 1, workerMemoryGiB: 2, nWorkers: 3, adaptive: { minimum: 1, maximum: 6 } } });
    let status = (await provisioner.handle({ clusterId: cluster.id, cause: 'created' })).status;
    for (let i = 0; i < 20 && status !== 'RUNNING'; i++) status = (await provisioner.handle({ clusterId: cluster.id, cause: 'requeue' })).status;
    const { core } = await stack.kube.apis();
    const scheduler = ((await core.listNamespacedPod({ namespace: cluster.namespace, labelSelector: 'recc.io/component=scheduler' })).items ?? [])[0] as any;
    const before = await workerPods(cluster.namespace);

    // Act: a scheduler gone wrong names its own pod, a made-up name and `constructor`
    await backend.scale(cluster.id, 3, { retire: [scheduler.metadata.name, 'no-such-pod', 'constructor', '__proto__'] });

    // Assess: nothing marked, nothing removed
    const after = await workerPods(cluster.namespace);
    expect(after).toEqual(before);
    expect(after.every((p) => p.cost === undefined)).toBe(true);
    const again = (await core.readNamespacedPod({ name: scheduler.metadata.name, namespace: cluster.namespace })) as any;
    expect(again.metadata.annotations?.[POD_DELETION_COST]).toBeUndefined();
    // A named worker gets the lowest cost even when the count stays (it goes first at the next scale-down).
    await backend.scale(cluster.id, 3, { retire: [before[0]!.name] });
    expect((await workerPods(cluster.namespace))[0]).toMatchObject({ name: before[0]!.name, cost: RETIRED_POD_DELETION_COST });
  });
});
