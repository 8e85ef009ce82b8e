import { execFile } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { reasonCode } from '../../../shared/harvest/plan.ts';
import {
  RECC_BIN,
  REPO_ROOT,
  api,
  killClusterProcesses,
  processesOfCluster,
  startReccUp,
  tempStateDir,
  waitForCluster,
  type ReccUpProcess,
} from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The harvester and the cost API on a real `recc up` (real processes, the
 * harvester timer every 2 s): with `idleTimeoutMinutes: 1`, an idle cluster is
 * reaped with reason `idle` after a minute while one with a connected client
 * stays RUNNING; `recc cost` then reports both clusters' cost.
 */
const run = promisify(execFile);
const small = { nWorkers: 1, workerCpu: 1, workerMemoryGiB: 0.5, idleTimeoutMinutes: 1 };
const terminal = (c: { status: string }) => c.status === 'DELETED' || c.status === 'FAILED';

/**
 * Wait on a cluster through `GET /clusters` (the list): `GET /clusters/{id}`
 * by the owner counts as activity and would keep an idle cluster alive.
 */
async function waitListed(url: string, id: string, predicate: (c: any) => boolean, what: string, timeoutMs: number): Promise<any> {
  return waitFor(
    async () => {
      const { body } = await api(url, 'GET', '/clusters');
      const c = (body.clusters as any[]).find((x) => x.id === id);
      return c && predicate(c) ? c : undefined;
    },
    { what, timeoutMs, intervalMs: 500 },
  );
}

describe('Feature: harvester and costs on recc up', () => {
  let up: ReccUpProcess;
  let stateDir: string;

  beforeAll(async () => {
    stateDir = tempStateDir('harvest-e2e');
    up = await startReccUp({ stateDir, env: { RECC_UP_HARVEST_SECONDS: '2', RECC_UP_COST_SECONDS: '3600' } });
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('reaps the idle cluster with reason idle and keeps the one with a connected client', async () => {
    // Prepare
    const idle = (await api(up.url, 'POST', '/clusters', { ...small, name: 'idle' })).body.cluster.id as string;
    const active = (await api(up.url, 'POST', '/clusters', { ...small, name: 'active' })).body.cluster.id as string;
    await waitListed(up.url, idle, (c) => c.status === 'RUNNING' || terminal(c), 'idle RUNNING', 90_000);
    const running = await waitForCluster(up.url, active, (c) => c.status === 'RUNNING' || terminal(c), 'active RUNNING');
    const { schedulerAddress, token, caPem } = running.connection;
    const client = await Client.connect(schedulerAddress, { token, caPem });

    try {
      // Act: wait past the one-minute idle timeout.
      const reaped = await waitListed(up.url, idle, terminal, 'idle cluster reaped', 150_000);

      // Assess
      expect(reaped.status).toBe('DELETED');
      expect(reasonCode(reaped.statusReason)).toBe('idle');
      // Three more harvester runs later (recc up logs to <state dir>/recc-up.log), the cluster with a connected client is still up.
      const runs = () => readFileSync(join(stateDir, 'recc-up.log'), 'utf8').split('\n').filter((l) => l.includes('"harvester run finished"')).length;
      const seen = runs();
      await waitFor(() => runs() >= seen + 3, { what: 'three more harvester runs', timeoutMs: 60_000 });
      const stillRunning = await waitListed(up.url, active, () => true, 'active cluster listed', 10_000);
      expect(stillRunning.status).toBe('RUNNING');
      expect(processesOfCluster(active).length).toBeGreaterThan(0);
      expect(await client.submit((x: number) => x * 2, 21).result()).toBe(42);
      await waitFor(() => processesOfCluster(idle).length === 0, { what: 'idle cluster processes gone' });
    } finally {
      await client.close();
    }

    // The cost API and `recc cost` see both clusters.
    const { stdout } = await run(process.execPath, [RECC_BIN, 'cost', '--json', '--since', '1d', '--api', up.url], { cwd: REPO_ROOT });
    const costs = JSON.parse(stdout).data as { groups: { key: string; clusters: number; cost: number }[]; total: number; scope: string };
    expect(costs.groups).toHaveLength(1);
    expect(costs.groups[0]?.clusters).toBe(2);
    expect(costs.total).toBeGreaterThan(0);
    const table = await run(process.execPath, [RECC_BIN, 'cost', '--group-by', 'namespace', '--api', up.url], { cwd: REPO_ROOT });
    expect(table.stdout).toMatch(/^NAMESPACE +COST/m);
    expect(table.stdout).toMatch(/^TOTAL +\$\d+\.\d\d/m);

    await api(up.url, 'DELETE', `/clusters/${active}`);
    await waitForCluster(up.url, active, terminal, 'active cluster deleted');
    await waitFor(() => processesOfCluster(active).length === 0, { what: 'active cluster processes gone' });
  }, 240_000);
});
