import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { describe, expect, it } from 'vitest';
import { WORKER_READY_FILE, buildClusterManifests, type ManifestOptions } from '../../../adapters/eks/manifests/build.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { testSecrets } from '../../support/eks-stack.ts';

/**
 * Issue 17 #8: what the cluster's pods need on a real EKS: a liveness probe on
 * the scheduler, workers ready only once registered, app.kubernetes.io labels,
 * Pod Security Admission on the namespace, and bounded ephemeral storage.
 */
const OPTIONS: ManifestOptions = { allowedCidrs: ['10.20.0.0/16'], serviceMode: 'nlb', efsFileSystemId: 'fs-0123456789abcdef0', efsRegion: 'eu-west-1' };

function objects(overrides: Record<string, unknown> = {}): K8sObject[] {
  const spec = resolveSpec({ overrides: { nWorkers: 3, workerMemoryGiB: 4, ...overrides } });
  const def: ClusterDefinition = renderCluster({ clusterId: 'c-pods1', owner: 'arathe', namespace: 'recc-arathe-pods1', spec, plan: planCluster(spec) }, { defaultImage: TEST_EKS_IMAGE });
  return buildClusterManifests(def, { ...OPTIONS, nodes: def.plan.instances }, { kind: 'values', secrets: testSecrets(def.clusterId) });
}

const find = (list: K8sObject[], kind: string, name?: string): any => list.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));

