import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiException, AppsV1Api, CoreV1Api } from '@kubernetes/client-node';
import { buildKubeConfig } from '../../../adapters/eks/kube.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { FakeKubeApiServer } from '../../fakes/k8s-api-server.ts';

/**
 * The strict behaviours of the fake Kubernetes API server (issue 22), each
 * checked against what the real API server does (source named in the fake):
 * quota on Services, graceful pod deletion, scheduler backoff, the load
 * balancer controller's delay and evicted pods.
 */
const TOKEN = 'strict-token';

async function forbidden(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(ApiException);
    const e = err as ApiException<string>;
    expect(e.code).toBe(403);
    return (JSON.parse(e.body) as { message: string }).message;
  }
  throw new Error('expected a 403');
}

const service = (name: string, type: string, extra: Record<string, unknown> = {}) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name },
  spec: { type, selector: { app: name }, ports: [{ name: 'a', port: 8786 }, { name: 'b', port: 8787 }], ...extra },
});

const deployment = (name: string, replicas: number) => ({
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: { name },
  spec: {
    replicas,
    selector: { matchLabels: { app: name } },
    template: {
      metadata: { labels: { app: name } },
      spec: {
        terminationGracePeriodSeconds: 30,
        containers: [{ name: 'w', image: 'recc:1', resources: { requests: { cpu: '1', memory: '1Gi' }, limits: { cpu: '1', memory: '1Gi' } } }],
      },
    },
  },
});

