import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { EksJobDriver } from '../../../adapters/eks/job-driver.ts';
import { EKS_LABELS } from '../../../adapters/eks/manifests/naming.ts';
import { CloudWatchLogReader, ensureLogGroup } from '../../../adapters/logs/reader.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import { FakeCloudWatchLogs } from '../../fakes/cloudwatch-logs-server.ts';
import { runCli } from '../../support/cli-run.ts';
import { repoPath, startRecc } from '../../support/engine.ts';
import { TEST_EKS_CONFIG, startEksStack, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 21, "on the EKS fake": a cluster is created through the API and
 * applied by the EKS backend (with the stage's log group) on the fake
 * Kubernetes API server, and a scheduled-job run's driver Job is created by
 * the EKS job driver. The scheduler, worker and driver then run as real
 * processes with the logging environment their pods were given (the
 * rendered Deployments' and the Job's env, POD_NAME resolved from the
 * downward API as the kubelet does), shipping to a wire-level fake
 * CloudWatch Logs. The cluster is deleted (namespace gone, pods stopped with
 * SIGTERM), and `recc cluster logs ID` prints the scheduler's, workers' and
 * driver's lines, each naming its cluster, user, namespace, run and pod.
 */
const GROUP = '/recc/test/clusters';
/** The names the shipper reads (adapters/logs/context.ts, process.ts); nothing else of the pod's env is needed to run here. */
const LOG_ENV = new Set(['RECC_LOG_GROUP', 'AWS_REGION', 'RECC_CLUSTER_ID', 'RECC_OWNER', 'RECC_NAMESPACE', 'RECC_JOB', 'RECC_JOB_RUN', 'RECC_COMPONENT', 'POD_NAME']);

/** The logging env of a pod as the kubelet would give it: plain values, and fieldRef metadata.name → the pod's name. */
function podLogEnv(pod: any): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of pod.spec.containers[0].env ?? []) {
    if (!LOG_ENV.has(e.name)) continue;
    if (e.valueFrom?.fieldRef?.fieldPath === 'metadata.name') out[e.name] = pod.metadata.name;
    else if (typeof e.value === 'string') out[e.name] = e.value;
  }
  return out;
}

