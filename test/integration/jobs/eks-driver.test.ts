import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { EksJobDriver } from '../../../adapters/eks/job-driver.ts';
import { driverJobName } from '../../../adapters/eks/manifests/driver-job.ts';
import { DatastoreRunLogStore } from '../../../adapters/jobs/run-logs.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { LocalJobScheduler } from '../../../adapters/scheduler/local.ts';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { ClusterService } from '../../../control/clusters.ts';
import { RunDriver } from '../../../control/job-runs.ts';
import { JobService } from '../../../control/jobs.ts';
import { Provisioner } from '../../../control/provisioner.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { assertRunHistoryInvariants } from '../../../shared/jobs/run-machine.ts';
import type { RunRecord } from '../../../shared/jobs/types.ts';
import { TEST_EKS_CONFIG, startEksStack, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Scheduled-job runs on EKS, end to end over the wire-level fake Kubernetes
 * API server: the real JobService, RunDriver, ClusterService and Provisioner
 * with the EKS compute backend, and the EKS job driver (a Kubernetes Job in
 * the run's cluster namespace). The fake's Job controller creates the driver
 * pod, its scheduler and kubelet run it, and a container script says how the
 * driver process ends (exit code and output). The run clock is a ManualClock,
 * so deadlines are crossed on purpose.
 */
const ALICE = { user: 'alice', admin: false };
const API_URL = 'https://api.recc.example.org';
let stack: EksStack;

beforeAll(async () => {
  stack = await startEksStack();
});
afterAll(async () => {
  await stack.close();
});

interface World {
  jobs: MemoryJobStore;
  clusterStore: InMemoryClusterStore;
  service: JobService;
  runner: RunDriver;
  driver: EksJobDriver;
  logs: DatastoreRunLogStore;
  clock: ManualClock;
  queue: InMemoryWorkQueue;
  provisioner: Provisioner;
}

function world(backendOverrides: Parameters<EksStack['makeBackend']>[0] = {}): World {
  const clock = new ManualClock(Date.now());
  const backend = stack.makeBackend(backendOverrides, { clock });
  const clusterStore = new InMemoryClusterStore();
  const queue = new InMemoryWorkQueue();
  const provisioner = new Provisioner({ store: clusterStore, queue, backend, generateSecrets: async (d) => testSecrets(d.clusterId), clock, logger: silentLogger });
  const clusters = new ClusterService({ store: clusterStore, queue, clock, ids: new SequentialIds() });
  const jobs = new MemoryJobStore();
  const logs = new DatastoreRunLogStore(new MemoryDatastore('RUNLOGS'));
  const driver = new EksJobDriver({ kube: stack.kube, config: TEST_EKS_CONFIG, logs, apiUrl: API_URL });
  const scheduler = new LocalJobScheduler({ store: jobs, clock, fire: async () => undefined, recordMissed: async () => undefined });
  const service = new JobService({ jobs, scheduler, driver, clock });
  const runner = new RunDriver({ jobs, jobService: service, clusters, clusterStore, driver, clock });
  return { jobs, clusterStore, service, runner, driver, logs, clock, queue, provisioner };
}

/** One run-driver step, then every queued provisioner message (the SQS-triggered Lambda, in order). */
async function stepUntil(w: World, runId: string, done: (run: RunRecord) => boolean, what: string): Promise<RunRecord> {
  return waitFor(
    async () => {
      const run = await w.runner.step(runId);
      for (const { message } of w.queue.drain()) await w.provisioner.handle(message);
      return run && done(run) ? run : undefined;
    },
    { timeoutMs: 60_000, intervalMs: 20, what },
  );
}

async function clusterGone(w: World, clusterId: string): Promise<void> {
  await waitFor(
    async () => {
      for (const { message } of w.queue.drain()) await w.provisioner.handle(message);
      const record = await w.clusterStore.get(clusterId);
      return record?.status === 'DELETED' && stack.fake.namespaceCount((ns) => ns.metadata.annotations?.['recc.io/cluster-id'] === clusterId) === 0;
    },
    { what: `cluster ${clusterId} DELETED and its namespace gone` },
  );
}

const driverPods = (runId: string) => stack.fake.objects('Pod').filter((p) => p.metadata.labels?.['recc.io/run'] === runId);
const body = (name: string, over: Record<string, unknown> = {}) => ({
  name,
  schedule: 'rate(1 hour)',
  cluster: { overrides: { instanceType: 'c5.xlarge', nWorkers: 1, workerCpu: 1, workerMemoryGiB: 1, schedulerCpu: 1, schedulerMemoryGiB: 1 } },
  entry: { module: 'examples/backfill-job.ts', export: 'main', params: { day: '2026-12-04' } },
  ...over,
});

describe('Class: EksJobDriver (scheduled-job runs on the EKS fake)', () => {
  it('runs the driver as a Kubernetes Job in the run cluster namespace with RECC_CLUSTER=id:<its cluster>; exit 0 → SUCCEEDED, logs kept after the cluster is DELETED', async () => {
    // Prepare
    const w = world();
    await w.service.create(ALICE, body('eks-ok'));
    const { run } = await w.service.runNow(ALICE, 'eks-ok');
    const working = stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: 'backfill 2026-12-04: 24 partitions\n' });

    // Act
    const submitted = await stepUntil(w, run.id, (r) => r.status === 'RUNNING', 'the driver to start');
    const clusterId = submitted.clusterId as string;
    const namespace = stack.fake.objects('Namespace').find((ns) => ns.metadata.annotations?.['recc.io/cluster-id'] === clusterId)?.metadata.name as string;
    const job = stack.fake.object('Job', namespace, driverJobName(run.id));
    stack.fake.kubelet.jobs.removeScript(working);
    stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, exitCode: 0, exitLog: 'wrote 24 partitions\n' });
    stack.fake.tick();
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');

    // Assess: the Job is the scheduler pod's twin, pointed at its own cluster.
    expect(job?.metadata.labels).toMatchObject({ 'recc.io/run': run.id, 'recc.io/component': 'driver', 'recc.io/job': 'eks-ok' });
    expect(job?.spec).toMatchObject({ backoffLimit: 0, activeDeadlineSeconds: 4 * 3600 + 120 });
    const pod = job?.spec.template.spec;
    expect(pod).toMatchObject({ restartPolicy: 'Never', serviceAccountName: 'recc-cluster', nodeSelector: { 'recc.io/nodegroup': 'alice-c5-xlarge-nodegroup' } });
    const container = pod.containers[0];
    expect(container.command).toEqual(['node', '--import', 'tsx', '/opt/recc/adapters/jobs/run-entry.ts', 'examples/backfill-job.ts', 'main']);
    const env = Object.fromEntries(container.env.filter((e: { value?: string }) => e.value !== undefined).map((e: { name: string; value: string }) => [e.name, e.value]));
    expect(env).toMatchObject({ RECC_CLUSTER: `id:${clusterId}`, RECC_API_URL: API_URL, RECC_JOB: 'eks-ok', RECC_JOB_RUN: run.id, RECC_JOB_PARAMS: '{"day":"2026-12-04"}', RECC_COMPONENT: 'driver' });
    expect(done).toMatchObject({ status: 'CLEANED', outcome: 'SUCCEEDED', driver: { exitCode: 0 } });
    expect(done.logsRef).toBe(`memory:RUNLOGS/job-runs/${run.id}/driver.log`);
    const history = await w.jobs.runHistory(run.id);
    assertRunHistoryInvariants(history, done);
    expect(history.map((h) => h.to)).toEqual(['PENDING', 'PROVISIONING', 'SUBMITTING', 'RUNNING', 'SUCCEEDED', 'CLEANED']);
    const cluster = await w.clusterStore.get(clusterId);
    expect(cluster?.job).toBe('eks-ok');
    expect(cluster?.spec.tags).toMatchObject({ 'recc-job': 'eks-ok', 'recc-run': run.id });
    await clusterGone(w, clusterId);
    expect((await w.service.logs(ALICE, run.id)).logs).toBe('backfill 2026-12-04: 24 partitions\nwrote 24 partitions\n');
    expect(driverPods(run.id)).toEqual([]);
  });

  it('a failing driver → FAILED with its exit status and the tail of its output; the cluster is deleted', async () => {
    // Prepare
    const w = world();
    await w.service.create(ALICE, body('eks-fail'));
    const { run } = await w.service.runNow(ALICE, 'eks-fail');
    stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: 'loading prices\n', exitCode: 3, exitLog: 'Error: s3://prices/2026-12-04 is missing\n' });

    // Act
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');

    // Assess
    expect(done.outcome).toBe('FAILED');
    expect(done.statusReason).toBe('the driver exited with status 3; stderr: loading prices | Error: s3://prices/2026-12-04 is missing');
    expect(done.driver).toMatchObject({ exitCode: 3, signal: null });
    await clusterGone(w, done.clusterId as string);
    expect((await w.service.logs(ALICE, run.id)).logs).toContain('is missing');
  });

  it('cancel kills the driver (its Job and pod are deleted, its output kept), then deletes the cluster', async () => {
    // Prepare: a driver that never exits by itself.
    const w = world();
    await w.service.create(ALICE, body('eks-cancel'));
    const { run } = await w.service.runNow(ALICE, 'eks-cancel');
    stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: 'working on 2026-12-04\n' });
    const running = await stepUntil(w, run.id, (r) => r.status === 'RUNNING', 'RUNNING');
    const status = await waitFor(async () => {
      const s = await w.driver.status(run.id);
      return s?.running && s.lastOutputAt !== undefined ? s : undefined;
    }, { what: 'the driver pod to run and print' });
    expect(status).toMatchObject({ running: true, lastOutputAt: expect.any(Number) });
    expect(driverPods(run.id)).toHaveLength(1);

    // Act
    await w.service.cancel(ALICE, run.id);
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');

    // Assess
    expect(done).toMatchObject({ outcome: 'CANCELLED', statusReason: 'cancelled by request' });
    expect(stack.fake.objects('Job').filter((j) => j.metadata.labels?.['recc.io/run'] === run.id)).toEqual([]);
    expect(driverPods(run.id)).toEqual([]);
    expect((await w.service.logs(ALICE, run.id)).logs).toBe('working on 2026-12-04\n');
    await clusterGone(w, running.clusterId as string);
  });

  it('an active timeout kills the driver, then deletes the cluster', async () => {
    // Prepare
    const w = world();
    await w.service.create(ALICE, body('eks-active', { timeouts: { activeSeconds: 60 } }));
    const { run } = await w.service.runNow(ALICE, 'eks-active');
    stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: 'still going\n' });
    await stepUntil(w, run.id, (r) => r.status === 'RUNNING', 'RUNNING');
    await waitFor(async () => (await w.driver.status(run.id))?.running && driverPods(run.id)[0]?.status?.phase === 'Running', { what: 'the driver pod to run' });

    // Act
    w.clock.advance(61_000);
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');

    // Assess
    expect(done).toMatchObject({ outcome: 'TIMED_OUT', statusReason: 'the run passed its active timeout' });
    expect(driverPods(run.id)).toEqual([]);
    expect((await w.service.logs(ALICE, run.id)).logs).toContain('still going');
    await clusterGone(w, done.clusterId as string);
  });

  it('a pre-running timeout from an unschedulable spec: the cluster stays PROVISIONING, the run is TIMED_OUT with the reason, the cluster is deleted and no driver ever starts', async () => {
    // Prepare: no node satisfies the job cluster's pods (what the scheduler says of a node affinity nobody matches).
    const w = world();
    const rule = stack.fake.kubelet.addRule({
      match: { labels: { 'recc.io/job': 'eks-stuck' } },
      failure: { kind: 'Unschedulable', message: "0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling." },
    });
    await w.service.create(ALICE, body('eks-stuck', { timeouts: { preRunningSeconds: 300 } }));
    const { run } = await w.service.runNow(ALICE, 'eks-stuck');
    const provisioning = await stepUntil(w, run.id, (r) => r.status === 'PROVISIONING' && r.clusterId !== undefined, 'PROVISIONING with a cluster');
    const clusterId = provisioning.clusterId as string;
    const unschedulable = await waitFor(
      async () => {
        await stepUntil(w, run.id, () => true, 'a step');
        return stack.fake
          .objects('Pod')
          .find((p) => p.metadata.labels?.['recc.io/component'] === 'scheduler' && p.metadata.labels?.['recc.io/cluster'] === clusterId && p.status?.conditions?.[0]?.reason === 'Unschedulable');
      },
      { what: "the cluster's scheduler pod to be Unschedulable" },
    );
    expect(unschedulable.status.conditions[0].message).toMatch(/^0\/3 nodes are available/);
    expect((await w.clusterStore.get(clusterId))?.status).toBe('PROVISIONING');

    // Act: the pre-running deadline passes while the cluster is still PROVISIONING.
    w.clock.advance(301_000);
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');

    // Assess
    expect(done).toMatchObject({ outcome: 'TIMED_OUT', statusReason: 'the cluster was not RUNNING by the pre-running deadline' });
    const history = await w.jobs.runHistory(run.id);
    expect(history.map((h) => h.to)).toEqual(['PENDING', 'PROVISIONING', 'TIMED_OUT', 'CLEANED']);
    expect(history.find((h) => h.to === 'TIMED_OUT')).toMatchObject({ reason: 'the cluster was not RUNNING by the pre-running deadline', stimulusId: expect.stringMatching(/^deadline:pre-running:/) });
    await clusterGone(w, clusterId);
    expect((await w.clusterStore.get(clusterId))?.statusReason).toBeDefined();
    expect(stack.fake.objects('Job').filter((j) => j.metadata.labels?.['recc.io/run'] === run.id)).toEqual([]);
    expect(await w.driver.status(run.id)).toBeUndefined();
    stack.fake.kubelet.removeRule(rule);
  });

  it('a driver Kubernetes stopped at its own deadline is an exit with the reason; kill, copy and status are idempotent once it is gone', async () => {
    // Prepare
    const w = world();
    await w.service.create(ALICE, body('eks-gone'));
    const { run } = await w.service.runNow(ALICE, 'eks-gone');
    stack.fake.kubelet.jobs.addScript({ match: { labels: { 'recc.io/run': run.id } }, startLog: 'hello\n' });
    const running = await stepUntil(w, run.id, (r) => r.status === 'RUNNING', 'RUNNING');
    const namespace = stack.fake.objects('Job').find((j) => j.metadata.labels?.['recc.io/run'] === run.id)?.metadata.namespace as string;

    // Act: Kubernetes' backstop deadline fires (the control plane that should have timed the run out was down);
    // activeDeadlineSeconds may be lowered on a running Job.
    const { batch } = await stack.kube.apis();
    const job = await batch.readNamespacedJob({ name: driverJobName(run.id), namespace });
    await batch.replaceNamespacedJob({ name: driverJobName(run.id), namespace, body: { ...job, spec: { ...job.spec, activeDeadlineSeconds: 1 } } as never });
    const status = await waitFor(async () => {
      stack.fake.tick();
      const s = await w.driver.status(run.id);
      return s && !s.running ? s : undefined;
    }, { what: 'the driver to be stopped by Kubernetes' });

    // Assess
    expect(status).toMatchObject({ running: false, exitCode: null, signal: 'SIGKILL', stderrTail: expect.stringContaining('Kubernetes stopped the driver: DeadlineExceeded (Job was active longer than specified deadline)') });
    const done = await stepUntil(w, run.id, (r) => r.status === 'CLEANED', 'CLEANED');
    expect(done.outcome).toBe('FAILED');
    expect(done.statusReason).toContain('DeadlineExceeded');
    await w.driver.kill(run.id);
    await w.driver.kill(run.id);
    // Kubernetes deleted the pod at its deadline, and its log with it: nothing to copy, and no error.
    expect(await w.driver.copyLogs(run.id)).toBeUndefined();
    await clusterGone(w, running.clusterId as string);
    expect(await w.driver.status(run.id)).toBeUndefined();
  });
});
