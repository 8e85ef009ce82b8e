import { describe, expect, it } from 'vitest';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { planStuckRuns, reconcileStuckRuns } from '../../../control/job-reconcile.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { handleRunEvent, newRunRecord } from '../../../shared/jobs/run-machine.ts';
import type { RunRecord } from '../../../shared/jobs/types.ts';

const T0 = Date.UTC(2026, 11, 4, 18, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const POLICY = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };

function runningRun(id: string): RunRecord {
  let { run } = newRunRecord({ id, jobId: 'j-1', jobName: 'n', owner: 'alice', scheduledAt: iso(T0), trigger: 'schedule', at: iso(T0), ttlDays: 1 }, { actor: 't', stimulusId: 's' });
  for (const e of [
    { type: 'start', stimulusId: 's', preRunningDeadline: iso(T0 + 60_000), activeDeadline: iso(T0 + 600_000) },
    { type: 'cluster-requested', stimulusId: 'c', clusterId: `c-${id}` },
    { type: 'cluster-running', stimulusId: 'r' },
    { type: 'driver-started', stimulusId: 'd', pid: 1 },
  ] as const) {
    const step = handleRunEvent(run, e, POLICY, { actor: 't', at: iso(T0) });
    if (step.kind !== 'ignored') run = step.next;
  }
  return run;
}

describe('harvester run reconcile', () => {
  it('fails runs stuck past their deadline or whose cluster vanished, and leaves recent ones to the run driver', () => {
    const stuck = runningRun('r-a');
    const orphaned = runningRun('r-b');
    const fine = runningRun('r-c');
    const clusters = new Map<string, string | undefined>([['c-r-a', 'RUNNING'], ['c-r-c', 'RUNNING']]);
    expect(planStuckRuns([stuck, orphaned, fine], clusters, T0 + 700_000 + 300_000, 300_000).map((s) => s.runId)).toEqual(['r-a', 'r-b', 'r-c']);
    expect(planStuckRuns([orphaned, fine], clusters, T0 + 200_000, 300_000)).toEqual([]);
    expect(planStuckRuns([orphaned, fine], clusters, T0 + 400_000, 300_000)).toEqual([
      { runId: 'r-b', reason: 'its cluster c-r-b vanished (reconciled by the harvester)' },
    ]);
  });

  it('stores FAILED with the reason through the transition table', async () => {
    const jobs = new MemoryJobStore();
    const run = runningRun('r-a');
    const first = newRunRecord({ id: 'r-a', jobId: 'j-1', jobName: 'n', owner: 'alice', scheduledAt: iso(T0), trigger: 'schedule', at: iso(T0), ttlDays: 1 }, { actor: 't', stimulusId: 's' });
    await jobs.createRun(first.run, first.change);
    // Store the RUNNING state directly (history is not the point here).
    await jobs.putRun({ ...run, version: 2 }, 1);
    const done = await reconcileStuckRuns({ jobs, clusterStore: new InMemoryClusterStore(), clock: new ManualClock(T0 + 400_000), graceMs: 300_000 });
    expect(done).toHaveLength(1);
    expect(await jobs.getRun('r-a')).toMatchObject({ status: 'FAILED', outcome: 'FAILED', statusReason: 'its cluster c-r-a vanished (reconciled by the harvester)' });
  });
});
