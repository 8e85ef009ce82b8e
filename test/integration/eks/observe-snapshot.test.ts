import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import type { Observation } from '../../../shared/ports/compute-backend.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * An observation judges the pods it read against the moment it read them
 * (issue 22 chaos run, seeds 10, 25, 27, 35 and 38). observe lists the pods
 * first and reads the node group afterwards; the Auto Scaling calls of that
 * read retry throttling for up to ~25 s. A node that turned Ready during
 * those retries, and on which the pods were bound meanwhile, must not make
 * the pods' older "0/1 nodes are available" look settled: the scheduler had
 * no chance to retry them before the pods were read.
 *
 * Time is a manual clock shared by the fake, Auto Scaling and the backend;
 * the slow read is an Auto Scaling gate that lets 40 s pass (controllers
 * running) while the backend waits for DescribeAutoScalingGroups.
 */
describe('EKS observe judges its pod snapshot at the time it was read', () => {
  let clock: ManualClock;
  let stack: EksStack;
  let backend: EksComputeBackend;
  let slowDescribeMs = 0;
  let joined = 0;

  const advance = (ms: number) => {
    for (let left = ms; left > 0; left -= 1_000) {
      clock.advance(Math.min(1_000, left));
      stack.fake.tick();
    }
  };
  const permanent = (o: Observation) => o.failures.filter((f) => f.permanent);

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 11, 6, 3));
    slowDescribeMs = 0;
    joined = 0;
    stack = await startEksStack({
      now: () => clock.now(),
      // Nodes join NotReady (CNI start): the first turns Ready after 1 s, the second after 60 s; the scheduler
      // backs off 1 s doubling to 10 s.
      timing: { nodeReadyMs: () => (++joined === 1 ? 1_000 : 60_000), schedulerBackoff: true },
      gate: (command) => {
        if (command !== 'DescribeAutoScalingGroups' || slowDescribeMs === 0) return;
        const ms = slowDescribeMs;
        slowDescribeMs = 0;
        advance(ms);
      },
    });
    backend = stack.makeBackend({}, { clock });
  });

  afterEach(async () => {
    await stack.close();
  });

  it('does not call pods permanently Unschedulable because the node they waited for turned Ready while the node group was read', async () => {
    // Prepare: 4 workers need 2 nodes. The pods that do not fit the first node meet the second NotReady and stay
    // Unschedulable ("Insufficient …" on the first, not-ready on the second) until it turns Ready at 60 s.
    const def = testDefinition({ clusterId: 'c-slow-read', workers: 4 });
    await backend.apply(def, testSecrets(def.clusterId));
    advance(55_000);
    const waiting = await backend.observe(def.clusterId);
    expect(waiting.ready).toBe(false);
    expect(waiting.failures.find((f) => f.reason === 'Unschedulable')?.message).toMatch(/Insufficient/);
    expect(permanent(waiting)).toEqual([]);

    // Act: the node group read is throttled for 40 s; the second node turns Ready and the pods are bound meanwhile.
    slowDescribeMs = 40_000;
    const slow = await backend.observe(def.clusterId);
    const next = await backend.observe(def.clusterId);

    // Assess
    expect(slowDescribeMs).toBe(0);
    expect(stack.fake.objects('Pod', def.namespace).every((p) => Boolean(p.spec?.nodeName))).toBe(true);
    expect(permanent(slow)).toEqual([]);
    expect(permanent(next)).toEqual([]);
    expect(next.ready).toBe(true);
  });
});
