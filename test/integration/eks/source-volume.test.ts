import { describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { KubeApplier } from '../../../adapters/eks/kube.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { resourceByKind, type Obj } from '../../fakes/k8s-store.ts';
import { useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * A cluster with `sourceGitBranch` on EKS: the branch comes from EFS through
 * the EFS CSI driver (a static PersistentVolume per cluster, pre-bound to the
 * cluster's PersistentVolumeClaim), so its namespace enforces Pod Security
 * `restricted` like every other. Against the fake API server, which binds
 * static volumes, keeps pods with a missing or unbound claim Pending as
 * kube-scheduler does, and refuses what PSA `restricted` refuses (the `nfs`
 * volume the source used to be).
 */
describe('EFS source volume (sourceGitBranch) on EKS', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;

  useEksStack((s) => {
    stack = s;
    backend = s.makeBackend();
  });

  const podsOf = (namespace: string) => stack.fake.objects('Pod', namespace);
  const scheduledMessage = (pod: Obj) => (pod.status?.conditions ?? []).find((c: any) => c.type === 'PodScheduled')?.message;

  it('runs the cluster in a namespace that enforces restricted: the volume binds to this cluster\'s claim and the pods start', async () => {
    // Prepare
    const def = testDefinition({ clusterId: 'src-1', workers: 2, overrides: { sourceGitBranch: 'feature/fx-rates' } });

    // Act
    await backend.apply(def, testSecrets(def.clusterId));
    await waitFor(async () => (await backend.observe(def.clusterId)).ready, { what: 'source cluster ready', timeoutMs: 20_000 });

    // Assess
    const labels = stack.fake.object('Namespace', undefined, def.namespace)!.metadata.labels!;
    expect(labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    const pv = stack.fake.object('PersistentVolume', undefined, `recc-src-${def.namespace}`)!;
    const pvc = stack.fake.object('PersistentVolumeClaim', def.namespace, 'recc-source')!;
    expect(pv.spec).toMatchObject({
      persistentVolumeReclaimPolicy: 'Retain',
      csi: { driver: 'efs.csi.aws.com', volumeHandle: 'fs-0123456789abcdef0:/branches/feature/fx-rates', readOnly: true },
      claimRef: { namespace: def.namespace, name: 'recc-source', uid: pvc.metadata.uid },
    });
    expect(pv.status).toEqual({ phase: 'Bound' });
    expect(pvc.status).toMatchObject({ phase: 'Bound', accessModes: ['ReadOnlyMany'] });
    const pods = podsOf(def.namespace);
    expect(pods).toHaveLength(3);
    for (const pod of pods) {
      expect(pod.status?.phase, pod.metadata.name).toBe('Running');
      expect(pod.spec.volumes).toContainEqual({ name: 'recc-source', persistentVolumeClaim: { claimName: 'recc-source', readOnly: true } });
    }
    const failures = stack.fake.objects('Deployment', def.namespace).flatMap((d) => (d.status?.conditions ?? []).filter((c: any) => c.type === 'ReplicaFailure'));
    expect(failures).toEqual([]);
  });

  it('gives two clusters on one branch a volume each, bound to their own claim only', async () => {
    // Prepare
    const a = testDefinition({ clusterId: 'src-a', workers: 1, overrides: { sourceGitBranch: 'main' } });
    const b = testDefinition({ clusterId: 'src-b', workers: 1, overrides: { sourceGitBranch: 'main' } });

    // Act
    await backend.apply(a, testSecrets(a.clusterId));
    await backend.apply(b, testSecrets(b.clusterId));

    // Assess
    const volumes = stack.fake.objects('PersistentVolume');
    expect(volumes.map((v) => [v.metadata.name, v.spec.claimRef.namespace, v.status.phase]).sort()).toEqual([
      [`recc-src-${a.namespace}`, a.namespace, 'Bound'],
      [`recc-src-${b.namespace}`, b.namespace, 'Bound'],
    ]);
  });

  it('deletes the cluster-scoped volume on teardown (the namespace would not take it), and a volume already gone is success', async () => {
    // Prepare
    const def = testDefinition({ clusterId: 'src-2', workers: 1, overrides: { sourceGitBranch: 'main' } });
    const other = testDefinition({ clusterId: 'src-3', workers: 1, overrides: { sourceGitBranch: 'main' } });
    await backend.apply(def, testSecrets(def.clusterId));
    await backend.apply(other, testSecrets(other.clusterId));
    // The second cluster lost its volume by hand before its teardown.
    stack.fake.store.remove(resourceByKind('PersistentVolume'), undefined, `recc-src-${other.namespace}`);

    // Act
    await backend.teardown(def.clusterId);
    await backend.teardown(other.clusterId);
    await waitFor(() => stack.fake.namespaceCount((ns) => ns.metadata.name === def.namespace || ns.metadata.name === other.namespace) === 0, { what: 'namespaces gone', timeoutMs: 20_000 });
    await backend.teardown(def.clusterId);

    // Assess
    expect(stack.fake.objects('PersistentVolume')).toEqual([]);
    const deletes = stack.fake.requests.filter((r) => r.method === 'DELETE' && r.path.startsWith('/api/v1/persistentvolumes/'));
    expect(deletes.map((r) => `${r.path} ${r.status}`).sort()).toEqual([`/api/v1/persistentvolumes/recc-src-${def.namespace} 200`, `/api/v1/persistentvolumes/recc-src-${other.namespace} 404`].sort());
  });

  it('still deletes the volume when a retried teardown finds no stored definition', async () => {
    // Prepare: a first teardown got as far as removing the definition ConfigMap.
    const def = testDefinition({ clusterId: 'src-4', workers: 1, overrides: { sourceGitBranch: 'main' } });
    await backend.apply(def, testSecrets(def.clusterId));
    stack.fake.store.remove(resourceByKind('ConfigMap'), def.namespace, 'recc-definition');

    // Act
    await backend.teardown(def.clusterId);

    // Assess
    expect(stack.fake.object('PersistentVolume', undefined, `recc-src-${def.namespace}`)).toBeUndefined();
  });

  describe('the fake API server, as the backend relies on it', () => {
    /** The cluster's objects applied one by one (no node group: one node is added by hand). */
    async function applyParts(clusterId: string, keep: (o: K8sObject) => boolean, edit: (o: K8sObject) => K8sObject = (o) => o) {
      const def = testDefinition({ clusterId, workers: 1, overrides: { sourceGitBranch: 'main' } });
      const group = nodeGroupName(def.owner, def.plan.instanceType);
      stack.fake.kubelet.addNode({
        name: `node-${clusterId}`,
        labels: { 'recc.io/nodegroup': group },
        taints: [{ key: 'recc.io/nodegroup', value: group, effect: 'NoSchedule' }],
        allocatable: { cpu: '15000m', memory: '60000Mi', pods: '58' },
      });
      const objects = backend.manifests(def, testSecrets(clusterId), { nodes: 1, appliedAt: '2026-12-06T00:00:00.000Z' });
      const applier = new KubeApplier(stack.kube);
      for (const o of objects.filter(keep)) await applier.apply(edit(o));
      return { def, objects, applier };
    }

    it('keeps pods Pending while their claim is missing, then unbound, and starts them once the volume binds it', async () => {
      // Act 1: no claim, no volume
      const { def, objects, applier } = await applyParts('fk-1', (o) => o.kind !== 'PersistentVolume' && o.kind !== 'PersistentVolumeClaim');
      const missing = podsOf(def.namespace);

      // Assess 1
      expect(missing).toHaveLength(2);
      for (const pod of missing) {
        expect(pod.status.phase).toBe('Pending');
        expect(scheduledMessage(pod)).toBe('0/1 nodes are available: persistentvolumeclaim "recc-source" not found. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.');
      }

      // Act 2: the claim, but its volume does not exist
      await applier.apply(objects.find((o) => o.kind === 'PersistentVolumeClaim')!);

      // Assess 2
      expect(stack.fake.object('PersistentVolumeClaim', def.namespace, 'recc-source')!.status).toEqual({ phase: 'Pending' });
      for (const pod of podsOf(def.namespace)) {
        expect(scheduledMessage(pod)).toBe('0/1 nodes are available: pod has unbound immediate PersistentVolumeClaims. preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.');
      }

      // Act 3: the volume
      await applier.apply(objects.find((o) => o.kind === 'PersistentVolume')!);

      // Assess 3
      expect(stack.fake.object('PersistentVolumeClaim', def.namespace, 'recc-source')!.status.phase).toBe('Bound');
      expect(podsOf(def.namespace).map((p) => p.status.phase)).toEqual(['Running', 'Running']);
    });

    it('does not bind a claim to a volume pre-bound to another cluster\'s claim', async () => {
      // Act: this cluster's claim names a volume whose claimRef is another namespace's.
      const { def } = await applyParts('fk-2', () => true, (o) =>
        o.kind === 'PersistentVolume' ? { ...o, spec: { ...(o.spec as object), claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'someone-else', name: 'recc-source' } } } : o,
      );

      // Assess
      expect(stack.fake.object('PersistentVolumeClaim', def.namespace, 'recc-source')!.status).toEqual({ phase: 'Pending' });
      expect(podsOf(def.namespace).every((p) => p.status.phase === 'Pending')).toBe(true);
    });

    it('refuses the former nfs source volume under PSA restricted (the ReplicaSet\'s FailedCreate) and admits it under baseline', async () => {
      // Prepare: the source as it used to be mounted, an nfs volume on the EFS DNS name.
      const nfs = (o: K8sObject): K8sObject => {
        if (o.kind !== 'Deployment') return o;
        const copy = structuredClone(o) as any;
        copy.spec.template.spec.volumes = copy.spec.template.spec.volumes.map((v: any) =>
          v.name === 'recc-source' ? { name: 'recc-source', nfs: { server: 'fs-0123456789abcdef0.efs.us-east-1.amazonaws.com', path: '/branches/main', readOnly: true } } : v,
        );
        return copy;
      };

      // Act
      const { def } = await applyParts('fk-3', (o) => o.kind !== 'PersistentVolume' && o.kind !== 'PersistentVolumeClaim', nfs);

      // Assess: restricted refuses every pod, naming the volume and its type
      expect(podsOf(def.namespace)).toEqual([]);
      for (const d of stack.fake.objects('Deployment', def.namespace)) {
        const failure = (d.status?.conditions ?? []).find((c: any) => c.type === 'ReplicaFailure');
        expect(failure).toMatchObject({ status: 'True', reason: 'FailedCreate' });
        expect(failure.message).toMatch(/^pods "recc-(scheduler|worker)-[0-9a-f]{10}-[0-9a-z]{5}" is forbidden: violates PodSecurity "restricted:v1\.30": restricted volume types \(volume "recc-source" uses restricted volume type "nfs"\)$/);
      }

      // Act: the same namespace at baseline, as the nfs source needed
      const { core } = await stack.kube.apis();
      const ns = await core.readNamespace({ name: def.namespace });
      ns.metadata!.labels = { ...ns.metadata!.labels, 'pod-security.kubernetes.io/enforce': 'baseline' };
      await core.replaceNamespace({ name: def.namespace, body: ns });
      stack.fake.tick();

      // Assess: admitted (the pods then wait for nothing: nfs needs no claim)
      expect(podsOf(def.namespace).map((p) => p.status.phase)).toEqual(['Running', 'Running']);
    });

    it('refuses a pod created directly that breaks restricted, with every violated check', async () => {
      // Prepare
      const { def } = await applyParts('fk-4', (o) => o.kind === 'Namespace');
      const { core } = await stack.kube.apis();

      // Act
      const err = await core
        .createNamespacedPod({
          namespace: def.namespace,
          body: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'debug' }, spec: { containers: [{ name: 'sh', image: 'busybox:1.36' }], volumes: [{ name: 'host', hostPath: { path: '/' } }] } } as never,
        })
        .catch((e: unknown) => e as { code: number; body: string });

      // Assess
      expect((err as { code: number }).code).toBe(403);
      expect(JSON.parse((err as { body: string }).body).message).toBe(
        'pods "debug" is forbidden: violates PodSecurity "restricted:v1.30": allowPrivilegeEscalation != false (container "sh" must set securityContext.allowPrivilegeEscalation=false), ' +
          'unrestricted capabilities (container "sh" must set securityContext.capabilities.drop=["ALL"]), restricted volume types (volume "host" uses restricted volume type "hostPath"), ' +
          'runAsNonRoot != true (pod or container "sh" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "sh" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")',
      );
    });
  });
});
