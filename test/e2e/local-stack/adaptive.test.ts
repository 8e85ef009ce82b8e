import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { repoPath } from '../../support/engine.ts';
import { api, killClusterProcesses, startReccUp, tempStateDir, waitForCluster, type ReccUpProcess } from '../../support/local-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Adaptive scaling on the local stack, through a real `recc up`: the
 * scheduler asks the stack's API for workers as the queue grows, retires
 * them gracefully (their results move to the worker that stays) once it
 * drains, and the record's cost follows the worker count.
 */
describe('Feature: adaptive cluster (minimum 1, maximum 6) on recc up', () => {
  let up: ReccUpProcess;
  let stateDir: string;
  let runsDir: string;

  beforeAll(async () => {
    stateDir = tempStateDir('adaptive');
    runsDir = mkdtempSync(join(tmpdir(), 'recc-adaptive-runs-'));
    up = await startReccUp({ stateDir });
  });

  afterAll(async () => {
    await up?.stop();
    killClusterProcesses(stateDir);
    if (!process.env.KEEP) rmSync(stateDir, { recursive: true, force: true });
    if (!process.env.KEEP) rmSync(runsDir, { recursive: true, force: true });
    else console.log('KEPT', stateDir, runsDir);
  });

  it('grows for 2,000 tasks of 100 ms, shrinks back to 1 after the queue drains, runs each task once and bills the worker count', async () => {
    // Prepare: an adaptive cluster that starts with one worker
    const created = await api(up.url, 'POST', '/clusters', {
      name: 'adaptive-e2e',
      workerCpu: 2,
      workerMemoryGiB: 0.5,
      adaptive: { minimum: 1, maximum: 6, targetDuration: 5, waitCount: 3, interval: 0.5 },
    });
    expect(created.status).toBe(202);
    const id: string = created.body.cluster.id;
    expect(created.body.cluster.desiredWorkers).toBe(1);
    const started = await waitForCluster(up.url, id, (c) => c.status === 'RUNNING' || c.status === 'FAILED', 'RUNNING');
    expect(started.status).toBe('RUNNING');
    const { schedulerAddress, token, caPem, dashboardUrl } = started.connection;
    const workersNow = async () =>
      ((await (await fetch(`${dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { workers: number }).workers;
    const client = await Client.connect(schedulerAddress, { token, caPem });
    try {
      const mod = await client.module(repoPath('test/e2e/local-stack/fixtures/counted.ts'));
      const n = 2000;

      // Act: the whole job at once; watch the worker count and the record while it runs
      const futures = client.map(mod.fn('countedSleep'), Array.from({ length: n }, (_, i) => i), Array(n).fill(100), Array(n).fill(runsDir));
      let peakWorkers = 0;
      let peakDesired = 0;
      let peakRate = 0;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          peakWorkers = Math.max(peakWorkers, await workersNow());
          const c = (await api(up.url, 'GET', `/clusters/${id}`)).body.cluster;
          peakDesired = Math.max(peakDesired, c.desiredWorkers);
          peakRate = Math.max(peakRate, c.cost?.perHour ?? 0);
          await new Promise((r) => setTimeout(r, 250));
        }
      })();
      const results = (await client.gather(futures)) as number[];
      watching = false;
      await watcher;

      // Assess: every result, and the cluster grew
      expect(results).toEqual(Array.from({ length: n }, (_, i) => i * 2));
      expect(peakDesired).toBe(6);
      expect(peakWorkers).toBeGreaterThan(1);

      // It shrinks back to one worker while the client still holds all 2,000 results.
      const shrunk = await waitForCluster(up.url, id, (c) => c.desiredWorkers === 1, 'desiredWorkers back to 1', 60_000);
      await waitFor(async () => ((await workersNow()) === 1 ? true : undefined), { timeoutMs: 60_000, what: 'one worker registered' });

      // Nothing was lost or computed again because of a retirement: the results are still there, each task ran once.
      const again = (await client.gather(futures)) as number[];
      expect(again).toEqual(results);
      const runs = readdirSync(runsDir).flatMap((f) => readFileSync(join(runsDir, f), 'utf8').split('\n').filter(Boolean).map(Number));
      expect(runs).toHaveLength(n);
      expect(new Set(runs).size).toBe(n);

      // Cost: the rate followed the count (6 workers cost more an hour than 1), and the record accrues at the 1-worker rate now.
      expect(shrunk.cost.perHour).toBeGreaterThan(0);
      expect(peakRate).toBeGreaterThan(shrunk.cost.perHour);
    } finally {
      await client.close();
      await api(up.url, 'DELETE', `/clusters/${id}`);
    }
  });
});
