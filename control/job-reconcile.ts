import type { Clock } from '../shared/core/clock.ts';
import { JobStoreConflictError } from '../shared/jobs/errors.ts';
import { handleRunEvent, isActiveRun } from '../shared/jobs/run-machine.ts';
import type { RunRecord } from '../shared/jobs/types.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { JobStore } from '../shared/ports/job-store.ts';

/**
 * The harvester's part in scheduled jobs: a run stuck past its deadline (the
 * run driver that should have timed it out is gone), or whose cluster
 * vanished or ended while the run still counts on it, becomes FAILED with a
 * reason. Only runs untouched for `graceMs` are judged, so a live run driver
 * always acts first; the driver's next step (or the idle reaper, for the
 * cluster) does the teardown.
 */
export interface StuckRun {
  runId: string;
  reason: string;
}

export function planStuckRuns(runs: readonly RunRecord[], clusters: ReadonlyMap<string, string | undefined>, now: number, graceMs: number): StuckRun[] {
  const out: StuckRun[] = [];
  for (const run of runs) {
    if (!isActiveRun(run.status) || run.status === 'PENDING') continue;
    if (now - Date.parse(run.updatedAt) < graceMs) continue;
    const deadline = run.status === 'PROVISIONING' ? (run.preRunningDeadline ?? run.activeDeadline) : run.activeDeadline;
    if (deadline !== undefined && now > Date.parse(deadline) + graceMs) {
      out.push({ runId: run.id, reason: `stuck in ${run.status} past its deadline ${deadline} (reconciled by the harvester)` });
      continue;
    }
    if (run.clusterId !== undefined) {
      const status = clusters.get(run.clusterId);
      if (status === undefined || status === 'DELETED' || status === 'FAILED') {
        out.push({ runId: run.id, reason: `its cluster ${run.clusterId} ${status === undefined ? 'vanished' : `is ${status}`} (reconciled by the harvester)` });
      }
    }
  }
  return out;
}

export async function reconcileStuckRuns(deps: { jobs: JobStore; clusterStore: ClusterStore; clock: Clock; graceMs?: number }): Promise<StuckRun[]> {
  const now = deps.clock.now();
  const runs = await deps.jobs.listUnfinishedRuns();
  const clusters = new Map<string, string | undefined>();
  for (const run of runs) if (run.clusterId !== undefined && !clusters.has(run.clusterId)) clusters.set(run.clusterId, (await deps.clusterStore.get(run.clusterId))?.status);
  const done: StuckRun[] = [];
  for (const stuck of planStuckRuns(runs, clusters, now, deps.graceMs ?? 5 * 60_000)) {
    const run = runs.find((r) => r.id === stuck.runId) as RunRecord;
    const policy = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };
    const step = handleRunEvent(run, { type: 'fail', stimulusId: `harvester:${new Date(now).toISOString()}`, reason: stuck.reason }, policy, { actor: 'harvester', at: new Date(now).toISOString() });
    if (step.kind !== 'changed') continue;
    try {
      await deps.jobs.putRun(step.next, run.version, step.change);
      done.push(stuck);
    } catch (err) {
      if (!(err instanceof JobStoreConflictError)) throw err;
    }
  }
  return done;
}
