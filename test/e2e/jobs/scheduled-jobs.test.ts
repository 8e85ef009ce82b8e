import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadDatastoresConfig } from '../../../adapters/datastores/load-config.ts';
import { openDatastores } from '../../../adapters/datastores/session.ts';
import { writePrices } from '../../../examples/prices.ts';
import { api, killClusterProcesses, processesOfCluster, running, startReccUp, tempStateDir, type ReccUpProcess } from '../../support/local-stack.ts';
import { runCli } from '../../support/cli-run.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Scheduled jobs end to end on a real `recc up` child process, driven with
 * the `recc job` CLI as a user would. Each run gets a cluster of real
 * scheduler and worker processes, its driver is a child process with
 * RECC_CLUSTER=id:<that cluster>, and the cluster is deleted when the run
 * ends. The scheduled entry is the researcher's examples/backfill-job.ts, on a
 * small prices dataset (40 securities, ~100 days, in a local datastore given
 * to `recc up` and so to its drivers) and `--param dates=3`; the failure paths
 * use small fixture scripts (test/e2e/jobs/fixtures/).
 */
describe('Feature: scheduled jobs on the local stack', () => {
  let up: ReccUpProcess;
  let stateDir: string;
  /** The prices datastore of the backfill, for recc up (its drivers) and the ad hoc run alike. */
  let dataEnv: Record<string, string>;
  const cli = async (...args: string[]) => {
    const r = await runCli([...args, '--api', up.url]);
    return { ...r, json: r.stdout.trim().startsWith('{') ? JSON.parse(r.stdout) : undefined };
  };

  beforeAll(async () => {
    stateDir = tempStateDir('jobs-e2e');
    const config = join(stateDir, 'recc.datastores.yaml');
    writeFileSync(config, `stores:\n  PRICES: { type: local, root: ${JSON.stringify(join(stateDir, 'prices-store'))} }\nwrite: PRICES\n`);
    dataEnv = { RECC_DATASTORES_CONFIG: config, RECC_DATASTORES_READ: 'PRICES' };
    const ds = await openDatastores({ config: loadDatastoresConfig({ cwd: stateDir, home: stateDir, env: dataEnv }) });
    await writePrices(ds, { securities: 40, years: 0.4 });
    await ds.close();
    up = await startReccUp({ stateDir, env: dataEnv });
  }, 120_000);

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('rate(1 minute): two runs, each on its own cluster, SUCCEEDED, logs readable after the cluster is DELETED, nothing left running', async () => {
    const created = await cli('job', 'create', 'nightly', '--schedule', 'rate(1 minute)', '--template', 'small', '--entry', 'examples/backfill-job.ts', '--param', 'dates=3', '--json');
    expect(created.code, created.stdout + created.stderr).toBe(0);
    expect(created.json.data).toMatchObject({ name: 'nightly', schedule: 'rate(1 minute)', timezone: 'UTC', concurrency: 'Forbid' });

    const runs = await waitFor(
      async () => {
        const r = await cli('job', 'runs', 'nightly', '--json');
        const list = (r.json?.data ?? []) as any[];
        const cleaned = list.filter((x) => x.status === 'CLEANED');
        // Newest first from the API: the two oldest, in fire order.
        return cleaned.length >= 2 ? cleaned.slice(-2).reverse() : undefined;
      },
      { timeoutMs: 240_000, intervalMs: 1000, what: 'two CLEANED runs of nightly' },
    );
    await cli('job', 'delete', 'nightly', '--json');

    for (const run of runs) {
      expect(run).toMatchObject({ result: 'SUCCEEDED', outcome: 'SUCCEEDED', trigger: 'schedule', jobName: 'nightly' });
      expect(run.durationMs).toBeGreaterThan(0);
      expect(typeof run.cost).toBe('number');
      const cluster = (await api(up.url, 'GET', `/clusters/${run.clusterId}`)).body.cluster;
      expect(cluster).toMatchObject({ job: 'nightly', template: 'small' });
      await waitFor(async () => (await api(up.url, 'GET', `/clusters/${run.clusterId}`)).body.cluster.status === 'DELETED', { timeoutMs: 60_000, what: 'the run cluster DELETED' });
      const logs = await cli('job', 'logs', run.id, '--json');
      // Three dates, each with its 60-day lookback, plus the reduction, on the run's own cluster.
      expect(logs.json.data.logs).toMatch(/^4 tasks in \d+\.\d s$/m);
      expect(logs.json.data.logs).toMatch(/read through PRICES|from PRICES/);
      await waitFor(() => processesOfCluster(run.clusterId).length === 0, { timeoutMs: 30_000, what: 'no process of the run cluster' });
      expect(running(run.driver.pid)).toBe(false);
    }
    expect(runs[0].clusterId).not.toBe(runs[1].clusterId);
    expect(Date.parse(runs[1].scheduledAt) - Date.parse(runs[0].scheduledAt)).toBe(60_000);
    const human = await cli('job', 'runs', 'nightly');
    expect(human.code).toBe(1); // the job is deleted now: its runs are addressed through the job
  }, 360_000);

  it('a failing entry → FAILED with exit status and stderr tail; cancel → CANCELLED; both clusters deleted', async () => {
    expect((await cli('job', 'create', 'broken', '--schedule', 'rate(1 day)', '--template', 'small', '--entry', 'test/e2e/jobs/fixtures/failing-job.ts', '--json')).code).toBe(0);
    expect((await cli('job', 'create', 'slow', '--schedule', 'rate(1 day)', '--template', 'small', '--entry', 'test/e2e/jobs/fixtures/slow-job.ts', '--json')).code).toBe(0);
    const broken = (await cli('job', 'run', 'broken', '--json')).json.data.run;
    const slow = (await cli('job', 'run', 'slow', '--json')).json.data.run;
    const runOf = async (id: string) => (await api(up.url, 'GET', `/runs/${id}`)).body.run;
    await waitFor(async () => (await runOf(slow.id)).status === 'RUNNING', { timeoutMs: 120_000, what: 'slow RUNNING' });
    const cancelled = await cli('job', 'cancel', slow.id, '--json');
    expect(cancelled.code).toBe(0);
    const [b, s] = await Promise.all(
      [broken.id, slow.id].map((id) => waitFor(async () => ((await runOf(id)).status === 'CLEANED' ? runOf(id) : undefined), { timeoutMs: 120_000, what: `${id} CLEANED` })),
    );
    expect(b).toMatchObject({ outcome: 'FAILED', statusReason: 'the driver exited with status 4; stderr: Error: prices/2026-12-04.parquet: no such file' });
    expect(s).toMatchObject({ outcome: 'CANCELLED' });
    for (const run of [b, s]) {
      await waitFor(async () => (await api(up.url, 'GET', `/clusters/${run.clusterId}`)).body.cluster.status === 'DELETED', { timeoutMs: 60_000, what: 'DELETED' });
      expect(processesOfCluster(run.clusterId)).toEqual([]);
    }
    expect((await cli('job', 'logs', slow.id)).stdout).toContain('working');
  }, 300_000);

  it('the job entry runs unchanged ad hoc with RECC_CLUSTER=local:2', async () => {
    const { execFile } = await import('node:child_process');
    const { promisify } = await import('node:util');
    const { REPO_ROOT } = await import('../../support/local-stack.ts');
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', 'examples/backfill-job.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...dataEnv, RECC_CLUSTER: 'local:2' },
      timeout: 120_000,
    });
    // Every date of the small dataset with a full 60-day lookback, plus the reduction.
    const tasks = Number(/^(\d+) tasks in \d+\.\d s$/m.exec(stdout)?.[1]);
    expect(tasks).toBeGreaterThan(4);
  }, 150_000);

  it('bad input → exit 2 and a detail per problem', async () => {
    const bad = await cli('job', 'create', 'oops', '--schedule', 'rate(1 minutes)', '--timezone', 'Mars/Base', '--template', 'small', '--workers', '0', '--entry', 'x.ts', '--json');
    expect(bad.code).toBe(2);
    expect(bad.json.error.details.map((d: any) => d.path).sort()).toEqual(['cluster.overrides.nWorkers', 'schedule', 'timezone']);
  });
});
