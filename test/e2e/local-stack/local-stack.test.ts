import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, clusterFromEnv, type ClusterLike } from '../../../client/index.ts';
import {
  RECC_BIN,
  REPO_ROOT,
  api,
  killClusterProcesses,
  processesOfCluster,
  recordedPids,
  running,
  startReccUp,
  tempStateDir,
  waitForCluster,
  waitForExit,
  type ReccUpProcess,
} from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The local stack end to end, through the HTTP API of a real `recc up` child
 * process: clusters become real scheduler and worker processes, tasks run on
 * them through the SDK, and deletes, crashes and a kill -9 of `recc up`
 * itself end in the documented states with no process left behind.
 */
const run = promisify(execFile);
const small = { nWorkers: 2, workerCpu: 1, workerMemoryGiB: 0.5 };

/** The SDK client on a cluster, with the connection the API shows its owner. */
async function connectClient(baseUrl: string, id: string): Promise<Client> {
  const { body } = await api(baseUrl, 'GET', `/clusters/${id}`);
  const { schedulerAddress, token, caPem } = body.cluster.connection;
  return Client.connect(schedulerAddress, { token, caPem });
}

function terminal(c: any): boolean {
  return c.status === 'DELETED' || c.status === 'FAILED';
}

describe('Feature: recc up', () => {
  let up: ReccUpProcess;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = tempStateDir('e2e');
    up = await startReccUp({ stateDir });
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('creates a cluster that reaches RUNNING, runs tasks through the SDK, scales, and leaves no process after delete', async () => {
    // Prepare
    const created = await api(up.url, 'POST', '/clusters', { ...small, name: 'e2e-happy' });
    expect(created.status).toBe(202);
    const id: string = created.body.cluster.id;

    // Act
    const running = await waitForCluster(up.url, id, (c) => c.status === 'RUNNING' || terminal(c), 'RUNNING');
    const client = await connectClient(up.url, id);
    let results: number[];
    try {
      const futures = client.map((x: number) => x * x, [1, 2, 3, 4, 5, 6, 7, 8]);
      results = (await client.gather(futures)) as number[];
    } finally {
      await client.close();
    }
    const scaled = await api(up.url, 'PATCH', `/clusters/${id}`, { nWorkers: 3 });
    const registered = await waitFor(async () => {
      const status = (await (await fetch(`${running.connection.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${running.connection.token}` } })).json()) as { workers: number };
      return status.workers === 3 ? status : undefined;
    }, { what: '3 workers registered after scaling' });
    const pids = recordedPids(stateDir, id);
    const deleted = await api(up.url, 'DELETE', `/clusters/${id}`);
    const final = await waitForCluster(up.url, id, terminal, 'DELETED');
    const history = await api(up.url, 'GET', `/clusters/${id}`);
    const logs = await run(process.execPath, [RECC_BIN, 'cluster', 'logs', id, '--component', 'scheduler', '--api', up.url], { cwd: REPO_ROOT });

    // Assess
    expect(running.status).toBe('RUNNING');
    expect(running.connection.schedulerAddress).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
    expect(results).toEqual([1, 4, 9, 16, 25, 36, 49, 64]);
    expect(scaled.status).toBe(202);
    expect(registered.workers).toBe(3);
    expect(deleted.status).toBe(202);
    expect(final.status).toBe('DELETED');
    expect(history.body.cluster.status).toBe('DELETED');
    expect(logs.stdout).toContain('"event":"scheduler.ready"'); // logs outlive the cluster
    expect(pids).toHaveLength(4);
    await waitForExit(pids, 'cluster processes gone');
    expect(processesOfCluster(id)).toEqual([]);
  });

  it('runs the same script on a cluster chosen by RECC_CLUSTER: template:NAME creates it, id:ID attaches (close() detaches), the creator\'s close() deletes', async () => {
    // Prepare
    const env = { RECC_API_URL: up.url, RECC_JOB: 'e2e-switch' };
    const script = async (cluster: ClusterLike) => {
      const client = await Client.connect(cluster);
      try {
        return await client.submit((a: number, b: number) => a * b, 6, 7).result();
      } finally {
        await client.close();
      }
    };

    // Act
    const created = await clusterFromEnv({ ...env, RECC_CLUSTER: 'template:default' }, { overrides: { nWorkers: 1, workerMemoryGiB: 0.5 } });
    const id = (created as unknown as { id: string }).id;
    const first = await script(created);
    const connected = await clusterFromEnv({ ...env, RECC_CLUSTER: `id:${id}` });
    const second = await script(connected);
    await connected.close(); // attached: detaches, the cluster keeps running
    const afterDetach = (await api(up.url, 'GET', `/clusters/${id}`)).body.cluster;
    await created.close(); // the creating handle deletes it
    const final = await waitForCluster(up.url, id, terminal, 'DELETED after close()');

    // Assess
    expect([first, second]).toEqual([42, 42]);
    expect(afterDetach.status).toBe('RUNNING');
    expect(final).toMatchObject({ status: 'DELETED', job: 'e2e-switch', template: 'default' });
    expect(processesOfCluster(id)).toEqual([]);
  });

  it('ends DELETED with nothing left when the delete arrives during PROVISIONING', async () => {
    // Prepare: workers that never register keep the cluster in PROVISIONING.
    const created = await api(up.url, 'POST', '/clusters', { ...small, env: { RECC_TEST_WORKER_COMMAND: 'echo waiting; exec sleep 300' } });
    const id: string = created.body.cluster.id;
    await waitForCluster(up.url, id, (c) => c.status === 'PROVISIONING', 'PROVISIONING');
    await waitFor(() => recordedPids(stateDir, id).length === 3 && recordedPids(stateDir, id).every(running), { what: 'processes started' });
    const pids = recordedPids(stateDir, id);

    // Act
    const deleted = await api(up.url, 'DELETE', `/clusters/${id}`);
    const final = await waitForCluster(up.url, id, terminal, 'DELETED');

    // Assess
    expect(deleted.status).toBe(202);
    expect(final.status).toBe('DELETED');
    expect(final.runningAt).toBeUndefined();
    await waitForExit(pids, 'cluster processes gone');
    expect(processesOfCluster(id)).toEqual([]);
  });

  it('fails a cluster whose worker command crashes at start, with the log tail in the reason, and keeps its logs', async () => {
    // Prepare
    const marker = 'fatal: cannot import research_lib (ModuleNotFoundError)';
    const created = await api(up.url, 'POST', '/clusters', {
      ...small,
      env: { RECC_TEST_WORKER_COMMAND: `echo starting worker; echo '${marker}' >&2; exit 3` },
    });
    const id: string = created.body.cluster.id;

    // Act
    const final = await waitForCluster(up.url, id, terminal, 'FAILED');
    const { stdout } = await run(process.execPath, [RECC_BIN, 'cluster', 'logs', id, '--component', 'worker', '--api', up.url], { cwd: REPO_ROOT });

    // Assess
    expect(final.status).toBe('FAILED');
    expect(final.statusReason).toContain('worker failed (ProcessExited)');
    expect(final.statusReason).toContain(marker);
    expect(stdout).toContain(marker);
    expect(processesOfCluster(id)).toEqual([]);
  });
});

