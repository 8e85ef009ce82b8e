import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { repoPath, waitForExit } from '../../support/engine.ts';

/**
 * Work stealing between real worker processes: every task needs a result
 * held by one worker, so all go there first. The idle worker takes its share
 * at once (moved in the step that placed them), and then, since its share
 * was the short tasks, keeps taking the holder's queued long ones, each move
 * confirmed by the holder (steal-request / steal-response) so that a task
 * the holder had started stays there. Every run is recorded by process: each
 * task runs exactly once.
 */
const INPUT_BYTES = 2 * 1024 * 1024;

describe('Feature: work stealing between two workers (LocalCluster, 2 × 1 thread)', () => {
  let cluster: LocalCluster;
  let client: Client;
  let pids: number[];
  let runsDir: string;

  beforeAll(async () => {
    runsDir = mkdtempSync(join(tmpdir(), 'recc-steal-runs-'));
    cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
    pids = cluster.pids;
    client = await Client.connect(cluster);
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    if (pids) await waitForExit(pids);
    rmSync(runsDir, { recursive: true, force: true });
  });

  it('moves queued tasks to the idle worker, confirmed by the holder, and runs each task once', async () => {
    // Prepare: a 2 MiB input made on one worker (above tinyInputBytes, so placement sends every task to its
    // holder; a smaller one would be spread by load at placement, scheduler/state/placement.ts);
    // 120 long tasks (40 ms), then 120 short ones (2 ms)
    const mod = await client.module(repoPath('test/e2e/engine/fixtures/counted-nap.ts'));
    const input = client.submitWith({ pure: false }, (n: number) => new Uint8Array(n), INPUT_BYTES);
    await input.wait();
    const n = 240;
    const ms = Array.from({ length: n }, (_, i) => (i < n / 2 ? 40 : 2));

    // Act
    const futures = ms.map((d, i) => client.submit(mod.fn('countedNap'), input, i, d, runsDir));
    const results = (await client.gather(futures)) as number[];

    // Assess: every result; each task ran once, and both workers ran tasks
    expect(results).toEqual(Array.from({ length: n }, (_, i) => i + INPUT_BYTES));
    const byProcess = readdirSync(runsDir).map((f) => readFileSync(join(runsDir, f), 'utf8').split('\n').filter(Boolean).map(Number));
    const runs = byProcess.flat();
    expect(runs).toHaveLength(n);
    expect(new Set(runs).size).toBe(n);
    expect(byProcess).toHaveLength(2);
    // Some long task moved after the holder confirmed it had not started it (not only in the first step).
    const stories = await Promise.all(futures.slice(0, n / 2).map((f) => client.story(f)));
    const confirmed = stories.filter((s) => s.some((e) => e.from === 'processing' && e.to === 'queued' && e.stimulusId.startsWith('steal-response')));
    expect(confirmed.length).toBeGreaterThan(0);
  });
});
