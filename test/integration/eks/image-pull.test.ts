import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { Provisioner } from '../../../control/provisioner.ts';
import { EksManifestError } from '../../../adapters/eks/errors.ts';
import { SpecValidationError } from '../../../shared/spec/errors.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { initialChange, newClusterRecord } from '../../../shared/lifecycle/machine.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import type { Observation } from '../../../shared/ports/compute-backend.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';
import type { ImagePullError } from '../../fakes/k8s-image-pull.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Image pulls as the kubelet does them (issue 22 #4): a failed pull is
 * ErrImagePull, then ImagePullBackOff while the kubelet waits 10 s, 20 s,
 * 40 s … (at most 300 s) before pulling again, and each failure is a `Failed`
 * event carrying the runtime's error. Rate limits, timeouts and 401s come and
 * go and must never fail a cluster; a missing tag is permanent once three
 * pulls said "not found"; an unparsable reference is permanent at once.
 * One manual clock drives the fake, Auto Scaling, the backend and the
 * provisioner, so every state is held still and observed.
 */
describe('EKS backend: image pull failures on the strict fake', () => {
  let clock: ManualClock;
  let stack: EksStack;
  let backend: EksComputeBackend;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 11, 5, 12));
    stack = await startEksStack({ now: () => clock.now() });
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

  /** Observe every `stepMs` for `totalMs`, keeping every observation. */
  async function watch(id: string, stepMs: number, totalMs: number, until?: (o: Observation) => boolean): Promise<Observation[]> {
    const seen = [await backend.observe(id)];
    for (let t = 0; t < totalMs && !until?.(seen.at(-1)!); t += stepMs) {
      advance(stepMs);
      seen.push(await backend.observe(id));
    }
    return seen;
  }

  it('retries a registry rate limit (429) without a permanent failure, and the cluster comes up once a pull succeeds', async () => {
    // Prepare: Docker Hub answers 429 to the first three pulls of every pod.
    const image = 'research/recc-worker:2026.12';
    stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'TooManyRequests', failures: 3 } });
    const def = testDefinition({ clusterId: 'pull-429', workers: 2, image });
    await backend.apply(def, testSecrets(def.clusterId));

    // Act: 10 s + 20 s + 40 s of back-off, observed every 5 s.
    const seen = await watch(def.clusterId, 5_000, 120_000, (o) => o.ready);

    // Assess
    const first = seen[0]!.failures.find((f) => f.component === 'worker');
    expect(first).toMatchObject({ reason: 'ErrImagePull', permanent: false });
    expect(first?.message).toContain('429 Too Many Requests');
    expect(seen.some((o) => o.failures.some((f) => f.reason === 'ImagePullBackOff' && !f.permanent))).toBe(true);
    expect(seen.flatMap(permanent)).toEqual([]);
    expect(seen.at(-1)?.ready).toBe(true);
  });

  it.each<[ImagePullError, RegExp]>([
    ['Timeout', /i\/o timeout/],
    ['Unauthorized', /401 Unauthorized/],
  ])('keeps retrying a %s pull error for 10 minutes of back-off without calling it permanent', async (error, text) => {
    // Prepare: every worker pull fails; the scheduler's image is fine.
    const def = testDefinition({ clusterId: `pull-${error.toLowerCase()}`, workers: 1 });
    stack.fake.kubelet.addRule({ match: { namespace: def.namespace, component: 'worker' }, failure: { kind: 'ImagePull', error } });
    await backend.apply(def, testSecrets(def.clusterId));

    // Act
    const seen = await watch(def.clusterId, 30_000, 600_000);

    // Assess: pulls went on (10, 20, 40, 80, 160, 300 s back-offs), every one reported as a retry with the error.
    expect(seen.flatMap(permanent)).toEqual([]);
    const last = seen.at(-1)!.failures.find((f) => f.component === 'worker');
    expect(last?.message).toMatch(text);
    expect(last?.message).toMatch(/the kubelet retries with back-off/);
    const pulls = /\((?:ImagePullBackOff|ErrImagePull), 1 worker pod, (\d+) failed pulls\)/.exec(last?.message ?? '');
    expect(Number(pulls?.[1])).toBeGreaterThanOrEqual(5);
  });

  it('calls a missing tag permanent only once three pulls said "not found", naming the image', async () => {
    // Prepare
    const image = 'registry.example.org/recc:no-such-tag';
    stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'NotFound' } });
    const def = testDefinition({ clusterId: 'pull-404', workers: 2, image });
    await backend.apply(def, testSecrets(def.clusterId));

    // Act: pulls at 0 s, 10 s and 30 s.
    const afterOne = await backend.observe(def.clusterId);
    advance(10_000);
    const afterTwo = await backend.observe(def.clusterId);
    advance(20_000);
    const afterThree = await backend.observe(def.clusterId);

    // Assess
    expect(permanent(afterOne)).toEqual([]);
    expect(afterOne.failures.find((f) => f.component === 'worker')?.message).toMatch(/not found 1 of the 3 times/);
    expect(permanent(afterTwo)).toEqual([]);
    const failure = afterThree.failures.find((f) => f.component === 'worker' && f.permanent);
    expect(failure?.reason).toMatch(/^(ErrImagePull|ImagePullBackOff)$/);
    expect(failure?.message).toContain(`the worker image "${image}" does not exist`);
    expect(failure?.message).toContain('registry.example.org/recc:no-such-tag: not found');
    expect(failure?.message).toMatch(/Check the image name and tag/);
    expect(afterThree.failures.find((f) => f.component === 'scheduler')).toMatchObject({ permanent: true });
  });

  it('does not call an image missing when a "not found" is followed by a rate limit', async () => {
    // Prepare: three "not found", then the registry rate-limits: the newest error decides.
    const def = testDefinition({ clusterId: 'pull-mixed', workers: 1 });
    const rule = stack.fake.kubelet.addRule({ match: { namespace: def.namespace, component: 'worker' }, failure: { kind: 'ImagePull', error: 'NotFound', failures: 3 } });
    await backend.apply(def, testSecrets(def.clusterId));
    advance(10_000);
    advance(20_000);
    stack.fake.kubelet.removeRule(rule);
    stack.fake.kubelet.addRule({ match: { namespace: def.namespace, component: 'worker' }, failure: { kind: 'ImagePull', error: 'TooManyRequests' } });

    // Act: the fourth pull (40 s later) gets a 429.
    advance(40_000);
    const observation = await backend.observe(def.clusterId);

    // Assess
    expect(permanent(observation)).toEqual([]);
    expect(observation.failures.find((f) => f.component === 'worker')?.message).toContain('429 Too Many Requests');
  });

  it('refuses an image reference Kubernetes would not parse before any pod exists: at the spec, and again at the backend (issue 17 #8)', async () => {
    // Prepare: repository names are lowercase; before issue 17 #8 the spec let this through and the kubelet said InvalidImageName.
    const image = 'registry.example.org/Research/Recc:v1';
    expect(() => testDefinition({ clusterId: 'pull-invalid', workers: 1, image })).toThrow(SpecValidationError);
    const valid = testDefinition({ clusterId: 'pull-invalid', workers: 1 });
    const stored = { ...valid, workers: { ...valid.workers, image } };

    // Act
    const err = await backend.apply(stored, testSecrets(stored.clusterId)).catch((e: unknown) => e);

    // Assess: a 400 naming the field, and nothing applied.
    expect(err).toBeInstanceOf(EksManifestError);
    expect((err as EksManifestError).details).toEqual([{ path: 'workers.image', message: expect.stringContaining(image) }]);
    expect(stack.fake.object('Namespace', '', stored.namespace)).toBeUndefined();
  });

  describe('Class: Provisioner (with the EKS backend)', () => {
    async function provision(id: string, overrides: Record<string, unknown>) {
      const store = new InMemoryClusterStore();
      const provisioner = new Provisioner({
        store,
        queue: { send: async () => undefined },
        backend,
        generateSecrets: async (d) => testSecrets(d.clusterId),
        clock,
        logger: silentLogger,
      });
      const spec = resolveSpec({ overrides });
      const record = newClusterRecord({ id, owner: 'arathe', at: new Date(clock.now()).toISOString(), spec, plan: planCluster(spec) });
      await store.create(record, initialChange(record, { actor: 'arathe' }));
      await provisioner.handle({ clusterId: id, cause: 'created' });
      return { store, provisioner };
    }

    it('brings a cluster whose pulls were rate-limited twice to RUNNING, never FAILED', async () => {
      // Prepare
      const image = 'research/recc:rate-limited';
      stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'TooManyRequests', failures: 2 } });
      const { store, provisioner } = await provision('pp-429', { image, nWorkers: 2 });

      // Act: a requeue every 5 s.
      const statuses: string[] = [];
      for (let i = 0; i < 20 && statuses.at(-1) !== 'RUNNING'; i += 1) {
        statuses.push((await provisioner.handle({ clusterId: 'pp-429', cause: 'requeue' })).status ?? '');
        advance(5_000);
      }

      // Assess
      expect(statuses).not.toContain('FAILED');
      expect(statuses.at(-1)).toBe('RUNNING');
      expect((await store.get('pp-429'))?.status).toBe('RUNNING');
    });

    it('moves a cluster whose image does not exist to FAILED once confirmed, with the reason, and removes everything', async () => {
      // Prepare
      const image = 'registry.example.org/recc:typo';
      stack.fake.kubelet.addRule({ match: { image }, failure: { kind: 'ImagePull', error: 'NotFound' } });
      const { store, provisioner } = await provision('pp-404', { image, nWorkers: 2 });

      // Act
      const statuses: string[] = [];
      for (let i = 0; i < 20 && statuses.at(-1) !== 'FAILED'; i += 1) {
        statuses.push((await provisioner.handle({ clusterId: 'pp-404', cause: 'requeue' })).status ?? '');
        advance(5_000);
      }

      // Assess: FAILED after the third pull (30 s), not on the first observe.
      expect(statuses[0]).toBe('PROVISIONING');
      expect(statuses.at(-1)).toBe('FAILED');
      expect(statuses.length).toBeGreaterThanOrEqual(6);
      const record = await store.get('pp-404');
      expect(record?.statusReason).toMatch(/ImagePullBackOff|ErrImagePull/);
      expect(record?.statusReason).toContain(`"${image}" does not exist`);
      expect(await backend.list()).toEqual([]);
      expect(stack.asg.group(nodeGroupName('arathe', 'c5.xlarge'))?.desired).toBe(0);
      expect(stack.eks.entries.size).toBe(0);
    });
  });
});