describe('Feature: the harvester on the local stack', () => {
  let up: ReccUpProcess;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = tempStateDir('harvest');
    up = await startReccUp({ stateDir, env: { RECC_UP_HARVEST_SECONDS: '1' } });
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('reaps a cluster past its maximum lifetime and fails one whose scheduler was killed, leaving no process', async () => {
    // Prepare: one cluster allowed to live ~4 s, one whose scheduler dies while RUNNING.
    const shortLived = (await api(up.url, 'POST', '/clusters', { ...small, nWorkers: 1, maxLifetimeHours: 0.001 })).body.cluster.id as string;
    const victim = (await api(up.url, 'POST', '/clusters', { ...small, nWorkers: 1 })).body.cluster.id as string;
    await waitForCluster(up.url, victim, (c) => c.status === 'RUNNING', 'victim RUNNING');
    const schedulerPid = recordedPids(stateDir, victim)[0] as number;

    // Act
    process.kill(schedulerPid, 'SIGKILL');
    const reaped = await waitForCluster(up.url, shortLived, terminal, 'short-lived cluster reaped');
    const failed = await waitForCluster(up.url, victim, terminal, 'victim FAILED');

    // Assess
    expect(reaped.status).toBe('DELETED');
    expect(reaped.statusReason).toMatch(/lifetime/);
    expect(failed.status).toBe('FAILED');
    expect(failed.statusReason).toMatch(/scheduler/);
    await waitFor(() => processesOfCluster(shortLived).length === 0 && processesOfCluster(victim).length === 0, { what: 'no cluster process left' });
  });
});

