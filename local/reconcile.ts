import type { Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import { transition } from '../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../shared/lifecycle/types.ts';
import type { ClusterQueues } from '../shared/ports/cluster-queues.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { ComputeBackend } from '../shared/ports/compute-backend.ts';
import { VersionConflictError } from '../shared/ports/errors.ts';
import type { WorkQueue } from '../shared/ports/work-queue.ts';

/**
 * What `recc up` does on start, before serving: the store (LevelDB) kept the
 * records but the queue (in memory) lost its messages, and cluster processes
 * may or may not have survived.
 *
 * - RUNNING whose scheduler process is alive → stays RUNNING;
 *   otherwise → its leftovers are removed and it becomes FAILED with a reason.
 * - PROVISIONING with processes alive → re-queued so provisioning continues;
 *   with nothing alive → FAILED with a reason.
 * - REQUESTED → re-queued; DELETING → re-queued (the teardown finishes).
 * - Processes of clusters with no live record (orphans) → torn down.
 */
export interface ReconcileDeps {
  store: ClusterStore;
  backend: ComputeBackend;
  queue: WorkQueue;
  /** Per-cluster SQS queues: fauxqs keeps them in memory, so surviving clusters get theirs again. */
  clusterQueues?: ClusterQueues;
  clock: Clock;
  logger: Logger;
}

export interface ReconcileReport {
  keptRunning: string[];
  failed: Array<{ id: string; reason: string }>;
  requeued: string[];
  orphansRemoved: string[];
}

export const RECONCILE_ACTOR = 'local-stack';

export async function reconcileOnStart(deps: ReconcileDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { keptRunning: [], failed: [], requeued: [], orphansRemoved: [] };
  const live = await deps.store.listLive();
  const liveIds = new Set(live.map((r) => r.id));

  for (const record of live) {
    const log = deps.logger.child({ clusterId: record.id, status: record.status });
    if (record.status === 'REQUESTED' || record.status === 'DELETING') {
      await deps.queue.send({ clusterId: record.id, cause: record.status === 'DELETING' ? 'delete-requested' : 'created' });
      report.requeued.push(record.id);
      continue;
    }
    const observation = await deps.backend.observe(record.id);
    const alive = observation.exists && !observation.failures.some((f) => f.permanent && f.component === 'scheduler');
    // Alive is enough: a scheduler that is up but not answering is the harvester's
    // business (scheduler-unreachable), not a reason to fail it at start.
    if (record.status === 'RUNNING' && alive) {
      log.info('reconcile: cluster processes are alive; it stays RUNNING');
      report.keptRunning.push(record.id);
      await ensureQueues(deps, record);
      if (observation.workersDesired !== record.desiredWorkers) await deps.queue.send({ clusterId: record.id, cause: 'scale' });
      continue;
    }
    if (record.status === 'PROVISIONING' && alive) {
      await ensureQueues(deps, record);
      await deps.queue.send({ clusterId: record.id, cause: 'requeue' });
      report.requeued.push(record.id);
      continue;
    }
    const reason =
      record.status === 'RUNNING'
        ? 'the local stack (recc up) restarted and the cluster\'s scheduler process was no longer running; create a new cluster'
        : 'the local stack (recc up) stopped while the cluster was provisioning and its processes are gone; create it again';
    await deps.backend.teardown(record.id);
    if (await markFailed(deps, record, reason)) report.failed.push({ id: record.id, reason });
    log.warn('reconcile: cluster marked FAILED', { reason });
  }

  for (const ref of await deps.backend.list()) {
    if (liveIds.has(ref.clusterId)) continue;
    await deps.backend.teardown(ref.clusterId);
    report.orphansRemoved.push(ref.clusterId);
    deps.logger.warn('reconcile: removed processes of a cluster with no live record', { clusterId: ref.clusterId });
  }
  return report;
}

/** Recreate a surviving cluster's queues (same names, same URLs while fauxqs kept its port). */
async function ensureQueues(deps: ReconcileDeps, record: ClusterRecord): Promise<void> {
  if (!deps.clusterQueues) return;
  try {
    await deps.clusterQueues.ensureClusterQueues({ clusterId: record.id, owner: record.owner, namespace: record.namespace, ...(record.job !== undefined ? { job: record.job } : {}) });
  } catch (err) {
    deps.logger.warn('reconcile: could not recreate the cluster\'s SQS queues; its SQS route is down', { clusterId: record.id, error: err });
  }
}

async function markFailed(deps: ReconcileDeps, initial: ClusterRecord, reason: string): Promise<boolean> {
  let record: ClusterRecord | undefined = initial;
  for (let attempt = 0; attempt < 5 && record; attempt += 1) {
    if (record.status === 'DELETED' || record.status === 'FAILED') return false;
    const { next, change } = transition(record, 'FAILED', { actor: RECONCILE_ACTOR, at: new Date(deps.clock.now()).toISOString(), reason });
    try {
      await deps.store.put(next, record.version, change);
      return true;
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      record = err.current ?? (await deps.store.get(initial.id));
    }
  }
  return false;
}
