import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Table } from 'apache-arrow';
import { tableFromArrays } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { waitFor } from '../../support/wait.ts';
import { generate } from './fixtures/generate.ts';
import { rowsOf } from './reference.ts';

/**
 * Issue 15: spill files are not leaked. Each worker spills into its own
 * workspace under the scratch directory (RECC_SCRATCH_DIR); a worker killed
 * with -9 leaves its workspace behind, and the worker started in its place
 * sweeps it (its pid is dead); a shuffle's files go when it is done or
 * restarted; and nothing is left once the cluster stops.
 */

const PARTITIONS = 24;
const ROWS = 8_000;
const PAYLOAD = 1_000;
const KEYS = 48;

const scratch = mkdtempSync(join(tmpdir(), 'recc-scratch-e2e-'));
let cluster: LocalCluster | undefined;
let client: Client | undefined;
const savedEnv = process.env.RECC_SCRATCH_DIR;

afterAll(async () => {
  await client?.close();
  await cluster?.close();
  if (savedEnv === undefined) delete process.env.RECC_SCRATCH_DIR;
  else process.env.RECC_SCRATCH_DIR = savedEnv;
  rmSync(scratch, { recursive: true, force: true });
});

/** Slow per group, so the kill lands while the outputs run. */
function slowSum(g: Table, ctx: { arrow: typeof import('apache-arrow'); key?: Record<string, unknown> }): Table {
  const until = Date.now() + 100;
  while (Date.now() < until) {
    // busy
  }
  const a = ctx.arrow;
  const ids = g.getChild('id');
  let sum = 0;
  for (let i = 0; i < g.numRows; i++) sum += ids?.get(i) as number;
  return new a.Table({ key: a.vectorFromArray([ctx.key?.key as string], new a.Utf8()), n: a.vectorFromArray([g.numRows], new a.Int32()), sum: a.vectorFromArray([sum], new a.Float64()) });
}

const workspaces = () => readdirSync(scratch).filter((n) => n.startsWith('recc-worker-'));
const pidOf = (name: string) => Number(/^recc-worker-(\d+)-/.exec(name)?.[1]);
/** Shuffle spill files in every workspace. */
const shuffleFiles = () =>
  workspaces().flatMap((w) => {
    const dir = join(scratch, w, 'shuffle');
    return existsSync(dir) ? readdirSync(dir).map((f) => `${w}/${f}`) : [];
  });

describe('DistributedTable: worker workspaces', () => {
  it('sweeps dead workers’ workspaces at start, after kill -9 and restart, and leaves no spill file behind', async () => {
    // A workspace left by a worker that died earlier (a pid that surely exited), and a foreign directory.
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid;
    const stale = join(scratch, `recc-worker-${deadPid}-old111`);
    mkdirSync(join(stale, 'shuffle'), { recursive: true });
    writeFileSync(join(stale, 'shuffle', 'x-1.arrows'), 'stale');
    mkdirSync(join(scratch, 'not-ours'));

    process.env.RECC_SCRATCH_DIR = scratch;
    // A small limit: the shuffle buffer (a quarter of it) overflows, so shards spill. (A 1 GiB limit and a 16 MiB
    // buffer stood in while workers' RSS ran to several times their live data: worker/memory.ts SharedMemoryCollector.)
    cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1, memoryLimitGiB: 0.25 });
    client = await Client.connect(cluster);
    expect(existsSync(stale)).toBe(false);
    expect(existsSync(join(scratch, 'not-ours'))).toBe(true);

    const seeds = tableFromArrays({
      seed: Int32Array.from({ length: PARTITIONS }, (_, i) => i),
      rows: Int32Array.from({ length: PARTITIONS }, () => ROWS),
      width: Int32Array.from({ length: PARTITIONS }, () => PAYLOAD),
      keys: Int32Array.from({ length: PARTITIONS }, () => KEYS),
    });
    const t = client.fromTable(seeds, { npartitions: PARTITIONS }).mapPartitions(generate).groupBy('key').apply(slowSum, { npartitions: 12 });
    const outputs = (await t.parts()).map((p) => (p as { key: string }).key);
    const result = t.toTable();
    // Kill a worker once shards were spilled and outputs run: its workspace stays behind it.
    await waitFor(async () => shuffleFiles().length > 0 && (await client?.taskStates(outputs))?.some((s) => s === 'processing'), { what: 'spilled shards and a running output', timeoutMs: 300_000 });
    const victim = cluster.workerProcesses[0] as { name: string; pid: number };
    const victimSpace = workspaces().find((w) => pidOf(w) === victim.pid);
    expect(victimSpace).toBeDefined();
    process.kill(victim.pid, 'SIGKILL');

    const got = rowsOf(await result);
    const want = new Map<string, { n: number; sum: number }>();
    for (let id = 0; id < PARTITIONS * ROWS; id++) {
      const k = `k${(id * 7919) % KEYS}`;
      const e = want.get(k) ?? { n: 0, sum: 0 };
      e.n++;
      e.sum += id;
      want.set(k, e);
    }
    expect(got.length).toBe(want.size);
    for (const r of got) expect({ n: r.n, sum: r.sum }).toEqual(want.get(r.key as string));

    // The replacement worker swept the victim's workspace when it started.
    await waitFor(() => cluster?.workerProcesses.length === 2 && !cluster.workerProcesses.some((w) => w.pid === victim.pid), { what: 'the replacement worker' });
    await waitFor(() => !workspaces().includes(victimSpace as string), { what: `the workspace ${victimSpace} to be swept` });
    // Every run's shuffle files are gone once the shuffle is done (old runs when it restarted).
    await waitFor(() => shuffleFiles().length === 0, { what: 'no shuffle spill file left' });
    for (const w of workspaces()) expect(cluster.workerProcesses.map((p) => p.pid)).toContain(pidOf(w));

    await client.close();
    client = undefined;
    await cluster.close();
    cluster = undefined;
    // Stopped workers removed their workspaces.
    expect(readdirSync(scratch)).toEqual(['not-ours']);
  }, 600_000);
});