describe('cluster logs on the EKS fake, after the cluster is deleted', () => {
  let cw: FakeCloudWatchLogs;
  let stack: EksStack;
  let backend: EksComputeBackend;
  let aliceApi: ApiServer;
  let bobApi: ApiServer;
  let store: InMemoryClusterStore;
  let dir: string;

  beforeAll(async () => {
    cw = await FakeCloudWatchLogs.start();
    const logs = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: cw.url, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await ensureLogGroup(logs, GROUP, 30);
    stack = await startEksStack();
    backend = stack.makeBackend({ logGroup: GROUP });
    store = new InMemoryClusterStore();
    const deps = { store, queue: new InMemoryWorkQueue(), clock: systemClock, ids: randomIds, logger: silentLogger, logs: new CloudWatchLogReader(logs, GROUP), retentionDays: 30 };
    aliceApi = await startApiServer({ port: 0, deps, identity: { user: 'alice' } });
    bobApi = await startApiServer({ port: 0, deps, identity: { user: 'bob' } });
    dir = mkdtempSync(join(tmpdir(), 'recc-eks-logs-'));
  }, 60_000);

  afterAll(async () => {
    await aliceApi?.close();
    await bobApi?.close();
    await stack?.close();
    await cw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("prints the scheduler's, worker's and driver's lines once the cluster and its namespace are gone", async () => {
    // Prepare: a scheduled job's cluster (its quota has room for the driver pod), as the API records it and the provisioner applies it on EKS.
    const res = await fetch(`${aliceApi.url}/clusters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nWorkers: 1, instanceType: 'c5.xlarge', job: 'nightly' }) });
    expect(res.status).toBe(202);
    const { cluster } = (await res.json()) as { cluster: { id: string } };
    const record = (await store.get(cluster.id))!;
    await backend.apply(renderCluster({ clusterId: record.id, owner: record.owner, namespace: record.namespace, spec: record.spec, plan: record.plan }, { defaultImage: TEST_EKS_IMAGE }), testSecrets(record.id));
    const driverJobs = new EksJobDriver({ kube: stack.kube, config: { ...TEST_EKS_CONFIG, logGroup: GROUP }, logs: { put: async () => undefined, get: async () => undefined } as never });
    const runId = 'r-nightly-20261205t0300';
    await driverJobs.start({ run: { id: runId } as never, job: { name: 'nightly', entry: { kind: 'module', module: 'job.mjs', export: 'main', params: {} }, timeouts: { activeSeconds: 600 } } as never, clusterId: record.id });
    const podOf = (component: string) =>
      waitFor(() => stack.fake.objects('Pod', record.namespace).find((p) => p.metadata.labels?.[EKS_LABELS.component] === component), { timeoutMs: 30_000, what: `the ${component} pod` });
    const [schedulerPod, workerPod, driverPod] = [await podOf('scheduler'), await podOf('worker'), await podOf('driver')];
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, testSecrets(record.id).token, { mode: 0o600 });
    const aws = { RECC_LOGS_ENDPOINT: cw.url, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    const driverModule = join(dir, 'job.mjs');
    writeFileSync(driverModule, ['export async function main() {', '  console.log("nightly risk: 3 days to backfill");', '  console.error("warning: day 2026-12-03 has no prices");', '}'].join('\n'));

    // Act: the pods' processes run and log; the driver runs to its end.
    const scheduler = startRecc(['scheduler', '--port', '0', '--token-file', tokenFile], { ...podLogEnv(schedulerPod), ...aws });
    const ready = await scheduler.waitForEvent('scheduler.ready');
    const worker = startRecc(['worker', String(ready.address), '--token-file', tokenFile, '--name', 'w1'], { ...podLogEnv(workerPod), ...aws });
    await worker.waitForEvent('worker.ready');
    const driver = await new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', repoPath('adapters/jobs/run-entry.ts'), driverModule, 'main'], {
        env: { ...process.env, ...podLogEnv(driverPod), ...aws },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stderr }));
    });
    // Delete the cluster: the API marks it, the backend tears the namespace down, the pods get SIGTERM.
    expect((await fetch(`${aliceApi.url}/clusters/${record.id}`, { method: 'DELETE' })).status).toBeLessThan(300);
    await backend.teardown(record.id);
    await waitFor(() => stack.fake.objects('Namespace').every((n) => n.metadata.name !== record.namespace), { timeoutMs: 30_000, what: 'the namespace gone' });
    worker.child.kill('SIGTERM');
    scheduler.child.kill('SIGTERM');
    expect(await Promise.all([worker.exited, scheduler.exited])).toEqual([0, 0]);
    const deleting = (await store.get(record.id))!;
    const { next, change } = transition(deleting, 'DELETED', { actor: 'provisioner', at: new Date().toISOString() });
    await store.put(next, deleting.version, change);
    const env = { PATH: process.env.PATH ?? '', HOME: dir };
    const all = await runCli(['cluster', 'logs', record.id, '--api', aliceApi.url], { env });
    const driverJson = await runCli(['cluster', 'logs', record.id, '--component', 'driver', '--json', '--api', aliceApi.url], { env });
    const bob = await runCli(['cluster', 'logs', record.id, '--api', bobApi.url], { env });

    // Assess: the cluster is gone, its lines are not.
    expect(driver.code, driver.stderr).toBe(0);
    expect(stack.fake.objects('Pod', record.namespace)).toEqual([]);
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trim().split('\n');
    for (const c of ['scheduler', 'worker', 'driver']) expect(lines.some((l) => l.startsWith(`[${c}] {`)), `${c} in\n${all.stdout}`).toBe(true);
    expect(all.stdout).toContain('"event":"scheduler.stopped"');
    expect(all.stdout).toContain('"event":"worker.ready"');
    const shipped = (component: string) => cw.events(GROUP, `${record.id}/${component}`).map((e) => JSON.parse(e.message) as Record<string, unknown>);
    for (const [component, pod] of [
      ['scheduler', schedulerPod.metadata.name],
      ['worker', workerPod.metadata.name],
      ['driver', driverPod.metadata.name],
    ] as const) {
      const got = shipped(component);
      expect(got.length, component).toBeGreaterThan(0);
      for (const line of got) expect(line).toMatchObject({ clusterId: record.id, user: 'alice', namespace: record.namespace, job: 'nightly', component, pod });
    }
    expect(driverJson.code, driverJson.stderr).toBe(0);
    const driverLines = driverJson.stdout.trim().split('\n').map((l) => JSON.parse(l) as { component: string; message: string });
    expect(driverLines.map((l) => JSON.parse(l.message) as { message: string; runId: string; job: string })).toEqual([
      expect.objectContaining({ message: 'nightly risk: 3 days to backfill', runId, job: 'nightly' }),
      expect.objectContaining({ message: 'warning: day 2026-12-03 has no prices', runId, job: 'nightly' }),
    ]);
    expect(bob.code).toBe(1);
    expect(bob.stderr).toMatch(new RegExp(`cluster ${record.id} not found`));
  }, 120_000);
});
