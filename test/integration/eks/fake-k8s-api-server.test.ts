import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiException, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { buildKubeConfig } from '../../../adapters/eks/kube.ts';
import { FakeKubeApiServer } from '../../fakes/k8s-api-server.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The fake Kubernetes API server is a test double other tests rely on, so
 * its semantics are tested here against @kubernetes/client-node 1.4.0 and
 * raw HTTP: Status objects, 409/404/422/403/401, resourceVersion conflicts,
 * cascading namespace deletion, label and field selectors, pod logs, and the
 * kubelet turning Deployments into Pods.
 */
const TOKEN = 'unit-token';

function statusOf(err: unknown): { code: number; reason: string; message: string } {
  expect(err).toBeInstanceOf(ApiException);
  const e = err as ApiException<string>;
  const body = JSON.parse(e.body) as { reason: string; message: string; kind: string };
  expect(body.kind).toBe('Status');
  return { code: e.code, reason: body.reason, message: body.message };
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const deployment = (name: string, replicas: number, labels: Record<string, string> = {}) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name, labels },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name, 'recc.io/component': 'worker', ...labels } },
      spec: { containers: [{ name: 'worker', image: 'recc:1', resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } }] },
    },
  },
});

describe('Class: FakeKubeApiServer', () => {
  let fake: FakeKubeApiServer;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  beforeEach(async () => {
    fake = await FakeKubeApiServer.start({ token: TOKEN });
    const kc = buildKubeConfig(fake.url, TOKEN, { skipTLSVerify: true });
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    fake.kubelet.addNode({ name: 'node-a', labels: { pool: 'a' }, allocatable: { cpu: '4', memory: '8Gi', pods: '20' } });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('answers 400 for a body without kind, as the real API server cannot decode it', async () => {
    // Act
    const err = statusOf(await caught(core.createNamespace({ body: { metadata: { name: 'no-kind' } } })));

    // Assess
    expect(err.code).toBe(400);
    expect(err.message).toMatch(/^Object 'Kind' is missing/);
  });

  it('answers 401 without the bearer token', async () => {
    // Act
    const res = await fetch(`${fake.url}/api/v1/namespaces`);

    // Assess
    expect(res.status).toBe(401);
    expect(((await res.json()) as { reason: string }).reason).toBe('Unauthorized');
  });

  it('returns 409 AlreadyExists on a second create and 404 NotFound on a missing object', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } } });

    // Act
    const dup = statusOf(await caught(core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns1' } } })));
    const missing = statusOf(await caught(core.readNamespacedSecret({ name: 'nope', namespace: 'ns1' })));

    // Assess
    expect(dup).toEqual({ code: 409, reason: 'AlreadyExists', message: 'namespaces "ns1" already exists' });
    expect(missing).toEqual({ code: 404, reason: 'NotFound', message: 'secrets "nope" not found' });
  });

  it('refuses objects in a missing namespace and invalid names', async () => {
    // Act
    const noNs = statusOf(await caught(core.createNamespacedConfigMap({ namespace: 'ghost', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x' } } })));
    const badName = statusOf(await caught(core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'Not_Valid' } } })));

    // Assess
    expect(noNs.code).toBe(404);
    expect(noNs.message).toBe('namespaces "ghost" not found');
    expect(badName.code).toBe(422);
    expect(badName.reason).toBe('Invalid');
  });

  it('bumps resourceVersion on every write and rejects a replace with a stale one', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns2' } } });
    const created = await core.createNamespacedConfigMap({ namespace: 'ns2', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' }, data: { a: '1' } } });

    // Act
    const updated = await core.replaceNamespacedConfigMap({
      name: 'cm',
      namespace: 'ns2',
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', resourceVersion: created.metadata?.resourceVersion }, data: { a: '2' } },
    });
    const stale = statusOf(
      await caught(
        core.replaceNamespacedConfigMap({ name: 'cm', namespace: 'ns2', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm', resourceVersion: created.metadata?.resourceVersion }, data: { a: '3' } } }),
      ),
    );

    // Assess
    expect(Number(updated.metadata?.resourceVersion)).toBeGreaterThan(Number(created.metadata?.resourceVersion));
    expect(updated.metadata?.uid).toBe(created.metadata?.uid);
    expect(stale.code).toBe(409);
    expect(stale.reason).toBe('Conflict');
    expect((await core.readNamespacedConfigMap({ name: 'cm', namespace: 'ns2' })).data).toEqual({ a: '2' });
  });

  it('keeps a Service clusterIP immutable', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns3' } } });
    const svc = await core.createNamespacedService({ namespace: 'ns3', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 80 }] } } });

    // Act
    const err = statusOf(await caught(core.replaceNamespacedService({ name: 's', namespace: 'ns3', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 81 }] } } })));
    const ok = await core.replaceNamespacedService({ name: 's', namespace: 'ns3', body: { apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { clusterIP: svc.spec?.clusterIP, ports: [{ port: 81 }] } } });

    // Assess
    expect(svc.spec?.clusterIP).toMatch(/^172\.20\./);
    expect(err.code).toBe(422);
    expect(ok.spec?.ports?.[0]?.port).toBe(81);
  });

  it('turns a Deployment into Ready pods, follows scaling, and filters with label and field selectors', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns4' } } });

    // Act
    await apps.createNamespacedDeployment({ namespace: 'ns4', body: deployment('w', 3, { tier: 'gold' }) });
    const three = await core.listNamespacedPod({ namespace: 'ns4', labelSelector: 'app=w,tier in (gold,silver)' });
    const d = await apps.readNamespacedDeployment({ name: 'w', namespace: 'ns4' });
    await apps.replaceNamespacedDeployment({ name: 'w', namespace: 'ns4', body: { ...deployment('w', 1, { tier: 'gold' }), metadata: { name: 'w', resourceVersion: d.metadata?.resourceVersion } } });
    const one = await core.listNamespacedPod({ namespace: 'ns4' });
    const none = await core.listNamespacedPod({ namespace: 'ns4', labelSelector: 'tier notin (gold)' });
    const onNode = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=node-a' });

    // Assess
    expect(three.items).toHaveLength(3);
    expect(three.items.every((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'))).toBe(true);
    expect(d.status?.readyReplicas).toBe(3);
    expect(one.items).toHaveLength(1);
    expect(none.items).toHaveLength(0);
    expect(onNode.items).toHaveLength(1);
  });

  it('marks pods Unschedulable with the scheduler message when no node fits', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns5' } } });
    const body = deployment('big', 5);

    // Act: 5 × 1 CPU on a 4-CPU node.
    await apps.createNamespacedDeployment({ namespace: 'ns5', body });
    const pods = (await core.listNamespacedPod({ namespace: 'ns5' })).items;

    // Assess
    const pending = pods.filter((p) => !p.spec?.nodeName);
    expect(pending).toHaveLength(1);
    const cond = pending[0]?.status?.conditions?.find((c) => c.type === 'PodScheduled');
    expect(cond).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(cond?.message).toMatch(/^0\/1 nodes are available: 1 Insufficient cpu\./);
  });

  it('enforces a ResourceQuota when the Deployment controller creates pods', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns6' } } });
    await core.createNamespacedResourceQuota({ namespace: 'ns6', body: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '2', 'requests.cpu': '2' } } } });

    // Act
    await apps.createNamespacedDeployment({ namespace: 'ns6', body: deployment('w', 3) });
    const d = await apps.readNamespacedDeployment({ name: 'w', namespace: 'ns6' });

    // Assess
    expect((await core.listNamespacedPod({ namespace: 'ns6' })).items).toHaveLength(2);
    const failure = d.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
    expect(failure?.message).toMatch(/exceeded quota: q/);
  });

  it('serves pod logs with tailLines, and a crash-looping container with its log', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns7' } } });
    fake.kubelet.addRule({ match: { namespace: 'ns7' }, failure: { kind: 'CrashLoopBackOff', log: 'one\ntwo\nthree\n' } });
    await apps.createNamespacedDeployment({ namespace: 'ns7', body: deployment('w', 1) });
    const pod = (await core.listNamespacedPod({ namespace: 'ns7' })).items[0];

    // Act
    const tail = await core.readNamespacedPodLog({ name: pod?.metadata?.name ?? '', namespace: 'ns7', tailLines: 2, previous: true });

    // Assess
    expect(pod?.status?.containerStatuses?.[0]?.state?.waiting?.reason).toBe('CrashLoopBackOff');
    expect(pod?.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode).toBe(1);
    expect(tail).toBe('two\nthree\n');
  });

  it('deletes a namespace as Terminating, refuses new content, then removes everything in it', async () => {
    // Prepare
    const slow = await FakeKubeApiServer.start({ token: TOKEN, namespaceFinalizeMs: 200 });
    try {
      const kc = buildKubeConfig(slow.url, TOKEN, { skipTLSVerify: true });
      const c = kc.makeApiClient(CoreV1Api);
      await c.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'gone', labels: { team: 'x' } } } });
      await c.createNamespacedConfigMap({ namespace: 'gone', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm' } } });
      await c.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'kept', labels: { team: 'y' } } } });

      // Act
      await c.deleteNamespace({ name: 'gone' });
      const terminating = await c.readNamespace({ name: 'gone' });
      const refused = statusOf(await caught(c.createNamespacedConfigMap({ namespace: 'gone', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } } })));
      await waitFor(() => slow.namespaceCount() === 1, { what: 'namespace finalized', timeoutMs: 10_000 });

      // Assess
      expect(terminating.status?.phase).toBe('Terminating');
      expect(refused.code).toBe(403);
      expect(slow.objects('ConfigMap')).toEqual([]);
      expect((await c.listNamespace({ labelSelector: 'team' })).items.map((n) => n.metadata?.name)).toEqual(['kept']);
    } finally {
      await slow.close();
    }
  });

  it('recreates pods elsewhere when their node goes away and records the eviction', async () => {
    // Prepare
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns8' } } });
    await apps.createNamespacedDeployment({ namespace: 'ns8', body: deployment('w', 2) });
    fake.kubelet.addNode({ name: 'node-b', allocatable: { cpu: '4', memory: '8Gi', pods: '20' } });

    // Act
    fake.kubelet.removeNode('node-a');
    const pods = (await core.listNamespacedPod({ namespace: 'ns8' })).items;

    // Assess
    expect(fake.kubelet.evictions.map((e) => e.node)).toEqual(['node-a', 'node-a']);
    expect(pods).toHaveLength(2);
    expect(pods.every((p) => p.spec?.nodeName === 'node-b')).toBe(true);
  });
});