describe('Class: FakeKubeApiServer (strict)', () => {
  let fake: FakeKubeApiServer;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
    fake = await FakeKubeApiServer.start({
      token: TOKEN,
      now: () => clock.now(),
      timing: { podExitMs: () => 20_000, loadBalancerMs: () => 45_000, schedulerBackoff: true },
    });
    const kc = buildKubeConfig(fake.url, TOKEN, { skipTLSVerify: true });
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    await core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns' } } });
  });

  afterEach(async () => {
    await fake.close();
  });

  const advance = (ms: number) => {
    clock.advance(ms);
    fake.tick();
  };

  describe('ResourceQuota on Services', () => {
    beforeEach(async () => {
      await core.createNamespacedResourceQuota({
        namespace: 'ns',
        body: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { 'services.nodeports': '0', 'services.loadbalancers': '1' } } },
      });
    });

    it('refuses a LoadBalancer Service that would allocate a node port per port, naming services.nodeports', async () => {
      const message = await forbidden(core.createNamespacedService({ namespace: 'ns', body: service('lb', 'LoadBalancer') }));
      expect(message).toContain('exceeded quota: q, requested: services.nodeports=2, used: services.nodeports=0, limited: services.nodeports=0');
    });

    it('admits one LoadBalancer Service with allocateLoadBalancerNodePorts false, and refuses a second load balancer', async () => {
      await core.createNamespacedService({ namespace: 'ns', body: service('lb', 'LoadBalancer', { allocateLoadBalancerNodePorts: false }) });
      const message = await forbidden(core.createNamespacedService({ namespace: 'ns', body: service('lb2', 'LoadBalancer', { allocateLoadBalancerNodePorts: false }) }));
      expect(message).toContain('services.loadbalancers');
    });

    it('refuses turning a ClusterIP Service into a NodePort one on replace', async () => {
      const created = await core.createNamespacedService({ namespace: 'ns', body: service('c', 'ClusterIP') });
      const body = { ...created, spec: { ...created.spec, type: 'NodePort' } };
      const message = await forbidden(core.replaceNamespacedService({ name: 'c', namespace: 'ns', body }));
      expect(message).toContain('services.nodeports');
    });
  });

  describe('Graceful pod deletion', () => {
    it('keeps a deleted pod with its node and deletionTimestamp, charged to quota, until its container exits', async () => {
      fake.kubelet.addNode({ name: 'n1', allocatable: { cpu: '8', memory: '16Gi', pods: '20' } });
      await core.createNamespacedResourceQuota({ namespace: 'ns', body: { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'q' }, spec: { hard: { pods: '2' } } } });
      await apps.createNamespacedDeployment({ namespace: 'ns', body: deployment('w', 2) });
      const [first] = (await core.listNamespacedPod({ namespace: 'ns' })).items;

      await core.deleteNamespacedPod({ name: first?.metadata?.name ?? '', namespace: 'ns' });
      const terminating = await core.readNamespacedPod({ name: first?.metadata?.name ?? '', namespace: 'ns' });
      const deployment1 = await apps.readNamespacedDeployment({ name: 'w', namespace: 'ns' });

      expect(terminating.spec?.nodeName).toBe('n1');
      expect(terminating.metadata?.deletionTimestamp).toBeDefined();
      expect(terminating.metadata?.deletionGracePeriodSeconds).toBe(30);
      // The ReplicaSet made a replacement at once, which the still-charged terminating pod keeps out.
      const failure = deployment1.status?.conditions?.find((c) => c.type === 'ReplicaFailure');
      expect(failure).toMatchObject({ status: 'True', reason: 'FailedCreate' });
      expect(failure?.message).toContain('exceeded quota: q');

      advance(20_000);
      const pods = (await core.listNamespacedPod({ namespace: 'ns' })).items;
      expect(pods.map((p) => p.metadata?.name)).not.toContain(first?.metadata?.name);
      expect(pods).toHaveLength(2);
      const deployment2 = await apps.readNamespacedDeployment({ name: 'w', namespace: 'ns' });
      expect(deployment2.status?.conditions?.find((c) => c.type === 'ReplicaFailure')).toBeUndefined();
    });
  });

  describe('Scheduler backoff', () => {
    it('leaves a pod Unschedulable after its node joins until the backoff ends', async () => {
      await apps.createNamespacedDeployment({ namespace: 'ns', body: deployment('w', 1) });
      advance(100);
      fake.kubelet.addNode({ name: 'n1', allocatable: { cpu: '8', memory: '16Gi', pods: '20' } });
      const [waiting] = (await core.listNamespacedPod({ namespace: 'ns' })).items;
      expect(waiting?.spec?.nodeName).toBeUndefined();
      expect(waiting?.status?.conditions?.[0]).toMatchObject({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable' });

      advance(1_000);
      const [bound] = (await core.listNamespacedPod({ namespace: 'ns' })).items;
      expect(bound?.spec?.nodeName).toBe('n1');
    });
  });

  describe('Load balancer controller', () => {
    it('fills status.loadBalancer only after its delay', async () => {
      await core.createNamespacedService({ namespace: 'ns', body: service('lb', 'LoadBalancer', { allocateLoadBalancerNodePorts: false }) });
      expect((await core.readNamespacedService({ name: 'lb', namespace: 'ns' })).status?.loadBalancer?.ingress ?? []).toEqual([]);
      advance(45_000);
      expect((await core.readNamespacedService({ name: 'lb', namespace: 'ns' })).status?.loadBalancer?.ingress?.[0]?.hostname).toMatch(/elb\.us-east-1\.amazonaws\.com$/);
    });
  });

  describe('Evicted pods', () => {
    it('stay Failed on their node while the ReplicaSet makes a replacement', async () => {
      fake.kubelet.addNode({ name: 'n1', allocatable: { cpu: '8', memory: '16Gi', pods: '20' } });
      await apps.createNamespacedDeployment({ namespace: 'ns', body: deployment('w', 1) });
      const [pod] = (await core.listNamespacedPod({ namespace: 'ns' })).items;
      fake.kubelet.evictPod('ns', pod?.metadata?.name ?? '');
      const pods = (await core.listNamespacedPod({ namespace: 'ns' })).items;
      expect(pods).toHaveLength(2);
      const evicted = pods.find((p) => p.metadata?.name === pod?.metadata?.name);
      expect(evicted?.status).toMatchObject({ phase: 'Failed', reason: 'Evicted' });
      expect(evicted?.spec?.nodeName).toBe('n1');
    });
  });
});
