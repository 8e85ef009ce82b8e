import type { ClusterSpec } from './types.ts';

/**
 * The built-in default: c5.xlarge, 20 workers of 1 vCPU and 1.5 GiB.
 *
 * Scheduler size — 1 vCPU, 2 GiB, and why:
 * - The recc scheduler is a single Node.js event loop. It can use one core
 *   and no more, and it is the throughput ceiling of the whole cluster, so it
 *   gets exactly one full core: less would be CPU-throttled (CFS quota) and slow
 *   every worker down; more would sit idle.
 * - 2 GiB holds the state of about a million tasks (roughly 1 KiB of metadata
 *   each) plus comm buffers, and stays under V8's default old-space limit,
 *   so the process never needs a tuned heap.
 * - On a c5.xlarge (3.795 vCPU and 6.78 GiB allocatable to pods) it fits
 *   beside two 1-vCPU workers, so the default cluster needs 7 nodes, exactly
 *   as many as its 20 workers alone would (ceil(20 / 3)); the hand
 *   computation is written out in test/unit/plan/planner.test.ts.
 *
 * Idle clusters are culled after 30 minutes and every cluster after 24 hours
 * at most: the classic waste in this field is the zombie cluster.
 */
export const DEFAULT_SPEC: ClusterSpec = deepFreeze({
  instanceType: 'c5.xlarge',
  nWorkers: 20,
  workerCpu: 1,
  workerMemoryGiB: 1.5,
  schedulerCpu: 1,
  schedulerMemoryGiB: 2,
  resources: {},
  env: {},
  idleTimeoutMinutes: 30,
  maxLifetimeHours: 24,
  tags: {},
});

/** A fresh, mutable copy of the default spec. */
export function defaultSpec(): ClusterSpec {
  return structuredClone(DEFAULT_SPEC) as ClusterSpec;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
