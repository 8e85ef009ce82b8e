import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LocalJobDriver } from '../../../adapters/jobs/local-driver.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { LocalJobScheduler } from '../../../adapters/scheduler/local.ts';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { ClusterService } from '../../../control/clusters.ts';
import { RunDriver } from '../../../control/job-runs.ts';
import { JobService } from '../../../control/jobs.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { JobValidationError } from '../../../shared/jobs/errors.ts';
import { assertRunHistoryInvariants, assertRunInvariants } from '../../../shared/jobs/run-machine.ts';
import { startFakeProvisioner, type FakeProvisioner } from '../../support/api-fake-provisioner.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/**
 * JobService + RunDriver over real ports: the cluster API use cases on the
 * in-memory store with a scripted provisioner, and the real local driver
 * (child processes) running small entry scripts. The run clock is a
 * ManualClock so deadlines are crossed on purpose, never by waiting.
 */
const ALICE = { user: 'alice', admin: false };
let sourceDir: string;

beforeAll(async () => {
  sourceDir = await mkdtemp(join(tmpdir(), 'recc-jobs-src-'));
  await writeFile(join(sourceDir, 'package.json'), '{"type":"module"}\n');
  await writeFile(join(sourceDir, 'ok.ts'), `console.log('driver on', process.env.RECC_CLUSTER, 'params', process.env.RECC_JOB_PARAMS);\n`);
  await writeFile(join(sourceDir, 'fail.ts'), `console.log('starting');\nconsole.error('boom: the input file is missing');\nprocess.exit(3);\n`);
  await writeFile(join(sourceDir, 'slow.ts'), `console.log('working');\nsetInterval(() => console.log('still working'), 200);\n`);
  await writeFile(join(sourceDir, 'fn.ts'), `export async function main(p: { day: string }) { console.log('main for', p.day); }\n`);
});
afterAll(async () => {
  await rm(sourceDir, { recursive: true, force: true });
});

interface World {
  jobs: MemoryJobStore;
  clusterStore: InMemoryClusterStore;
  service: JobService;
  runner: RunDriver;
  driver: LocalJobDriver;
  clock: ManualClock;
  provisioner?: FakeProvisioner;
  stateDir: string;
}
const worlds: World[] = [];

async function world(options: { provision?: boolean } = {}): Promise<World> {
  const stateDir = await mkdtemp(join(tmpdir(), 'recc-jobs-state-'));
  const clock = new ManualClock(Date.now());
  const clusterStore = new InMemoryClusterStore();
  const queue = new InMemoryWorkQueue();
  const clusters = new ClusterService({ store: clusterStore, queue, clock, ids: new SequentialIds() });
  const jobs = new MemoryJobStore();
  const driver = new LocalJobDriver({ stateDir, apiUrl: 'http://127.0.0.1:9', sourceDir, baseEnv: { PATH: process.env.PATH }, killGraceMs: 2000 });
  const scheduler = new LocalJobScheduler({ store: jobs, clock, fire: async () => undefined, recordMissed: async () => undefined });
  const service = new JobService({ jobs, scheduler, driver, clock });
  const runner = new RunDriver({ jobs, jobService: service, clusters, clusterStore, driver, clock });
  const w: World = { jobs, clusterStore, service, runner, driver, clock, stateDir };
  if (options.provision !== false) w.provisioner = startFakeProvisioner(clusterStore, queue, { tickMs: 20 });
  worlds.push(w);
  return w;
}

afterEach(async () => {
  for (const w of worlds.splice(0)) {
    w.provisioner?.stop();
    await w.driver.close();
    await rm(w.stateDir, { recursive: true, force: true });
  }
});

const body = (over: Record<string, unknown> = {}) => ({ name: 'nightly', schedule: 'rate(1 hour)', cluster: { template: 'small' }, entry: { module: 'ok.ts', params: { day: '2026-12-04' } }, ...over });

async function stepUntil(w: World, runId: string, done: (status: string) => boolean, what: string) {
  return waitFor(
    async () => {
      const run = await w.runner.step(runId);
      return run && done(run.status) ? run : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 50, what },
  );
}

