import { describe, expect, it } from 'vitest';
import { JobExistsError, JobStoreConflictError, JobStoreUsageError } from '../../shared/jobs/errors.ts';
import { jobIdFor, runIdFor } from '../../shared/jobs/ids.ts';
import { assertRunHistoryInvariants, handleRunEvent, newRunRecord, revise } from '../../shared/jobs/run-machine.ts';
import type { JobRecord, RunRecord } from '../../shared/jobs/types.ts';
import type { JobStore } from '../../shared/ports/job-store.ts';

/**
 * The JobStore contract (`shared/ports/job-store.ts`), run against every
 * adapter. `makeStore` returns a fresh, empty store.
 */
const T0 = Date.UTC(2026, 11, 4, 18, 0);
const iso = (ms: number) => new Date(ms).toISOString();

export function sampleJob(owner: string, name: string, at = T0): JobRecord {
  return {
    id: jobIdFor(owner, name),
    owner,
    name,
    namespace: `recc-${owner}`,
    schedule: 'rate(1 minute)',
    timezone: 'UTC',
    // A user map with awkward keys must survive the round trip.
    cluster: { template: 'small', overrides: { env: { constructor: 'x', A: '1' } } },
    entry: { kind: 'module', module: 'examples/backfill-job.ts', params: { day: '2026-12-04', n: 3, dry: false } },
    timeouts: { preRunningSeconds: 60, activeSeconds: 600, idleSeconds: 300 },
    retries: { limit: 0, backoffSeconds: 60, maxBackoffSeconds: 600 },
    concurrency: 'Forbid',
    catchUp: 'run-latest',
    cleanup: { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, runRecordTtlDays: 30 },
    enabled: true,
    version: 1,
    createdAt: iso(at),
    updatedAt: iso(at),
    scheduleAnchorAt: iso(at),
  };
}

function sampleRun(job: JobRecord, scheduledAt: number) {
  return newRunRecord(
    { id: runIdFor(job.id, scheduledAt), jobId: job.id, jobName: job.name, owner: job.owner, scheduledAt: iso(scheduledAt), trigger: 'schedule', at: iso(scheduledAt + 5), ttlDays: 30 },
    { actor: 'scheduler', stimulusId: `fire:${scheduledAt}` },
  );
}

const POLICY = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };

