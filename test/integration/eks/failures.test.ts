import { describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { Provisioner } from '../../../control/provisioner.ts';
import { ManualClock, systemClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { initialChange, newClusterRecord } from '../../../shared/lifecycle/machine.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import type { ProvisionMessage } from '../../../shared/ports/work-queue.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import { startEksStack, useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Must show: an induced missing image and an induced
 * InsufficientInstanceCapacity each reach a permanent failure with that
 * reason in ONE observe call after the condition appears, and, driven by the
 * real provisioner, the cluster is FAILED with that reason on the first
 * observe step after it (no timeout) with everything it made removed. A
 * missing image "appears" once the kubelet's pulls said "not found" three
 * times (issue 22 #4: 0 s, 10 s, 30 s of its back-off; `image-pull.test.ts`
 * shows that nothing earlier is permanent), so those tests drive a manual
 * clock through the back-off first.
 */
describe('Class: EksComputeBackend (failures within one observe cycle)', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;

  useEksStack((s) => {
    stack = s;
    backend = s.makeBackend();
  });

  describe('Method: observe', () => {
    it('reports a permanent ImagePullBackOff naming the image once the image is confirmed missing', async () => {
      // Prepare: a clock shared with the fake, driven through the kubelet's pulls at 0 s, 10 s and 30 s.
      await stack.close();
      const clock = new ManualClock(Date.UTC(2026, 11, 5, 12));
      stack = await startEksStack({ now: () => clock.now() });
      backend = stack.makeBackend({}, { clock });
      const image = 'registry.example.org/recc:no-such-tag';
      stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'NotFound' } });
      const def = testDefinition({ clusterId: 'pull-1', workers: 2, image });
      await backend.apply(def, testSecrets(def.clusterId));
      for (const ms of [1, 10_000, 20_000, 1]) {
        clock.advance(ms);
        stack.fake.tick();
      }

      // Act: one observe cycle.
      const observation = await backend.observe(def.clusterId);

      // Assess
      expect(observation.ready).toBe(false);
      const failure = observation.failures.find((f) => f.reason === 'ImagePullBackOff' && f.component === 'worker');
      expect(failure).toMatchObject({ permanent: true });
      expect(failure?.message).toContain(image);
      expect(failure?.message).toMatch(/Check the image name and tag/);
      expect(observation.failures.find((f) => f.reason === 'ImagePullBackOff' && f.component === 'scheduler')).toMatchObject({ permanent: true });
    });

    it('reports a permanent InsufficientInstanceCapacity when the node group cannot launch instances', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'ice-1', workers: 4, instanceType: 'c5.xlarge' });
      stack.asg.failLaunches(nodeGroupName('arathe', 'c5.xlarge'), { code: 'InsufficientInstanceCapacity' });
      await backend.apply(def, testSecrets(def.clusterId));

      // Act: one observe cycle.
      const observation = await backend.observe(def.clusterId);

      // Assess: the capacity failure is permanent; the pods waiting for nodes are reported but not blamed.
      const capacity = observation.failures.find((f) => f.reason === 'InsufficientInstanceCapacity');
      expect(capacity).toMatchObject({ component: 'nodes', permanent: true });
      expect(capacity?.message).toMatch(/no c5\.xlarge capacity/);
      expect(capacity?.message).toMatch(/Try another instance type/);
      const waiting = observation.failures.find((f) => f.reason === 'Unschedulable');
      expect(waiting).toMatchObject({ permanent: false });
      expect(waiting?.message).toMatch(/0\/0 nodes are available/);
    });

    it('reports a permanent VcpuLimitExceeded with what to do when the account vCPU limit is reached', async () => {
      // Prepare
      const def = testDefinition({ clusterId: 'vcpu-1', workers: 3, instanceType: 'm5.large' });
      stack.asg.failLaunches(/m5-large/, { code: 'VcpuLimitExceeded' });
      await backend.apply(def, testSecrets(def.clusterId));

      // Act
      const observation = await backend.observe(def.clusterId);

      // Assess
      expect(observation.failures.find((f) => f.reason === 'VcpuLimitExceeded')).toMatchObject({ component: 'nodes', permanent: true });
    });

    it('ignores a capacity failure older than the cluster', async () => {
      // Prepare: an earlier cluster of the group failed to get capacity, then capacity came back.
      const group = nodeGroupName('arathe', 'c5.xlarge');
      stack.asg.failLaunches(group, { code: 'InsufficientInstanceCapacity' }, 1);
      const old = testDefinition({ clusterId: 'old-1', workers: 1 });
      await backend.apply(old, testSecrets(old.clusterId));
      await backend.teardown(old.clusterId);
      const def = testDefinition({ clusterId: 'new-1', workers: 1 });

      // Act
      await backend.apply(def, testSecrets(def.clusterId));
      const observation = await backend.observe(def.clusterId);

      // Assess
      expect(observation.failures).toEqual([]);
      expect(observation.ready).toBe(true);
    });

    it('reports Unschedulable as permanent with the scheduler message once the node group has had all its nodes past the scheduler backoff', async () => {
      // Prepare: a clock shared with the fake, so node readiness times are known.
      await stack.close();
      const clock = new ManualClock(Date.UTC(2026, 11, 4, 12));
      stack = await startEksStack({ now: () => clock.now() });
      backend = stack.makeBackend({}, { clock });
      const message = '0/2 nodes are available: 2 Insufficient nvidia.com/gpu. preemption: 0/2 nodes are available.';
      stack.fake.kubelet.addRule({ match: { component: 'worker' }, failure: { kind: 'Unschedulable', message } });
      const def = testDefinition({ clusterId: 'unsched-1', workers: 2 });
      await backend.apply(def, testSecrets(def.clusterId));

      // Act: right after the nodes joined the scheduler may still be backing off; 30 s later it is not.
      const early = await backend.observe(def.clusterId);
      clock.advance(30_000);
      const observation = await backend.observe(def.clusterId);

      // Assess
      expect(early.failures.find((f) => f.reason === 'Unschedulable')).toMatchObject({ permanent: false });
      const failure = observation.failures.find((f) => f.reason === 'Unschedulable');
      expect(failure).toMatchObject({ component: 'worker', permanent: true });
      expect(failure?.message).toContain(message);
    });

    it('reports OOMKilled with the memory limit and the log tail', async () => {
      // Prepare
      stack.fake.kubelet.addRule({
        match: { component: 'worker' },
        failure: { kind: 'CrashLoopBackOff', oomKilled: true, log: 'loading 40 GB of prices\n' },
      });
      const def = testDefinition({ clusterId: 'oom-1', workers: 1 });
      await backend.apply(def, testSecrets(def.clusterId));

      // Act
      const observation = await backend.observe(def.clusterId);

      // Assess
      const failure = observation.failures.find((f) => f.reason === 'OOMKilled');
      expect(failure).toMatchObject({ component: 'worker', permanent: true, logTail: 'loading 40 GB of prices\n' });
      expect(failure?.message).toContain('1536Mi');
      expect(failure?.message).toContain('workerMemoryGiB');
    });
  });

  describe('Class: Provisioner (with the EKS backend)', () => {
    async function provision(id: string, overrides: Record<string, unknown>): Promise<{ store: InMemoryClusterStore; provisioner: Provisioner; queue: ProvisionMessage[] }> {
      const store = new InMemoryClusterStore();
      const queue: ProvisionMessage[] = [];
      const provisioner = new Provisioner({
        store,
        queue: { send: async (m) => void queue.push(m) },
        backend,
        generateSecrets: async (d) => testSecrets(d.clusterId),
        clock: systemClock,
        logger: silentLogger,
      });
      const spec = resolveSpec({ overrides });
      const record = newClusterRecord({ id, owner: 'arathe', at: new Date().toISOString(), spec, plan: planCluster(spec) });
      await store.create(record, initialChange(record, { actor: 'arathe' }));
      return { store, provisioner, queue };
    }

    it('moves the cluster to FAILED with ImagePullBackOff on the first observe step once the image is confirmed missing, and removes everything', async () => {
      // Prepare
      await stack.close();
      const clock = new ManualClock(Date.UTC(2026, 11, 5, 12));
      stack = await startEksStack({ now: () => clock.now() });
      backend = stack.makeBackend({}, { clock });
      const image = 'registry.example.org/recc:typo';
      stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'NotFound' } });
      const { store, provisioner } = await provision('pf-pull', { image, nWorkers: 2 });

      // Act: step 1 applies; the kubelet pulls at 0 s, 10 s and 30 s and is back in its back-off; the next step is the first observe after that.
      const applied = await provisioner.handle({ clusterId: 'pf-pull', cause: 'created' });
      for (const ms of [1, 10_000, 20_000, 1]) {
        clock.advance(ms);
        stack.fake.tick();
      }
      const observed = await provisioner.handle({ clusterId: 'pf-pull', cause: 'requeue' });

      // Assess
      expect(applied.action).toBe('applied');
      expect(observed).toMatchObject({ action: 'failed', status: 'FAILED' });
      const record = await store.get('pf-pull');
      expect(record?.status).toBe('FAILED');
      expect(record?.statusReason).toMatch(/ImagePullBackOff/);
      expect(record?.statusReason).toContain(image);
      expect(await backend.list()).toEqual([]);
      expect(stack.asg.group(nodeGroupName('arathe', 'c5.xlarge'))?.desired).toBe(0);
      expect(stack.eks.entries.size).toBe(0);
    });

    it('moves the cluster to FAILED with InsufficientInstanceCapacity on the first observe step and removes everything', async () => {
      // Prepare
      stack.asg.failLaunches(nodeGroupName('arathe', 'r5.large'), { code: 'InsufficientInstanceCapacity' });
      const { store, provisioner } = await provision('pf-ice', { instanceType: 'r5.large', nWorkers: 2 });

      // Act
      await provisioner.handle({ clusterId: 'pf-ice', cause: 'created' });
      const observed = await provisioner.handle({ clusterId: 'pf-ice', cause: 'requeue' });

      // Assess
      expect(observed).toMatchObject({ action: 'failed', status: 'FAILED' });
      const record = await store.get('pf-ice');
      expect(record?.statusReason).toMatch(/^nodes failed \(InsufficientInstanceCapacity\)/);
      expect(record?.statusReason).toMatch(/Try another instance type/);
      expect(await backend.list()).toEqual([]);
      expect(stack.asg.group(nodeGroupName('arathe', 'r5.large'))?.desired).toBe(0);
    });

    it('reaches RUNNING with the NLB address, the token and the CA from the cluster Secret', async () => {
      // Prepare
      const { store, provisioner } = await provision('pf-ok', { nWorkers: 3 });

      // Act
      await provisioner.handle({ clusterId: 'pf-ok', cause: 'created' });
      const observed = await provisioner.handle({ clusterId: 'pf-ok', cause: 'requeue' });

      // Assess
      expect(observed).toMatchObject({ action: 'running', status: 'RUNNING' });
      const record = await store.get('pf-ok');
      expect(record?.connection?.schedulerAddress).toMatch(/^tls:\/\/k8s-[a-z0-9-]+\.elb\.us-east-1\.amazonaws\.com:8786$/);
      expect(record?.connection?.token).toBe(testSecrets('pf-ok').token);
      expect(record?.connection?.caPem).toBe(testSecrets('pf-ok').caCertPem);
    });
  });
});
