import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { CloudWatchLogReader, ensureLogGroup } from '../../../adapters/logs/reader.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { FakeCloudWatchLogs } from '../../fakes/cloudwatch-logs-server.ts';
import { recordAt } from '../../support/harvest-fixtures.ts';
import { runCli } from '../../support/cli-run.ts';
import { repoPath, startRecc } from '../../support/engine.ts';

/**
 * Issue 21 end to end over loopback: a real scheduler, worker and job driver
 * ship their lines (RECC_LOG_GROUP) to a wire-level fake CloudWatch Logs
 * endpoint; every line carries cluster, user, namespace, job, run, component
 * and pod; the last lines arrive after SIGTERM; a canary token printed by the
 * job reaches neither CloudWatch nor the container log. Then the cluster is
 * gone, and `recc cluster logs ID` (through the API route that reads
 * CloudWatch) prints the scheduler's, workers' and driver's lines; another
 * user gets 404; a cluster past the retention says when its logs expired.
 */
const GROUP = '/recc/test/clusters';
const CLUSTER = 'c-shiplogs1';
const DAY = 86_400_000;

describe('log shipping from real processes to CloudWatch Logs, read back by recc cluster logs', () => {
  let cw: FakeCloudWatchLogs;
  let logs: CloudWatchLogsClient;
  let dir: string;
  let aliceApi: ApiServer;
  let bobApi: ApiServer;
  let store: InMemoryClusterStore;
  const canary = `recc-canary-${randomBytes(12).toString('hex')}`;

  async function storeEnded(id: string, endedDaysAgo: number): Promise<ClusterRecord> {
    const minutesAgo = (endedDaysAgo * DAY) / 60_000;
    const base = Date.parse('2026-01-01T00:00:00Z');
    const startMinutes = Math.round((Date.now() - base) / 60_000 - minutesAgo - 10);
    const input = { id, owner: 'alice', createdAt: startMinutes, runningAt: startMinutes + 1 };
    const { history } = recordAt('RUNNING', input);
    let current = (await store.create(recordAt('REQUESTED', input).record, history[0]!)).record;
    for (const change of history.slice(1)) {
      const { next, change: c } = transition(current, change.to, { actor: change.actor, at: change.at });
      current = await store.put(next, current.version, c);
    }
    const endAt = new Date(Date.now() - endedDaysAgo * DAY).toISOString();
    for (const to of ['DELETING', 'DELETED'] as const) {
      const { next, change } = transition(current, to, { actor: 'alice', at: endAt });
      current = await store.put(next, current.version, change);
    }
    return current;
  }

  beforeAll(async () => {
    cw = await FakeCloudWatchLogs.start();
    logs = new CloudWatchLogsClient({ region: 'us-east-1', endpoint: cw.url, credentials: { accessKeyId: 'test', secretAccessKey: 'test' } });
    await ensureLogGroup(logs, GROUP, 30);
    dir = mkdtempSync(join(tmpdir(), 'recc-ship-'));
    store = new InMemoryClusterStore();
    const deps = { store, queue: new InMemoryWorkQueue(), clock: systemClock, ids: randomIds, logger: silentLogger, logs: new CloudWatchLogReader(logs, GROUP), retentionDays: 30 };
    aliceApi = await startApiServer({ port: 0, deps, identity: { user: 'alice' } });
    bobApi = await startApiServer({ port: 0, deps, identity: { user: 'bob' } });
  });

  afterAll(async () => {
    await aliceApi?.close();
    await bobApi?.close();
    await cw?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('ships every process’s lines with their context, the last ones after SIGTERM, and never the token', async () => {
    // Prepare
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, canary, { mode: 0o600 });
    const context = { RECC_CLUSTER_ID: CLUSTER, RECC_OWNER: 'alice', RECC_NAMESPACE: 'recc-alice-shiplogs1', RECC_JOB: 'nightly', RECC_RUN_ID: 'r-7' };
    const env = { ...context, RECC_LOG_GROUP: GROUP, RECC_LOGS_ENDPOINT: cw.url, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' };
    const driverModule = join(dir, 'job.mjs');
    writeFileSync(
      driverModule,
      [
        'export async function main(params) {',
        '  console.log(`job starts for ${params.day}`);',
        '  console.log(`debug: connecting with token ${process.env.RECC_SCHEDULER_TOKEN}`);',
        '  console.error(JSON.stringify({ level: "error", message: "a quoted secret", detail: "Authorization: Bearer " + process.env.RECC_SCHEDULER_TOKEN }));',
        '  console.log("job done");',
        '}',
      ].join('\n'),
    );

    // Act: scheduler and worker run, the driver runs to the end, then both get SIGTERM (the namespace is deleted).
    const scheduler = startRecc(['scheduler', '--port', '0', '--token-file', tokenFile], { ...env, POD_NAME: 'recc-scheduler-7d9f-abcde' });
    const ready = await scheduler.waitForEvent('scheduler.ready');
    const worker = startRecc(['worker', String(ready.address), '--token-file', tokenFile, '--name', 'w1'], { ...env, POD_NAME: 'recc-worker-7d9f-fghij' });
    await worker.waitForEvent('worker.ready');
    const driver = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', repoPath('adapters/jobs/run-entry.ts'), driverModule, 'main'], {
        env: { ...process.env, ...env, POD_NAME: 'recc-driver-r-7', RECC_SCHEDULER_TOKEN: canary, RECC_JOB_PARAMS: JSON.stringify({ day: '2026-12-04' }) },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.once('error', reject);
      child.once('close', (code) => resolve({ code, stdout, stderr }));
    });
    worker.child.kill('SIGTERM');
    scheduler.child.kill('SIGTERM');
    const [workerCode, schedulerCode] = await Promise.all([worker.exited, scheduler.exited]);

    // Assess: the streams, the context on every line, the last lines.
    expect(driver.code, driver.stderr).toBe(0);
    expect([workerCode, schedulerCode]).toEqual([0, 0]);
    const parsed = (prefix: string) => cw.events(GROUP, prefix).map((e) => JSON.parse(e.message) as Record<string, unknown>);
    const schedulerLines = parsed(`${CLUSTER}/scheduler`);
    const workerLines = parsed(`${CLUSTER}/worker`);
    const driverLines = parsed(`${CLUSTER}/driver`);
    expect(schedulerLines.map((l) => l.event)).toEqual(expect.arrayContaining(['scheduler.ready', 'scheduler.stopped']));
    expect(workerLines.map((l) => l.event)).toEqual(expect.arrayContaining(['worker.ready', 'worker.stopping']));
    expect(driverLines.map((l) => l.message)).toEqual(['job starts for 2026-12-04', 'debug: connecting with token [redacted]', 'a quoted secret', 'job done']);
    for (const [lines, component, pod] of [
      [schedulerLines, 'scheduler', 'recc-scheduler-7d9f-abcde'],
      [workerLines, 'worker', 'recc-worker-7d9f-fghij'],
      [driverLines, 'driver', 'recc-driver-r-7'],
    ] as const) {
      for (const line of lines) expect(line).toMatchObject({ clusterId: CLUSTER, user: 'alice', namespace: 'recc-alice-shiplogs1', job: 'nightly', runId: 'r-7', component, pod });
    }
    // The canary: not in CloudWatch, not in the container log.
    const everything = JSON.stringify([...cw.events(GROUP)]);
    expect(everything).not.toContain(canary);
    expect(`${driver.stdout}${driver.stderr}${scheduler.stderr}${worker.stderr}`).not.toContain(canary);
    expect(driver.stdout).toContain('debug: connecting with token [redacted]');
    // Only PutLogEvents inputs within the limits (the fake refuses others) and no sequence token.
    expect(cw.calls.filter((c) => c.operation === 'PutLogEvents').every((c) => c.input.sequenceToken === undefined)).toBe(true);
  }, 120_000);

  it('prints the scheduler’s, workers’ and driver’s lines after the cluster is deleted; 404 for another user; says when logs expired', async () => {
    // Prepare: the cluster is DELETED (its namespace is gone); another one ended 40 days ago (30-day retention).
    await storeEnded(CLUSTER, 0);
    await storeEnded('c-old1', 40);
    const env = { PATH: process.env.PATH ?? '', HOME: dir };

    // Act
    const all = await runCli(['cluster', 'logs', CLUSTER, '--api', aliceApi.url], { env });
    const workerJson = await runCli(['cluster', 'logs', CLUSTER, '--component', 'worker', '--json', '--api', aliceApi.url], { env });
    const grep = await runCli(['cluster', 'logs', CLUSTER, '--grep', 'job done', '--since', '1h', '--api', aliceApi.url], { env });
    const bob = await runCli(['cluster', 'logs', CLUSTER, '--api', bobApi.url], { env });
    const expired = await runCli(['cluster', 'logs', 'c-old1', '--api', aliceApi.url], { env });

    // Assess
    expect(all.code, all.stderr).toBe(0);
    const lines = all.stdout.trim().split('\n');
    for (const c of ['scheduler', 'worker', 'driver']) expect(lines.some((l) => l.startsWith(`[${c}] {`))).toBe(true);
    expect(all.stdout).toContain('"event":"scheduler.stopped"');
    expect(workerJson.code, workerJson.stderr).toBe(0);
    const objects = workerJson.stdout.trim().split('\n').map((l) => JSON.parse(l) as { clusterId: string; component: string; time: string; message: string });
    expect(objects.length).toBeGreaterThan(1);
    expect(objects.every((o) => o.clusterId === CLUSTER && o.component === 'worker' && !Number.isNaN(Date.parse(o.time)))).toBe(true);
    expect(grep.stdout.trim().split('\n')).toHaveLength(1);
    expect(grep.stdout).toContain('job done');
    expect(bob.code).toBe(1);
    expect(bob.stderr).toMatch(/cluster c-shiplogs1 not found/);
    expect(expired.code).toBe(1);
    expect(expired.stderr).toMatch(/the logs of cluster c-old1 expired on \d{4}-\d{2}-\d{2}T.*\(kept 30 days after the last line\)/);
  }, 120_000);
});
