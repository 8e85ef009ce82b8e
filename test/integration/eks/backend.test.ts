import { describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { resourceByKind } from '../../fakes/k8s-store.ts';
import { useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * The EKS backend against the fake API server and the AWS models, beyond the
 * shared contract: idempotent create-or-update on the wire, conflict retry,
 * reverse-order teardown, identity mapping, cost tags and node capacity.
 */
const ROLE = (owner: string) => `arn:aws:iam::123456789012:role/recc-user-${owner}`;

describe('Class: EksComputeBackend', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;

  useEksStack((s) => {
    stack = s;
    backend = s.makeBackend();
  });

  const writes = (from: number) => stack.fake.requests.slice(from).filter((r) => r.method !== 'GET');

  describe('Method: apply', () => {
    it('writes nothing to Kubernetes or Auto Scaling when the same definition is applied again', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'idem-1', workers: 3 });
      await backend.apply(def, testSecrets(def.clusterId));
      const versions = stack.fake.objects('Deployment', def.namespace).map((d) => d.metadata.resourceVersion);
      const mark = stack.fake.requests.length;
      const asgCalls = stack.asg.stub!.calls().length;
      const eksCalls = stack.eks.stub!.calls().length;

      // Act
      await backend.apply(def, testSecrets(def.clusterId));

      // Assess
      expect(writes(mark)).toEqual([]);
      expect(stack.fake.objects('Deployment', def.namespace).map((d) => d.metadata.resourceVersion)).toEqual(versions);
      const newAsgCalls = stack.asg.stub!.calls().slice(asgCalls).map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
      expect(newAsgCalls.every((n) => n.startsWith('Describe'))).toBe(true);
      const newEksCalls = stack.eks.stub!.calls().slice(eksCalls).map((c) => (c.args[0] as { constructor: { name: string } }).constructor.name);
      expect(newEksCalls.length).toBeGreaterThan(0);
      expect(newEksCalls.every((n) => n.startsWith('List') || n.startsWith('Describe'))).toBe(true);
    });

    it('stores every built object on the API server unchanged by the client library', async () => {
      // Prepare: client-node models rename and drop fields (e.g. NetworkPolicy `from`, LimitRange `default`).
      const def = testDefinition({ clusterId: 'wire-1', workers: 3, overrides: { sourceGitBranch: 'main' } });
      const secrets = testSecrets(def.clusterId);

      // Act
      await backend.apply(def, secrets);

      // Assess
      const stored = stack.fake.object('Namespace', undefined, def.namespace)!;
      const built = backend.manifests(def, secrets, { nodes: def.plan.instances, appliedAt: stored.metadata.annotations!['recc.io/applied-at']! });
      for (const obj of built) {
        const actual = stack.fake.object(obj.kind, obj.metadata.namespace, obj.metadata.name);
        const { metadata, ...body } = obj;
        expect({ ...actual, name: metadata.name }).toMatchObject({ ...body, name: metadata.name });
        expect(actual?.metadata.labels).toEqual(metadata.labels);
        expect(actual?.metadata.annotations).toMatchObject(metadata.annotations ?? {});
      }
      expect(stack.fake.object('NetworkPolicy', def.namespace, 'recc-allow-desktops-to-scheduler')?.spec.ingress[0].from).toHaveLength(2);
      expect(stack.fake.object('LimitRange', def.namespace, 'recc-limits')?.spec.limits[0].default).toEqual({ cpu: '1000m', memory: '1536Mi' });
    });

    it('replaces only what changed, keeping the Service clusterIP and the NLB', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'upd-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));
      const service = stack.fake.object('Service', def.namespace, 'recc-scheduler');
      const mark = stack.fake.requests.length;

      // Act: same cluster, new image.
      await backend.apply({ ...def, workers: { ...def.workers, image: 'recc:2' } }, testSecrets(def.clusterId));

      // Assess
      expect(writes(mark).map((r) => `${r.method} ${r.path}`).sort()).toEqual(
        [`PUT /apis/apps/v1/namespaces/${def.namespace}/deployments/recc-worker`, `PUT /api/v1/namespaces/${def.namespace}/configmaps/recc-definition`].sort(),
      );
      const after = stack.fake.object('Service', def.namespace, 'recc-scheduler');
      expect(after?.metadata.resourceVersion).toBe(service?.metadata.resourceVersion);
      expect(after?.status).toEqual(service?.status);
      const pods = stack.fake.objects('Pod', def.namespace).filter((p) => p.metadata.labels?.['recc.io/component'] === 'worker');
      expect(pods.map((p) => p.spec?.containers[0].image)).toEqual(['recc:2', 'recc:2']);
    });

    it('re-reads and retries when another writer changes an object between its read and its replace', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'conf-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));
      const path = `/apis/apps/v1/namespaces/${def.namespace}/deployments/recc-worker`;
      let interfered = false;
      stack.fake.beforeRequest = (method, p) => {
        if (method === 'PUT' && p === path && !interfered) {
          interfered = true;
          const d = stack.fake.store.get(resourceByKind('Deployment'), def.namespace, 'recc-worker')!;
          d.metadata.annotations = { ...d.metadata.annotations, 'someone-else': 'was-here' };
          stack.fake.store.save(resourceByKind('Deployment'), d);
        }
      };

      // Act
      await backend.apply({ ...def, workers: { ...def.workers, image: 'recc:3' } }, testSecrets(def.clusterId));

      // Assess
      const puts = stack.fake.requests.filter((r) => r.method === 'PUT' && r.path === path).map((r) => r.status);
      expect(puts).toEqual([409, 200]);
      expect(stack.fake.object('Deployment', def.namespace, 'recc-worker')?.spec.template.spec.containers[0].image).toBe('recc:3');
    });

    it('tags the node group and its instances with user, namespace, job and cluster, propagated at launch', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'tag-1', workers: 4, job: 'eod-prices' });

      // Act
      await backend.apply(def, testSecrets(def.clusterId));

      // Assess
      const group = stack.asg.group('arathe-c5-xlarge-nodegroup')!;
      const tags = Object.fromEntries(group.tags.map((t) => [t.Key, { value: t.Value, propagate: t.PropagateAtLaunch }]));
      expect(tags).toMatchObject({
        user: { value: 'arathe', propagate: true },
        namespace: { value: def.namespace, propagate: true },
        cluster: { value: 'tag-1', propagate: true },
        job: { value: 'eod-prices', propagate: true },
        'recc.io/nodegroup': { value: 'arathe-c5-xlarge-nodegroup', propagate: true },
      });
      expect(group.min).toBe(0);
      expect(group.max).toBe(40);
      expect(group.instances).toHaveLength(def.plan.instances);
      for (const i of group.instances) {
        expect(i.tags).toMatchObject({ user: 'arathe', namespace: def.namespace, cluster: 'tag-1', job: 'eod-prices' });
        expect(i.ProtectedFromScaleIn).toBe(true);
      }
    });

    it('maps the user IAM role to their group with an access entry scoped to exactly their live namespaces', async () => {
      // Prepare
      const one = testDefinition({ clusterId: 'id-1', owner: 'arathe' });
      const two = testDefinition({ clusterId: 'id-2', owner: 'arathe', instanceType: 'm5.large' });
      const other = testDefinition({ clusterId: 'id-3', owner: 'bkim' });

      // Act
      await backend.apply(one, testSecrets(one.clusterId));
      await backend.apply(two, testSecrets(two.clusterId));
      await backend.apply(other, testSecrets(other.clusterId));
      const both = stack.eks.entries.get(ROLE('arathe'));
      const bothScopes = [...(both?.associations.values() ?? [])];
      await backend.teardown(one.clusterId);
      const afterOne = [...(stack.eks.entries.get(ROLE('arathe'))?.associations.values() ?? [])];
      await backend.teardown(two.clusterId);

      // Assess
      expect(both?.kubernetesGroups).toEqual(['recc:user:arathe']);
      expect(both?.tags).toMatchObject({ user: 'arathe' });
      expect(bothScopes).toEqual([{ type: 'namespace', namespaces: [one.namespace, two.namespace].sort() }]);
      expect(afterOne).toEqual([{ type: 'namespace', namespaces: [two.namespace] }]);
      expect(stack.eks.entries.has(ROLE('arathe'))).toBe(false);
      expect([...(stack.eks.entries.get(ROLE('bkim'))?.associations.values() ?? [])]).toEqual([{ type: 'namespace', namespaces: [other.namespace] }]);
    });

    it('adopts an access entry that already exists and scopes it', async () => {
      // Prepare: the entry was made earlier, e.g. by a run that crashed before associating.
      stack.eks.entries.set(ROLE('arathe'), { principalArn: ROLE('arathe'), kubernetesGroups: ['recc:user:arathe'], type: 'STANDARD', tags: {}, associations: new Map() });
      const def = testDefinition({ clusterId: 'inuse-1' });

      // Act
      await backend.apply(def, testSecrets(def.clusterId));

      // Assess
      expect([...(stack.eks.entries.get(ROLE('arathe'))?.associations.values() ?? [])]).toEqual([{ type: 'namespace', namespaces: [def.namespace] }]);
    });

    it('refuses to apply into a namespace that is still being deleted, with a retryable error', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'again-1' });
      await backend.apply(def, testSecrets(def.clusterId));
      const ns = stack.fake.store.get(resourceByKind('Namespace'), undefined, def.namespace)!;
      ns.metadata.deletionTimestamp = new Date().toISOString();
      stack.fake.store.save(resourceByKind('Namespace'), ns);

      // Act / Assess
      await expect(backend.apply(def, testSecrets(def.clusterId))).rejects.toMatchObject({ statusCode: 503 });
    });
  });

  describe('Method: scale', () => {
    it('recomputes the nodes the cluster needs and the group desired capacity', async () => {
      // Prepare: c5.xlarge holds 3 workers, or the scheduler and 2 workers.
      const def = testDefinition({ clusterId: 'sc-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));
      const before = stack.asg.group('arathe-c5-xlarge-nodegroup')?.desired;

      // Act
      await backend.scale(def.clusterId, 8);
      const up = stack.asg.group('arathe-c5-xlarge-nodegroup')?.desired;
      const observed = await backend.observe(def.clusterId);
      await backend.scale(def.clusterId, 2);

      // Assess
      expect(before).toBe(1);
      expect(up).toBe(3);
      expect(observed).toMatchObject({ ready: true, workersDesired: 8, workersRegistered: 8 });
      expect(stack.fake.object('Namespace', undefined, def.namespace)?.metadata.annotations?.['recc.io/nodes']).toBe('1');
      expect(stack.asg.group('arathe-c5-xlarge-nodegroup')?.desired).toBe(1);
      expect(stack.fake.object('ResourceQuota', def.namespace, 'recc-quota')?.spec.hard.pods).toBe('3');
      expect(stack.fake.kubelet.evictions).toEqual([]);
    });

    it('throws ClusterNotFoundError for a cluster it does not hold', async () => {
      await expect(backend.scale('nope-1', 3)).rejects.toMatchObject({ name: 'ClusterNotFoundError', statusCode: 404 });
    });
  });

  describe('Method: teardown', () => {
    it('removes objects in reverse order, scales the group to 0 before deleting the namespace, and keeps nothing', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'rev-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));
      const mark = stack.fake.requests.length;
      let desiredWhenNamespaceDeleted: number | undefined;
      stack.fake.beforeRequest = (method, path) => {
        if (method === 'DELETE' && path === `/api/v1/namespaces/${def.namespace}`) desiredWhenNamespaceDeleted = stack.asg.group('arathe-c5-xlarge-nodegroup')?.desired;
      };

      // Act
      await backend.teardown(def.clusterId);

      // Assess
      const deletes = stack.fake.requests.slice(mark).filter((r) => r.method === 'DELETE').map((r) => r.path.split('/').slice(-2).join('/'));
      expect(deletes[0]).toBe('deployments/recc-worker');
      expect(deletes.indexOf('deployments/recc-scheduler')).toBeLessThan(deletes.indexOf('services/recc-scheduler'));
      expect(deletes.indexOf('services/recc-scheduler')).toBeLessThan(deletes.indexOf('secrets/recc-cluster-tls'));
      expect(deletes.at(-1)).toBe(`namespaces/${def.namespace}`);
      expect(desiredWhenNamespaceDeleted).toBe(0);
      expect(stack.asg.group('arathe-c5-xlarge-nodegroup')?.instances).toEqual([]);
      expect(await backend.list()).toEqual([]);
    });
  });

  describe('Method: reconcileNodeGroups', () => {
    it('brings a group whose namespaces vanished outside recc back to 0', async () => {
      // Prepare: the namespace is deleted directly (kubectl), so no teardown ran.
      const def = testDefinition({ clusterId: 'orph-1', workers: 4 });
      await backend.apply(def, testSecrets(def.clusterId));
      stack.fake.finalizeNamespace(def.namespace);
      const before = stack.asg.group('arathe-c5-xlarge-nodegroup')?.desired;

      // Act
      const groups = await backend.reconcileNodeGroups();

      // Assess
      expect(before).toBe(def.plan.instances);
      expect(groups).toEqual(['arathe-c5-xlarge-nodegroup']);
      expect(stack.asg.group('arathe-c5-xlarge-nodegroup')).toMatchObject({ desired: 0, instances: [] });
    });
  });

  describe('Method: readSecrets', () => {
    it('returns the applied token and certificates (never the CA key) and undefined for an unknown cluster', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'sec-1' });
      const secrets = testSecrets(def.clusterId);
      await backend.apply(def, secrets);

      // Act
      const read = await backend.readSecrets(def.clusterId);

      // Assess
      expect(read).toEqual({ ...secrets, caKeyPem: '' });
      expect(await backend.readSecrets('nope-2')).toBeUndefined();
    });
  });

  describe('Method: observe', () => {
    it('gives the NLB address and dashboard once the load balancer has a hostname', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'obs-1' });
      await backend.apply(def, testSecrets(def.clusterId));

      // Act
      const o = await backend.observe(def.clusterId);

      // Assess
      const host = stack.fake.object('Service', def.namespace, 'recc-scheduler')?.status.loadBalancer.ingress[0].hostname;
      expect(o.schedulerAddress).toBe(`tls://${host}:8786`);
      expect(o.dashboardUrl).toBe(`http://${host}:8787/`);
    });

    it('takes registered workers and activity from the scheduler, through the API server service proxy', async () => {
      // Prepare: 2 worker pods are Ready but only 1 worker has registered with the scheduler.
      const def = testDefinition({ clusterId: 'act-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));
      stack.fake.schedulerStatus.set(def.namespace, { workers: 1, tasksProcessing: 7, clientsConnected: 1, lastActivityAt: '2026-11-27T06:30:00.000Z' });

      // Act
      const o = await backend.observe(def.clusterId);

      // Assess
      expect(o).toMatchObject({
        schedulerReady: true,
        workersRegistered: 1,
        workersDesired: 2,
        ready: false,
        schedulerReachable: true,
        activity: { lastActivityAt: '2026-11-27T06:30:00.000Z', tasksProcessing: 7, clientsConnected: 1 },
      });
      expect(stack.fake.requests.filter((r) => r.path.includes('/proxy/'))).toEqual([
        { method: 'GET', path: `/api/v1/namespaces/${def.namespace}/services/recc-scheduler%3Adashboard/proxy/api%2Fstatus`, status: 200 },
      ]);
    });

    it('says the scheduler is unreachable when its pod is Ready but it does not answer', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'act-2', workers: 1 });
      await backend.apply(def, testSecrets(def.clusterId));
      stack.fake.unreachableSchedulers.add(def.namespace);

      // Act
      const o = await backend.observe(def.clusterId);

      // Assess
      expect(o.schedulerReachable).toBe(false);
      expect(o.activity).toBeUndefined();
      expect(o.workersRegistered).toBe(1);
    });

    it('gives the in-cluster service address in clusterip-ingress mode', async () => {
      // Prepare
      const ingressBackend = stack.makeBackend({ serviceMode: 'clusterip-ingress', ingressDomain: 'recc.corp.example' });
      const def = testDefinition({ clusterId: 'obs-2' });
      await ingressBackend.apply(def, testSecrets(def.clusterId));

      // Act
      const o = await ingressBackend.observe(def.clusterId);

      // Assess
      expect(o.schedulerAddress).toBe(`tls://recc-scheduler.${def.namespace}.svc:8786`);
      expect(o.dashboardUrl).toBe('https://obs-2.recc.corp.example/');
      expect(stack.fake.objects('Ingress', def.namespace)).toHaveLength(1);
    });
  });
});
