import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { computeBackendConformance } from '../../conformance/compute-backend.ts';
import { startChaosWorld, type ChaosWorld } from '../../support/eks-chaos.ts';
import { testDefinition, testSecrets } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The chaos run of the EKS conformance suite (issue 22): the ComputeBackend
 * contract against the strict fake, with seeded controller delays,
 * reorderings, API throttling and server timeouts (also after a write
 * committed), write conflicts, Auto Scaling faults, EKS access-entry
 * throttling and server errors, and transient image-pull errors
 * (test/support/eks-chaos.ts).
 * Per seed: every conformance test passes, no cluster is falsely FAILED, no
 * healthy cluster is reaped by the harvester's plan, and nothing is left
 * behind after the deletes.
 *
 * CI runs two seeds. `npm run chaos:eks` runs 50 (RECC_CHAOS_SEEDS=50);
 * RECC_CHAOS_SEED=<n> replays one, RECC_CHAOS_SEED=<n>,<m>,… several.
 */
const CRASH_IMAGE = 'registry.example.org/recc:crash-at-start';
const CRASH_LOG = 'Traceback (most recent call last):\nModuleNotFoundError: No module named research_code\n';

function seeds(): number[] {
  const chosen = process.env.RECC_CHAOS_SEED;
  if (chosen !== undefined && chosen !== '') {
    // One seed, or a comma-separated list (a timing-dependent failure may show only with its neighbours).
    return chosen.split(',').map((one) => {
      const n = Number(one.trim());
      if (one.trim() === '' || !Number.isInteger(n) || n < 0) throw new Error(`RECC_CHAOS_SEED must be non-negative integers separated by commas, got ${JSON.stringify(chosen)}`);
      return n;
    });
  }
  const raw = process.env.RECC_CHAOS_SEEDS ?? '2';
  const count = Number(raw);
  if (!Number.isInteger(count) || count < 1 || count > 1000) throw new Error(`RECC_CHAOS_SEEDS must be an integer from 1 to 1000, got ${JSON.stringify(raw)}`);
  return Array.from({ length: count }, (_, i) => i + 1);
}

/** RECC_CHAOS_SPEED: simulated time per wall-clock ms (default 100); higher widens every timing window, to replay a timing-dependent failure. */
function speed(): number | undefined {
  const raw = process.env.RECC_CHAOS_SPEED;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 1 || n > 10_000) throw new Error(`RECC_CHAOS_SPEED must be a number from 1 to 10000, got ${JSON.stringify(raw)}`);
  return n;
}

const verbose = process.env.RECC_CHAOS_SEEDS !== undefined || process.env.RECC_CHAOS_SEED !== undefined;

for (const seed of seeds()) {
  describe(`EKS chaos, seed ${seed}`, () => {
    let world: ChaosWorld;
    let startedAt = 0;

    beforeAll(async () => {
      startedAt = Date.now();
      world = await startChaosWorld(seed, speed() === undefined ? {} : { speed: speed() });
      world.stack.fake.kubelet.addRule({
        match: { component: 'worker', image: CRASH_IMAGE },
        failure: { kind: 'CrashLoopBackOff', log: CRASH_LOG, exitCode: 1 },
      });
    });

    afterAll(async () => {
      await world?.close();
    });

    computeBackendConformance(
      `eks under chaos (seed ${seed})`,
      () => world.backend(),
      (clusterId, request) => {
        const def = testDefinition({ clusterId, workers: request.workers });
        if (request.failWorkers) {
          world.mayFail.add(def.clusterId);
          return { ...def, workers: { ...def.workers, image: CRASH_IMAGE } };
        }
        world.injectImagePulls(def);
        return def;
      },
      {
        makeSecrets: (def) => testSecrets(def.clusterId),
        failureLogMarker: 'No module named research_code',
        readyTimeoutMs: 60_000,
        pollIntervalMs: 20,
      },
    );

    it('rolls a ready cluster onto a new worker image under the exact pods quota without a false failure', async () => {
      // Prepare: the old pods keep their quota for their grace period (maxSurge 0), so new ones meet FailedCreate.
      const backend = world.backend();
      const def = testDefinition({ clusterId: `roll-${seed}`, workers: 2 });
      world.injectImagePulls(def);
      await backend.apply(def, testSecrets(def.clusterId));
      await waitFor(async () => (await backend.observe(def.clusterId)).ready, { timeoutMs: 60_000, intervalMs: 20, what: 'cluster ready' });

      // Act
      const image = 'registry.example.org/recc:v2';
      await backend.apply({ ...def, workers: { ...def.workers, image } }, testSecrets(def.clusterId));
      const rolled = await waitFor(
        async () => {
          const o = await backend.observe(def.clusterId);
          const workers = world.stack.fake.objects('Pod', def.namespace).filter((p) => p.metadata.labels?.['recc.io/component'] === 'worker' && !p.metadata.deletionTimestamp);
          return o.ready && workers.length === 2 && workers.every((p) => p.spec?.containers?.[0]?.image === image) ? o : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 20, what: 'workers on the new image' },
      );
      await backend.teardown(def.clusterId);

      // Assess
      expect(rolled.failures.filter((f) => f.permanent)).toEqual([]);
      expect(world.violations.filter((v) => v.clusterId === def.clusterId)).toEqual([]);
    });

    it('failed no healthy cluster, reaped none, and left nothing behind', async () => {
      // Act
      const leftovers = await world.leftovers();

      // Assess
      if (verbose) {
        const { stats } = world;
        console.info(
          JSON.stringify({
            seed,
            wallMs: Date.now() - startedAt,
            violations: world.violations.length,
            leftovers: leftovers.length,
            k8sRequests: stats.k8sRequests,
            k8s429: stats.k8s429,
            k8s500: stats.k8s500,
            k8sConflicts: stats.k8sConflicts,
            k8sLostAnswers: stats.k8sLostAnswers,
            asgFaults: Object.fromEntries(world.stack.asg.faultCounts),
            eksFaults: Object.fromEntries(world.stack.eks.faultCounts),
            imagePullRules: stats.imagePullRules,
            observations: stats.observations,
            harvestPlans: stats.harvestPlans,
            redeliveries: stats.redeliveries,
          }),
        );
      }
      expect(world.violations).toEqual([]);
      expect(leftovers).toEqual([]);
      expect(world.stats.harvestPlans).toBeGreaterThan(0);
    });
  });
}