describe('Pods on EKS (issue 17 #8)', () => {
  it('restarts a wedged scheduler (liveness on /health) and counts a worker ready only once it has registered', () => {
    const list = objects();
    const scheduler = find(list, 'Deployment', 'recc-scheduler').spec.template.spec.containers[0];
    const worker = find(list, 'Deployment', 'recc-worker').spec.template.spec.containers[0];
    expect(scheduler.livenessProbe).toMatchObject({ httpGet: { path: '/health', port: 'dashboard' }, failureThreshold: 6 });
    expect(worker.readinessProbe).toEqual({ exec: { command: ['test', '-f', WORKER_READY_FILE] }, periodSeconds: 5, failureThreshold: 2 });
    const at = worker.args.indexOf('--ready-file');
    expect(worker.args[at + 1]).toBe(WORKER_READY_FILE);
  });

  it('labels every object with app.kubernetes.io/* and each pod with its component', () => {
    const list = objects();
    for (const o of list) {
      expect(o.metadata.labels, `${o.kind}/${o.metadata.name}`).toMatchObject({ 'app.kubernetes.io/name': 'recc', 'app.kubernetes.io/instance': 'c-pods1', 'app.kubernetes.io/managed-by': 'recc', 'app.kubernetes.io/part-of': 'recc' });
    }
    expect(find(list, 'Deployment', 'recc-worker').spec.template.metadata.labels['app.kubernetes.io/component']).toBe('worker');
    expect(find(list, 'Deployment', 'recc-scheduler').spec.template.metadata.labels['app.kubernetes.io/component']).toBe('scheduler');
  });

  it('enforces Pod Security "restricted" on every namespace, with or without a git source branch', () => {
    const plain = find(objects(), 'Namespace').metadata.labels;
    expect(plain).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'v1.30',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    const withSource = objects({ sourceGitBranch: 'main' });
    expect(find(withSource, 'Namespace').metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'v1.30',
      'pod-security.kubernetes.io/warn': 'restricted',
      'pod-security.kubernetes.io/audit': 'restricted',
    });
    // What "restricted" checks, on every pod, the source volume included.
    for (const [list, name] of [objects(), withSource].flatMap((l) => [[l, 'recc-scheduler'], [l, 'recc-worker']] as const)) {
      const pod = find(list, 'Deployment', name).spec.template.spec;
      const c = pod.containers[0];
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      for (const v of pod.volumes) expect(Object.keys(v).filter((k) => k !== 'name'), JSON.stringify(v)).toEqual([expect.stringMatching(/^(secret|emptyDir|configMap|projected|downwardAPI|csi|ephemeral|persistentVolumeClaim)$/)]);
    }
  });

  it('mounts the git source through a per-cluster static EFS CSI PersistentVolume, pre-bound to the cluster\'s claim, retained on delete', () => {
    // Act
    const list = objects({ sourceGitBranch: 'research/prices-v2' });
    const pv = find(list, 'PersistentVolume');
    const pvc = find(list, 'PersistentVolumeClaim');

    // Assess: the PV is cluster-scoped, named after the cluster's namespace, bound to this cluster's claim only
    expect(pv.metadata.name).toBe('recc-src-recc-arathe-pods1');
    expect(pv.metadata.namespace).toBeUndefined();
    expect(pv.spec).toEqual({
      capacity: { storage: '1Gi' },
      volumeMode: 'Filesystem',
      accessModes: ['ReadOnlyMany'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      claimRef: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', namespace: 'recc-arathe-pods1', name: 'recc-source' },
      csi: { driver: 'efs.csi.aws.com', volumeHandle: 'fs-0123456789abcdef0:/branches/research/prices-v2', readOnly: true },
    });
    expect(pvc.metadata).toMatchObject({ name: 'recc-source', namespace: 'recc-arathe-pods1' });
    expect(pvc.spec).toEqual({ accessModes: ['ReadOnlyMany'], volumeMode: 'Filesystem', storageClassName: '', volumeName: pv.metadata.name, resources: { requests: { storage: '1Gi' } } });
    for (const name of ['recc-scheduler', 'recc-worker']) {
      const pod = find(list, 'Deployment', name).spec.template.spec;
      expect(pod.volumes).toContainEqual({ name: 'recc-source', persistentVolumeClaim: { claimName: 'recc-source', readOnly: true } });
      expect(pod.containers[0].volumeMounts).toContainEqual({ name: 'recc-source', mountPath: '/opt/recc/src', readOnly: true });
    }
    // Applied before the Deployments (teardown, in reverse, removes the pods first, then the claim, then the volume).
    const kinds = list.map((o) => o.kind);
    expect(kinds.indexOf('PersistentVolume')).toBeLessThan(kinds.indexOf('PersistentVolumeClaim'));
    expect(kinds.indexOf('PersistentVolumeClaim')).toBeLessThan(kinds.indexOf('Deployment'));
    // Without a branch: no volume, no claim.
    expect(objects().filter((o) => o.kind === 'PersistentVolume' || o.kind === 'PersistentVolumeClaim')).toEqual([]);
  });

  it('keeps a healthy scheduler from voluntary eviction with a PodDisruptionBudget, applied before the Deployments (so teardown removes the pods first)', () => {
    const list = objects();
    const pdb = find(list, 'PodDisruptionBudget', 'recc-scheduler');
    expect(pdb.apiVersion).toBe('policy/v1');
    expect(pdb.spec).toEqual({ minAvailable: 1, selector: { matchLabels: { 'recc.io/cluster': 'c-pods1', 'recc.io/component': 'scheduler' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(find(list, 'Deployment', 'recc-scheduler').spec.template.metadata.labels).toMatchObject(pdb.spec.selector.matchLabels);
    const kinds = list.map((o) => o.kind);
    expect(kinds.indexOf('PodDisruptionBudget')).toBeLessThan(kinds.indexOf('Deployment'));
  });

  it('bounds /tmp and ephemeral storage: workers spill up to twice their memory', () => {
    const list = objects();
    const worker = find(list, 'Deployment', 'recc-worker').spec.template.spec;
    const scheduler = find(list, 'Deployment', 'recc-scheduler').spec.template.spec;
    expect(worker.volumes.find((v: any) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '8Gi' } });
    expect(worker.containers[0].resources.requests['ephemeral-storage']).toBe('1Gi');
    expect(worker.containers[0].resources.limits['ephemeral-storage']).toBe('9Gi');
    expect(scheduler.volumes.find((v: any) => v.name === 'tmp')).toEqual({ name: 'tmp', emptyDir: { sizeLimit: '1Gi' } });
    expect(scheduler.containers[0].resources.limits['ephemeral-storage']).toBe('2Gi');
  });
});