export function jobStoreConformance(name: string, makeStore: () => Promise<{ store: JobStore; cleanup?: () => Promise<void> }>): void {
  describe(`JobStore conformance: ${name}`, () => {
    it('creates, reads, lists by owner and all, updates conditionally and deletes jobs', async () => {
      const { store, cleanup } = await makeStore();
      try {
        const a = await store.createJob(sampleJob('alice', 'nightly'));
        await store.createJob(sampleJob('alice', 'hourly', T0 + 1000));
        await store.createJob(sampleJob('bob', 'nightly', T0 + 2000));
        await expect(store.createJob(sampleJob('alice', 'nightly'))).rejects.toBeInstanceOf(JobExistsError);
        expect(await store.getJob(a.id)).toEqual(a);
        expect((await store.listJobs('alice')).map((j) => j.name)).toEqual(['hourly', 'nightly']);
        expect((await store.listJobs()).map((j) => `${j.owner}/${j.name}`)).toEqual(['bob/nightly', 'alice/hourly', 'alice/nightly']);

        const next = { ...a, schedule: 'rate(5 minutes)', version: 2, updatedAt: iso(T0 + 10) };
        await store.putJob(next, 1);
        const stale = { ...a, schedule: 'rate(2 minutes)', version: 2 };
        const err = await store.putJob(stale, 1).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(JobStoreConflictError);
        expect((err as JobStoreConflictError).current).toMatchObject({ version: 2, schedule: 'rate(5 minutes)' });
        await expect(store.putJob({ ...a, version: 5 }, 2)).rejects.toBeInstanceOf(JobStoreUsageError);

        await store.deleteJob(a.id);
        await store.deleteJob(a.id);
        expect(await store.getJob(a.id)).toBeUndefined();
        expect((await store.listJobs('alice')).map((j) => j.name)).toEqual(['hourly']);
      } finally {
        await cleanup?.();
      }
    });

    it('starts exactly one run for 10 concurrent creates of the same (job, fire time)', async () => {
      const { store, cleanup } = await makeStore();
      try {
        const job = await store.createJob(sampleJob('alice', 'nightly'));
        const results = await Promise.all(Array.from({ length: 10 }, () => store.createRun(sampleRun(job, T0).run, sampleRun(job, T0).change)));
        expect(results.filter((r) => r.created)).toHaveLength(1);
        expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
        expect(await store.listRuns(job.id)).toHaveLength(1);
        expect(await store.runHistory(results[0]!.run.id)).toHaveLength(1);
      } finally {
        await cleanup?.();
      }
    });

    it('pages a job\'s runs newest first after a cursor: every run once over several pages, and runs fired meanwhile never shift a page', async () => {
      const { store, cleanup } = await makeStore();
      try {
        // Prepare: 7 runs a minute apart, plus another job's run at the same times.
        const job = await store.createJob(sampleJob('alice', 'paged'));
        const other = await store.createJob(sampleJob('bob', 'paged'));
        for (let i = 0; i < 7; i += 1) {
          await store.createRun(sampleRun(job, T0 + i * 60_000).run, sampleRun(job, T0 + i * 60_000).change);
          await store.createRun(sampleRun(other, T0 + i * 60_000).run, sampleRun(other, T0 + i * 60_000).change);
        }
        const expected = Array.from({ length: 7 }, (_, i) => iso(T0 + (6 - i) * 60_000));

        // Act: pages of 3, with a newer run fired between the first and second page.
        const seen: string[] = [];
        let after: { scheduledAt: string; id: string } | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.listRuns(job.id, { limit: 3, ...(after ? { after } : {}) });
          pages += 1;
          seen.push(...page.map((r) => r.scheduledAt));
          if (pages === 1) await store.createRun(sampleRun(job, T0 + 3_600_000).run, sampleRun(job, T0 + 3_600_000).change);
          if (page.length < 3) break;
          const last = page.at(-1)!;
          after = { scheduledAt: last.scheduledAt, id: last.id };
        }

        // Assess
        expect(seen).toEqual(expected);
        expect(pages).toBe(3);
        expect(await store.listRuns(job.id, { limit: 3, after: { scheduledAt: iso(T0), id: runIdFor(job.id, T0) } })).toEqual([]);
        expect((await store.listRuns(job.id)).map((r) => r.scheduledAt)).toEqual([iso(T0 + 3_600_000), ...expected]);
      } finally {
        await cleanup?.();
      }
    });

    it('moves a run through its states with history, lists runs by job newest first and unfinished runs', async () => {
      const { store, cleanup } = await makeStore();
      try {
        const job = await store.createJob(sampleJob('alice', 'nightly'));
        const other = await store.createJob(sampleJob('bob', 'nightly'));
        const first = await store.createRun(sampleRun(job, T0).run, sampleRun(job, T0).change);
        await store.createRun(sampleRun(job, T0 + 60_000).run, sampleRun(job, T0 + 60_000).change);
        await store.createRun(sampleRun(other, T0).run, sampleRun(other, T0).change);
        expect((await store.listRuns(job.id)).map((r) => r.scheduledAt)).toEqual([iso(T0 + 60_000), iso(T0)]);
        expect(await store.listRuns(job.id, { limit: 1 })).toHaveLength(1);

        let run: RunRecord = first.run;
        const history = [sampleRun(job, T0).change];
        const events = [
          { type: 'start', stimulusId: 's', preRunningDeadline: iso(T0 + 60_000), activeDeadline: iso(T0 + 600_000) },
          { type: 'cluster-requested', stimulusId: 'c', clusterId: 'c-1' },
          { type: 'cluster-running', stimulusId: 'r' },
          { type: 'driver-started', stimulusId: 'd', pid: 7 },
          { type: 'driver-exited', stimulusId: 'x', exitCode: 0, signal: null, stderrTail: '' },
        ] as const;
        for (const e of events) {
          const step = handleRunEvent(run, e, POLICY, { actor: 'test', at: iso(T0 + 1000) });
          if (step.kind === 'ignored') throw new Error(step.why);
          run = await store.putRun(step.next, run.version, step.kind === 'changed' ? step.change : undefined);
          if (step.kind === 'changed') history.push(step.change);
        }
        expect((await store.getRun(run.id))?.status).toBe('SUCCEEDED');
        // SUCCEEDED is unfinished until CLEANED: the driver still has to tear down.
        expect((await store.listUnfinishedRuns()).map((r) => r.id)).toContain(run.id);
        const clean = handleRunEvent(run, { type: 'cleaned', stimulusId: 'cl', logsRef: 'x', cost: 0.5 }, POLICY, { actor: 'test', at: iso(T0 + 2000) });
        if (clean.kind !== 'changed') throw new Error('not changed');
        run = await store.putRun(clean.next, run.version, clean.change);
        history.push(clean.change);
        expect(await store.getRun(run.id)).toEqual(run);
        expect((await store.listUnfinishedRuns()).map((r) => r.id)).not.toContain(run.id);
        const stored = await store.runHistory(run.id);
        expect(stored).toEqual(history);
        assertRunHistoryInvariants(stored, run);

        const err = await store.putRun(revise(first.run, iso(T0 + 5), { clusterId: 'c-x' }), 1).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(JobStoreConflictError);
        expect((err as JobStoreConflictError).current).toMatchObject({ status: 'CLEANED' });
      } finally {
        await cleanup?.();
      }
    });
  });
}