describe('scheduled job runs (JobService + RunDriver + local driver)', () => {
  it('runs the entry on its own cluster tagged with the job, records SUCCEEDED before teardown, deletes the cluster, keeps the logs', async () => {
    const w = await world();
    await w.service.create(ALICE, body());
    const { run, created } = await w.service.runNow(ALICE, 'nightly');
    expect(created).toBe(true);
    const done = await stepUntil(w, run.id, (s) => s === 'CLEANED', 'the run to be CLEANED');
    expect(done).toMatchObject({ status: 'CLEANED', outcome: 'SUCCEEDED', trigger: 'manual' });
    const cluster = await w.clusterStore.get(done.clusterId as string);
    expect(cluster?.job).toBe('nightly');
    expect(cluster?.spec.tags).toMatchObject({ 'recc-job': 'nightly', 'recc-run': run.id });
    expect(typeof done.cost).toBe('number');
    await waitFor(async () => (await w.clusterStore.get(done.clusterId as string))?.status === 'DELETED', { what: 'the cluster to be DELETED' });
    const history = await w.jobs.runHistory(run.id);
    assertRunHistoryInvariants(history, done);
    // The outcome is stored before teardown: SUCCEEDED is a version of its own, CLEANED comes after.
    expect(history.map((h) => h.to)).toEqual(['PENDING', 'PROVISIONING', 'SUBMITTING', 'RUNNING', 'SUCCEEDED', 'CLEANED']);
    const { logs } = await w.service.logs(ALICE, run.id);
    expect(logs).toContain(`driver on id:${done.clusterId} params {"day":"2026-12-04"}`);
    expect((await w.service.runs(ALICE, 'nightly'))[0]).toMatchObject({ id: run.id, result: 'SUCCEEDED', durationMs: expect.any(Number) });
  });

  it('calls a module export with the params', async () => {
    const w = await world();
    await w.service.create(ALICE, body({ entry: { module: 'fn.ts', export: 'main', params: { day: '2026-12-05' } } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    await stepUntil(w, run.id, (s) => s === 'CLEANED', 'CLEANED');
    expect((await w.service.logs(ALICE, run.id)).logs).toContain('main for 2026-12-05');
  });

  it('a failing entry → FAILED with the exit status and the tail of stderr; cluster deleted', async () => {
    const w = await world();
    await w.service.create(ALICE, body({ entry: { module: 'fail.ts' } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    const done = await stepUntil(w, run.id, (s) => s === 'CLEANED', 'CLEANED');
    expect(done.outcome).toBe('FAILED');
    expect(done.statusReason).toBe('the driver exited with status 3; stderr: boom: the input file is missing');
    expect(done.driver).toMatchObject({ exitCode: 3 });
    await waitFor(async () => (await w.clusterStore.get(done.clusterId as string))?.status === 'DELETED', { what: 'DELETED' });
  });

  it('an active timeout kills the driver, then deletes the cluster', async () => {
    const w = await world();
    await w.service.create(ALICE, body({ entry: { module: 'slow.ts' }, timeouts: { activeSeconds: 30 } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    const running = await stepUntil(w, run.id, (s) => s === 'RUNNING', 'RUNNING');
    const pid = running.driver?.pid as number;
    expect(isAlive(pid)).toBe(true);
    await waitFor(async () => (await w.service.logs(ALICE, run.id)).logs.includes('working'), { what: 'the driver to print' });
    w.clock.advance(31_000);
    const done = await stepUntil(w, run.id, (s) => s === 'CLEANED', 'CLEANED');
    expect(done).toMatchObject({ outcome: 'TIMED_OUT', statusReason: 'the run passed its active timeout' });
    expect(isAlive(pid)).toBe(false);
    expect((await w.clusterStore.get(done.clusterId as string))?.status).toMatch(/DELETING|DELETED/);
    expect((await w.service.logs(ALICE, run.id)).logs).toContain('working');
  });

  it('a run whose driver died with the stack (restart) → FAILED with a reason, cluster deleted', async () => {
    const w = await world();
    await w.service.create(ALICE, body({ entry: { module: 'slow.ts' } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    await stepUntil(w, run.id, (s) => s === 'RUNNING', 'RUNNING');
    await w.driver.close(); // the old stack stops: its drivers are killed
    // A new stack: a fresh driver adapter and run driver over the same stores.
    const driver = new LocalJobDriver({ stateDir: w.stateDir, apiUrl: 'http://127.0.0.1:9', sourceDir });
    const clusters = new ClusterService({ store: w.clusterStore, queue: new InMemoryWorkQueue(), clock: w.clock, ids: new SequentialIds() });
    const runner = new RunDriver({ jobs: w.jobs, jobService: w.service, clusters, clusterStore: w.clusterStore, driver, clock: w.clock });
    const done = await waitFor(async () => {
      const r = await runner.step(run.id);
      return r?.status === 'CLEANED' ? r : undefined;
    }, { what: 'CLEANED after restart' });
    expect(done).toMatchObject({ outcome: 'FAILED', statusReason: 'the driver was killed by SIGTERM' });
    expect((await w.clusterStore.get(done.clusterId as string))?.status).toMatch(/DELETING|DELETED/);
    // Without even an exit record (kill -9 of the whole stack), the run fails as lost.
    const again = (await w.service.trigger((await w.service.get(ALICE, 'nightly')).id, Date.parse('2026-12-04T10:00:00Z'), 'schedule')).run;
    const running = await stepUntil(w, again.id, (s) => s === 'RUNNING', 'RUNNING again');
    await w.driver.close();
    await rm(join(w.stateDir, 'job-runs', again.id, 'exit.json'), { force: true });
    const lost = await waitFor(async () => {
      const r = await new RunDriver({ jobs: w.jobs, jobService: w.service, clusters, clusterStore: w.clusterStore, driver: new LocalJobDriver({ stateDir: w.stateDir, apiUrl: 'x', sourceDir }), clock: w.clock }).step(again.id);
      return r?.status === 'CLEANED' ? r : undefined;
    }, { what: 'lost driver CLEANED' });
    expect(lost).toMatchObject({ outcome: 'FAILED', statusReason: 'the driver process was lost (the stack restarted while it ran)' });
    expect(isAlive(running.driver?.pid as number)).toBe(false);
  });

  it('a pre-running timeout when the cluster never comes up', async () => {
    const w = await world({ provision: false });
    await w.service.create(ALICE, body({ timeouts: { preRunningSeconds: 60 } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    await stepUntil(w, run.id, (s) => s === 'PROVISIONING', 'PROVISIONING');
    w.clock.advance(61_000);
    const done = await stepUntil(w, run.id, (s) => s === 'CLEANED', 'CLEANED');
    expect(done).toMatchObject({ outcome: 'TIMED_OUT', statusReason: 'the cluster was not RUNNING by the pre-running deadline' });
    expect((await w.clusterStore.get(done.clusterId as string))?.status).toBe('DELETING');
  });

  it('cancel kills the driver and deletes the cluster; a second cancel changes nothing', async () => {
    const w = await world();
    await w.service.create(ALICE, body({ entry: { module: 'slow.ts' } }));
    const { run } = await w.service.runNow(ALICE, 'nightly');
    const running = await stepUntil(w, run.id, (s) => s === 'RUNNING', 'RUNNING');
    await w.service.cancel(ALICE, run.id);
    const done = await stepUntil(w, run.id, (s) => s === 'CLEANED', 'CLEANED');
    expect(done).toMatchObject({ outcome: 'CANCELLED', statusReason: 'cancelled by request' });
    expect(isAlive(running.driver?.pid as number)).toBe(false);
    expect((await w.service.cancel(ALICE, run.id)).version).toBe(done.version);
    await expect(w.service.cancel({ user: 'mallory', admin: false }, run.id)).rejects.toMatchObject({ statusCode: 404 });
  });

  it('Forbid: a trigger while a run is active → SKIPPED; Allow runs both', async () => {
    const w = await world();
    const job = await w.service.create(ALICE, body({ entry: { module: 'slow.ts' } }));
    const first = await w.service.trigger(job.id, Date.parse('2026-12-04T10:00:00Z'), 'schedule');
    const second = await w.service.trigger(job.id, Date.parse('2026-12-04T11:00:00Z'), 'schedule');
    expect(second.run).toMatchObject({ status: 'SKIPPED', statusReason: `Forbid: run ${first.run.id} is still PENDING` });
    await w.service.update(ALICE, 'nightly', { concurrency: 'Allow' });
    const third = await w.service.trigger(job.id, Date.parse('2026-12-04T12:00:00Z'), 'schedule');
    expect(third.run.status).toBe('PENDING');
    await w.service.update(ALICE, 'nightly', { concurrency: 'Replace' });
    const fourth = await w.service.trigger(job.id, Date.parse('2026-12-04T13:00:00Z'), 'schedule');
    expect(fourth.run.status).toBe('PENDING');
    // Replace: the active runs are asked to cancel; the run driver does the rest.
    for (const id of [first.run.id, third.run.id]) expect((await w.jobs.getRun(id))?.cancelRequestedAt).toBeDefined();
    expect((await w.jobs.getRun(fourth.run.id))?.cancelRequestedAt).toBeUndefined();
  });

  it('10 concurrent triggers for one scheduled time → exactly one run', async () => {
    const w = await world();
    const job = await w.service.create(ALICE, body());
    const at = Date.parse('2026-12-04T10:00:00Z');
    const results = await Promise.all(Array.from({ length: 10 }, () => w.service.trigger(job.id, at, 'schedule')));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.run.id)).size).toBe(1);
    expect(await w.service.runs(ALICE, 'nightly')).toHaveLength(1);
  });

  it('bad input → 400 with a detail per problem; names are per owner; others cannot see the job', async () => {
    const w = await world();
    const err = await w.service.create(ALICE, body({ schedule: 'rate(1 minutes)', timezone: 'Nowhere/City', cluster: { template: 'small', overrides: { nWorkers: 0 } } })).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(JobValidationError);
    expect((err as JobValidationError).details.map((d) => d.path).sort()).toEqual(['cluster.overrides.nWorkers', 'schedule', 'timezone']);
    await w.service.create(ALICE, body());
    await expect(w.service.create(ALICE, body())).rejects.toMatchObject({ statusCode: 409 });
    await w.service.create({ user: 'bob', admin: false }, body());
    await expect(w.service.get({ user: 'bob', admin: false }, 'nightly', 'alice')).rejects.toMatchObject({ statusCode: 404 });
    expect((await w.service.get({ user: 'root', admin: true }, 'nightly', 'alice')).owner).toBe('alice');
    const run = (await w.service.runNow(ALICE, 'nightly')).run;
    assertRunInvariants(run);
  });
});