describe('Feature: recc up options', () => {
  it('refuses to bind a non-loopback address without a token and exits 2', async () => {
    // Prepare
    const dir = tempStateDir('refuse');

    // Act
    const result = await run(process.execPath, [RECC_BIN, 'up', '--host', '0.0.0.0', '--port', '0', '--state-dir', dir], {
      cwd: REPO_ROOT,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('host: refusing to bind 0.0.0.0 without a token');
  });

  it('exits 2 naming --state-dir when the state directory cannot be created', async () => {
    // Prepare: a regular file where a parent directory should be
    const dir = tempStateDir('blocked');
    const file = join(dir, 'not-a-dir');
    writeFileSync(file, 'x');

    // Act
    const result = await run(process.execPath, [RECC_BIN, 'up', '--port', '0', '--state-dir', join(file, 'state')], {
      cwd: REPO_ROOT,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (err: { code: number; stderr: string }) => ({ code: err.code, stderr: err.stderr }),
    );
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`stateDir: cannot create ${join(file, 'state')} (ENOTDIR)`);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('Feature: recc up with a token', () => {
  it('answers 401 without the bearer token and serves the CLI that sends it', async () => {
    // Prepare
    const token = 'e2e-token-0123456789abcdef';
    const stateDir = tempStateDir('token');
    const up = await startReccUp({ stateDir, args: ['--token', token] });
    try {
      // Act
      const anonymous = await fetch(`${up.url}/clusters`);
      const wrong = await fetch(`${up.url}/clusters`, { headers: { authorization: 'Bearer not-the-token' } });
      const cli = await run(process.execPath, [RECC_BIN, 'cluster', 'list', '--json', '--api', up.url, '--token', token], { cwd: REPO_ROOT });

      // Assess
      expect(anonymous.status).toBe(401);
      expect(wrong.status).toBe(401);
      expect(JSON.parse(cli.stdout)).toEqual({ ok: true, command: 'cluster list', data: [] });
    } finally {
      await up.stop();
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});

describe('Feature: recc up restarts', () => {
  let stateDir: string;
  let up: ReccUpProcess | undefined;

  beforeAll(() => {
    stateDir = tempStateDir('restart');
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps clusters whose processes survived a kill -9 RUNNING and fails the others with a reason', async () => {
    // Prepare: two RUNNING clusters, then recc up dies without any cleanup.
    up = await startReccUp({ stateDir });
    const a = (await api(up.url, 'POST', '/clusters', { ...small, nWorkers: 1, name: 'survivor' })).body.cluster.id as string;
    const b = (await api(up.url, 'POST', '/clusters', { ...small, nWorkers: 1, name: 'victim' })).body.cluster.id as string;
    await waitForCluster(up.url, a, (c) => c.status === 'RUNNING', 'A RUNNING');
    await waitForCluster(up.url, b, (c) => c.status === 'RUNNING', 'B RUNNING');
    await up.kill9();
    const survivorPids = recordedPids(stateDir, a);
    expect(survivorPids.every(running)).toBe(true);
    // B's processes die while nobody watches.
    for (const pid of recordedPids(stateDir, b)) process.kill(-pid, 'SIGKILL');
    await waitFor(() => processesOfCluster(b).length === 0, { what: 'B processes gone' });

    // Act
    up = await startReccUp({ stateDir });
    const survivor = await waitForCluster(up.url, a, (c) => c.status === 'RUNNING', 'A still RUNNING');
    const victim = await waitForCluster(up.url, b, terminal, 'B FAILED');
    const client = await connectClient(up.url, a);
    let answer: unknown;
    try {
      answer = await client.submit((x: number) => x + 1, 41).result();
    } finally {
      await client.close();
    }
    await api(up.url, 'DELETE', `/clusters/${a}`);
    const deleted = await waitForCluster(up.url, a, terminal, 'A DELETED');

    // Assess
    expect(up.ready.reconciled).toMatchObject({ keptRunning: [a], failed: [b] });
    expect(survivor.status).toBe('RUNNING');
    expect(answer).toBe(42);
    expect(victim.status).toBe('FAILED');
    expect(victim.statusReason).toMatch(/restarted .*no longer running/);
    expect(deleted.status).toBe('DELETED');
    await waitForExit(survivorPids, 'A processes gone');
  });
});
