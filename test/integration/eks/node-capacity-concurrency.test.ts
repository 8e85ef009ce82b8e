import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plannedNodes, type EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { startEksStack, testDefinition, testSecrets, TEST_EKS_CONFIG, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Must show: two users creating, scaling and deleting 20 clusters
 * concurrently, with mixed instance types, through three backend instances
 * (as several provisioner invocations would), with every AWS call delayed by
 * a pseudo-random number of event-loop turns so that the calls interleave.
 *
 * At every quiet point, each node group's desired capacity equals the sum of
 * the nodes its user's live clusters of that type need (computed here
 * independently with the planner), no node hosting a live cluster's pod was
 * ever terminated, every live cluster is ready, and each user's access entry
 * is scoped to exactly their live namespaces. At the end every group is at 0
 * with no instances, no namespace is left and no access entry remains.
 */
const USERS = ['arathe', 'bkim'] as const;
const TYPES = ['c5.xlarge', 'm5.large', 'r5.large'] as const;

interface Tracked {
  def: ClusterDefinition;
  workers: number;
  live: boolean;
}

describe('Class: EksComputeBackend (node capacity under concurrency)', () => {
  let stack: EksStack;
  let backends: EksComputeBackend[];
  const clusters = new Map<string, Tracked>();
  let turn = 0;
  const backend = () => backends[turn++ % backends.length]!;

  beforeAll(async () => {
    stack = await startEksStack({ latency: true });
    backends = [stack.makeBackend(), stack.makeBackend(), stack.makeBackend()];
    for (let i = 0; i < 20; i += 1) {
      const owner = USERS[i % 2]!;
      const instanceType = TYPES[i % 3]!;
      const workers = 1 + (i % 4);
      const def = testDefinition({ clusterId: `cc-${String(i).padStart(2, '0')}`, owner, instanceType, workers, job: `job-${i % 5}` });
      clusters.set(def.clusterId, { def, workers, live: false });
    }
  });

  afterAll(async () => {
    await stack?.close();
  });

  const ids = (from: number, to: number) => [...clusters.keys()].slice(from, to);

  async function create(id: string): Promise<void> {
    const c = clusters.get(id)!;
    c.live = true;
    await backend().apply(c.def, testSecrets(id));
  }

  async function remove(id: string): Promise<void> {
    clusters.get(id)!.live = false;
    await backend().teardown(id);
  }

  async function scale(id: string, workers: number): Promise<void> {
    clusters.get(id)!.workers = workers;
    await backend().scale(id, workers);
  }

  /** Expected desired capacity per group, computed with the planner from this test's own bookkeeping. */
  function expectedDesired(): Map<string, number> {
    const out = new Map<string, number>();
    for (const c of clusters.values()) {
      const group = nodeGroupName(c.def.owner, c.def.plan.instanceType);
      const nodes = c.live ? plannedNodes(c.def.spec, c.def.plan, c.workers) : 0;
      out.set(group, (out.get(group) ?? 0) + nodes);
    }
    return out;
  }

  async function assertQuietPoint(label: string): Promise<void> {
    const expected = expectedDesired();
    // Every group the model holds, and every group that should hold capacity.
    const groups = new Set([...stack.asg.groupNames(), ...[...expected].filter(([, n]) => n > 0).map(([g]) => g)]);
    for (const g of groups) {
      const state = stack.asg.group(g);
      expect({ label, group: g, desired: state?.desired ?? 0 }).toEqual({ label, group: g, desired: expected.get(g) ?? 0 });
      expect(state?.instances.length ?? 0).toBeGreaterThanOrEqual(expected.get(g) ?? 0);
    }
    // No live cluster's pod was ever on a node that scale-in removed.
    expect(stack.fake.kubelet.evictions).toEqual([]);
    for (const [id, c] of clusters) {
      const o = await backends[0]!.observe(id);
      if (c.live) {
        expect({ label, id, ready: o.ready, workersDesired: o.workersDesired, permanent: o.failures.filter((f) => f.permanent) }).toEqual({
          label,
          id,
          ready: true,
          workersDesired: c.workers,
          permanent: [],
        });
      } else {
        expect({ label, id, live: o.exists && o.ready }).toEqual({ label, id, live: false });
      }
    }
    for (const owner of USERS) {
      const liveNamespaces = [...clusters.values()].filter((c) => c.live && c.def.owner === owner).map((c) => c.def.namespace).sort();
      const entry = stack.eks.entries.get(`arn:aws:iam::123456789012:role/recc-user-${owner}`);
      if (liveNamespaces.length === 0) expect(entry).toBeUndefined();
      else expect([...(entry?.associations.values() ?? [])].map((a) => a.namespaces)).toEqual([liveNamespaces]);
    }
  }

  it('keeps each group at the sum of its live clusters while 20 clusters are created, scaled and deleted concurrently', async () => {
    // Prepare / Act: 12 concurrent creates.
    await Promise.all(ids(0, 12).map(create));
    await assertQuietPoint('after 12 concurrent creates');

    // Act: delete 6 while 8 more are created.
    await Promise.all([...ids(0, 6).map(remove), ...ids(12, 20).map(create)]);
    await assertQuietPoint('after 6 deletes racing 8 creates');

    // Act: scale 4 clusters up and down while 3 others are deleted.
    await Promise.all([scale('cc-06', 4), scale('cc-07', 1), scale('cc-12', 3), scale('cc-13', 1), ...ids(9, 12).map(remove)]);
    await assertQuietPoint('after scaling racing deletes');

    // Act: everything goes, concurrently.
    await Promise.all([...clusters.entries()].filter(([, c]) => c.live).map(([id]) => remove(id)));

    // Assess
    await assertQuietPoint('after deleting everything');
    for (const g of stack.asg.groupNames()) {
      expect({ g, desired: stack.asg.group(g)?.desired, instances: stack.asg.group(g)?.instances.length }).toEqual({ g, desired: 0, instances: 0 });
    }
    await waitFor(() => stack.fake.namespaceCount() === 0, { what: 'no namespace left', timeoutMs: 20_000 });
    expect(stack.fake.objects('Pod')).toEqual([]);
    expect(stack.fake.objects('Node')).toEqual([]);
    expect(stack.eks.entries.size).toBe(0);
    // Both users and all three instance types really were exercised.
    expect(stack.asg.groupNames()).toEqual(
      USERS.flatMap((u) => TYPES.map((t) => nodeGroupName(u, t, TEST_EKS_CONFIG.nodeGroupPrefix))).sort(),
    );
    // Desired capacity only ever moved to recomputed values: it never went negative or above the quota.
    for (const h of stack.asg.desiredHistory) {
      expect(h.desired).toBeGreaterThanOrEqual(0);
      expect(h.desired).toBeLessThanOrEqual(TEST_EKS_CONFIG.maxNodesPerGroup);
    }
  });
});
