import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { STALE_CORDON_MS } from '../../../adapters/eks/node-groups.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import type { Observation } from '../../../shared/ports/compute-backend.ts';
import { ApiStatusError } from '../../fakes/k8s-store.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * The EKS backend against the strict fake (issue 22 #2, #3, #9): pods take
 * their grace period to go and stay charged to quota meanwhile, the scheduler
 * retries with backoff, the load balancer's hostname comes later, evicted
 * pods stay on their node. Time is a manual clock shared by the fake, Auto
 * Scaling and the backend, so every transient state is held still and
 * observed: none may be reported permanent, and nodes must still scale in.
 */
const GROUP = nodeGroupName('arathe', 'c5.xlarge');

describe('EKS backend on the strict fake', () => {
  let clock: ManualClock;
  let stack: EksStack;
  let backend: EksComputeBackend;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
    stack = await startEksStack({
      now: () => clock.now(),
      timing: { podExitMs: () => 20_000, loadBalancerMs: () => 45_000, schedulerBackoff: true },
    });
    backend = stack.makeBackend({}, { clock });
  });

  afterEach(async () => {
    await stack.close();
  });

  const advance = (ms: number) => {
    clock.advance(ms);
    stack.fake.tick();
  };
  const permanent = (o: Observation) => o.failures.filter((f) => f.permanent);
  const liveInstances = () => (stack.asg.group(GROUP)?.instances ?? []).filter((i) => !String(i.LifecycleState).startsWith('Terminat'));

  async function readyCluster(id: string, workers: number) {
    const def = testDefinition({ clusterId: id, workers });
    await backend.apply(def, testSecrets(id));
    for (let i = 0; i < 12 && !(await backend.observe(id)).ready; i += 1) advance(5_000);
    expect((await backend.observe(id)).ready).toBe(true);
    return def;
  }

  it('never reports the scheduler backoff after nodes joined as a permanent Unschedulable (#3)', async () => {
    // Prepare: the pods are created before the node group has a node, so their first attempt fails.
    const def = testDefinition({ clusterId: 'c-bind', workers: 2 });

    // Act
    await backend.apply(def, testSecrets('c-bind'));
    const during = await backend.observe('c-bind');
    advance(1_000);
    advance(45_000);
    const after = await backend.observe('c-bind');

    // Assess
    expect(during.ready).toBe(false);
    expect(permanent(during)).toEqual([]);
    expect(after.ready).toBe(true);
  });

  it('is not ready, and not failed, until the NLB hostname is filled in (#3)', async () => {
    // Prepare
    await backend.apply(testDefinition({ clusterId: 'c-nlb', workers: 1 }), testSecrets('c-nlb'));
    advance(2_000); // pods bound and Ready, the load balancer still provisioning

    // Act
    const early = await backend.observe('c-nlb');
    advance(45_000);
    const late = await backend.observe('c-nlb');

    // Assess
    expect(early.schedulerReady).toBe(true);
    expect(early.schedulerAddress).toBeUndefined();
    expect(early.ready).toBe(false);
    expect(permanent(early)).toEqual([]);
    expect(late.ready).toBe(true);
    expect(late.schedulerAddress).toMatch(/^tls:\/\/k8s-.*\.elb\.us-east-1\.amazonaws\.com:8786$/);
  });

  it('treats FailedCreate under the exact pods quota during a rolling update as transient (#2)', async () => {
    // Prepare
    const def = await readyCluster('c-roll', 2);

    // Act: a new worker image; maxSurge 0, the old pods hold their quota while they terminate.
    await backend.apply({ ...def, workers: { ...def.workers, image: 'registry.example.org/recc:v2' } }, testSecrets('c-roll'));
    const during = await backend.observe('c-roll');
    advance(20_000);
    advance(2_000);
    const after = await backend.observe('c-roll');

    // Assess
    expect(stack.fake.object('Deployment', def.namespace, 'recc-worker')?.status?.conditions?.some((c: any) => c.type === 'ReplicaFailure')).toBe(false);
    expect(permanent(during)).toEqual([]);
    expect(after.ready).toBe(true);
  });

  it('scales in the nodes whose only pods are terminating (#2)', async () => {
    // Prepare: 6 workers need 3 nodes.
    await readyCluster('c-shrink', 6);
    expect(liveInstances()).toHaveLength(3);

    // Act: 1 worker needs 1 node; the other pods are still in their grace period.
    await backend.scale('c-shrink', 1);

    // Assess: nothing else will reconcile this group later, so every node without a running pod must go now
    // (the surviving worker may sit on another node than the scheduler; that node has to stay).
    const hosting = new Set(
      stack.fake
        .objects('Pod')
        .filter((p) => !p.metadata.deletionTimestamp)
        .map((p) => p.spec?.nodeName),
    );
    expect(stack.asg.group(GROUP)?.desired).toBe(1);
    expect(hosting.size).toBeLessThan(3);
    expect(liveInstances()).toHaveLength(hosting.size);
    advance(20_000);
    expect((await backend.observe('c-shrink')).ready).toBe(true);
  });

  it('scales in a node whose only pods were evicted (#9)', async () => {
    // Prepare: 2 nodes; every pod on the second one is evicted, and the test cordons it so the replacements land elsewhere.
    const def = await readyCluster('c-evict', 4);
    const nodes = stack.fake.objects('Node');
    expect(nodes).toHaveLength(2);
    const pods = stack.fake.objects('Pod', def.namespace);
    const [a, b] = nodes.map((n) => ({ n, pods: pods.filter((p) => p.spec?.nodeName === n.metadata.name) }));
    const victim = (a!.pods.some((p) => p.metadata.labels?.['recc.io/component'] === 'scheduler') ? b : a)!;
    const node = stack.fake.store.get({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, nameRule: 'subdomain' }, undefined, victim.n.metadata.name)!;
    node.spec.unschedulable = true;
    for (const p of victim.pods) stack.fake.kubelet.evictPod(def.namespace, p.metadata.name);

    // Act: 1 worker fits one node.
    await backend.scale('c-evict', 1);

    // Assess
    expect(liveInstances()).toHaveLength(1);
    expect(stack.fake.objects('Node').map((n) => n.metadata.name)).not.toContain(victim.n.metadata.name);
  });
  it('keeps a pod that met a cordoned node waiting after the node is uncordoned, until the scheduler retries it (chaos run)', async () => {
    // Prepare: a ready cluster on one node, Ready for minutes; the node is cordoned (a scale-in checking it, or
    // kubectl cordon) when a worker is evicted, so the replacement meets "0/1 nodes … were unschedulable".
    const def = await readyCluster('c-cordon', 1);
    advance(60_000);
    const [only] = stack.fake.objects('Node');
    const node = stack.fake.store.get({ group: '', version: 'v1', plural: 'nodes', kind: 'Node', namespaced: false, nameRule: 'subdomain' }, undefined, only!.metadata.name)!;
    node.spec.unschedulable = true;
    const worker = stack.fake.objects('Pod', def.namespace).find((p) => p.metadata.labels?.['recc.io/component'] === 'worker')!;
    stack.fake.kubelet.evictPod(def.namespace, worker.metadata.name);
    const pending = stack.fake.objects('Pod', def.namespace).find((p) => !p.spec?.nodeName);
    expect(pending?.status?.conditions?.[0]?.message).toMatch(/^0\/1 nodes are available: 1 node\(s\) were unschedulable/);

    // Act: uncordoned; the scheduler has not retried the pod yet (its backoff), so the condition still names the cordon.
    node.spec.unschedulable = false;
    const stale = await backend.observe('c-cordon');
    advance(10_000);
    const later = await backend.observe('c-cordon');

    // Assess
    expect(stale.ready).toBe(false);
    expect(permanent(stale)).toEqual([]);
    expect(stale.failures).toEqual([expect.objectContaining({ component: 'worker', reason: 'Unschedulable', permanent: false })]);
    expect(later.ready).toBe(true);
  });
  it('leaves no node cordoned when a scale-in stops between cordon and terminate, even if lifting the cordon fails too (chaos run)', async () => {
    // Prepare: 4 workers on 2 nodes. During the scale-in, the re-check of the cordoned node fails (an etcd
    // timeout without Retry-After, so the client does not retry it) and so does the first attempt to lift it.
    await readyCluster('c-leak', 4);
    const cordons: string[] = [];
    let failing = true;
    stack.fake.beforeRequest = (method, path) => {
      if (!failing) return;
      if (method === 'PUT' && path.startsWith('/api/v1/nodes/')) {
        cordons.push(path);
        if (cordons.length > 1) throw new ApiStatusError(500, 'InternalError', 'an error on the server ("etcdserver: request timed out") has prevented the request from succeeding (put nodes)');
      }
      if (method === 'GET' && path === '/api/v1/pods' && cordons.length > 0) {
        throw new ApiStatusError(500, 'InternalError', 'an error on the server ("etcdserver: request timed out") has prevented the request from succeeding (get pods)');
      }
    };

    // Act: no workers, the scheduler needs 1 node; the scale-in of the other stops half-way.
    await expect(backend.scale('c-leak', 0)).rejects.toThrow(/get pods|list pods/);
    failing = false;
    const cordonedAfterFailure = stack.fake.objects('Node').filter((n) => n.spec?.unschedulable).length;
    // Later a second cluster needs a node again: the group no longer has nodes to remove.
    advance(STALE_CORDON_MS);
    const def = testDefinition({ clusterId: 'c-leak-2', workers: 1 });
    await backend.apply(def, testSecrets(def.clusterId));
    let second: Observation | undefined;
    for (let i = 0; i < 12 && !(second = await backend.observe(def.clusterId)).ready; i += 1) advance(5_000);

    // Assess: the scale-in did cordon a node and could not lift it then; the next reconcile did.
    expect(cordons.length).toBeGreaterThanOrEqual(2);
    expect(cordonedAfterFailure).toBe(1);
    expect(stack.fake.objects('Node').filter((n) => n.spec?.unschedulable)).toEqual([]);
    expect(second?.ready).toBe(true);
    expect(permanent(second!)).toEqual([]);
  });
});
