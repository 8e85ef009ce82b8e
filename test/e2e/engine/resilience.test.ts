import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Client, KilledWorkerError, LocalCluster } from '../../../client/index.ts';
import { repoPath, waitForExit } from '../../support/engine.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/** Failure handling on real processes: dead workers, missing resources, memory pressure, a killed client. */
describe('Resilience', () => {
  it('returns every result correctly when one of 2 workers is killed with SIGKILL mid-job', async () => {
    // Prepare: 200 tasks of 50 ms on 2 single-thread workers (≈ 5 s of work)
    await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
    const pids = cluster.pids;
    await using client = await Client.connect(cluster);
    const futures = client.map(
      (i: number) => {
        const end = Date.now() + 50;
        while (Date.now() < end);
        return i * i;
      },
      Array.from({ length: 200 }, (_, i) => i),
    );
    await waitFor(() => futures.filter((f) => f.done()).length >= 20, { what: 'the first results' });
    const victim = cluster.workerProcesses[0];

    // Act
    process.kill(victim!.pid, 'SIGKILL');
    const results = await client.gather(futures);

    // Assess
    expect(results).toEqual(Array.from({ length: 200 }, (_, i) => i * i));
    expect(isAlive(victim!.pid)).toBe(false);
    const info = await client.schedulerInfo();
    expect(info.workers.map((w) => w.pid)).not.toContain(victim!.pid);
    await client.close();
    await cluster.close();
    await waitForExit(pids);
  });

  it('errs with KilledWorkerError when a task kills every worker it runs on', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    await using client = await Client.connect(cluster);
    const replace = setInterval(() => {
      if (cluster.workerProcesses.length === 0) void cluster.addWorker().catch(() => undefined);
    }, 100);
    try {
      const crash = client.submit(() => process.kill(process.pid, 'SIGKILL'));
      const error = await crash.result().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(KilledWorkerError);
      expect((error as Error).message).toMatch(/processing on 3 workers that died/);
    } finally {
      clearInterval(replace);
    }
  });

  it('keeps a GPU task in no-worker until a worker with GPU=1 joins, then runs it there', async () => {
    // Prepare
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    await using client = await Client.connect(cluster);
    const gpuTask = client.submitWith({ resources: { GPU: 1 } }, () => process.pid);
    const cpuTask = client.submit(() => process.pid);
    const cpuPid = await cpuTask.result();
    await waitFor(async () => (await client.taskStates([gpuTask.key]))[0] === 'no-worker', { what: 'the GPU task to wait in no-worker' });
    expect(gpuTask.done()).toBe(false);

    // Act
    const gpuWorker = await cluster.addWorker({ name: 'gpu-worker', resources: { GPU: 1 } });
    const ranOn = await gpuTask.result();

    // Assess
    expect(ranOn).toBe(gpuWorker.pid);
    expect(ranOn).not.toBe(cpuPid);
  });

  it('errs a task whose resources no worker offers once the wait timeout passes', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 1, resourceWaitTimeoutSeconds: 1 });
    await using client = await Client.connect(cluster);
    const error = await client.submitWith({ resources: { TPU: 4 } }, () => 1).result().catch((e: unknown) => e);
    expect(error).toMatchObject({ name: 'NoWorkerError', message: expect.stringMatching(/needs resources \{"TPU":4\} but no worker offering them joined/) });
  });

  it('holds 1 GiB of results on a worker limited to 768 MiB by spilling, and returns them intact', async () => {
    // Prepare: 32 results of 32 MiB of deterministic pseudo-random bytes. The limit is 768 MiB, not 256:
    // a worker now ends itself above 95 % of its limit (Dask's rule). Its RSS peaks at Node's ~70 MiB
    // baseline + the 60 % managed target + one task's 32 MiB result and its encoded copy in the thread;
    // measured peak 426 MiB under a 512 MiB limit (terminate at 486), too close on a loaded machine.
    await using cluster = await LocalCluster.start({ nWorkers: 1, memoryLimitGiB: 0.75 });
    await using client = await Client.connect(cluster);
    const make = (seed: number) => {
      // A 64 KiB pseudo-random block, tiled, with the seed stamped into every block.
      const block = new Uint32Array(16384);
      let x = seed * 2654435761 + 1;
      for (let i = 0; i < block.length; i++) {
        x ^= x << 13;
        x ^= x >>> 17;
        x ^= x << 5;
        block[i] = x >>> 0;
      }
      const out = new Uint8Array(32 * 1024 * 1024);
      const b = new Uint8Array(block.buffer);
      for (let o = 0; o < out.length; o += b.length) {
        out.set(b, o);
        out[o] = seed;
        out[o + 1] = (o / b.length) & 255;
      }
      return out;
    };
    const seeds = Array.from({ length: 32 }, (_, i) => i + 1);
    const futures = client.map(make, seeds);
    for (const f of futures) await f.wait();

    // Act: read every result back, one at a time
    const intact: boolean[] = [];
    for (const [i, f] of futures.entries()) {
      const bytes = await f.result();
      intact.push(bytes.byteLength === 32 * 1024 * 1024 && Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(make(seeds[i]!)));
    }

    // Assess
    expect(intact).toEqual(seeds.map(() => true));
    const info = await client.schedulerInfo();
    await waitFor(async () => {
      const w = (await client.schedulerInfo()).workers[0];
      return w && Number(w.metrics.spilled) > 0 ? w : undefined;
    }, { what: 'a heartbeat reporting spilled bytes' });
    const w = (await client.schedulerInfo()).workers[0]!;
    expect(Number(w.metrics.spilled) + Number(w.metrics.managed)).toBeGreaterThanOrEqual(1024 * 1024 * 1024);
    expect(Number(w.metrics.managed)).toBeLessThanOrEqual(0.75 * 1024 ** 3 * 0.6 + 32 * 1024 * 1024);
    // and it held them without being ended by its memory limit
    expect(cluster.allLogs().filter((l) => l.includes('"event":"worker.memory-terminate"'))).toEqual([]);
    expect(info.workers[0]!.stored).toBe(32);
  }, 360_000); // 1 GiB through the disk and back, twice hashed on the client: ~40 s quiet, over 120 s at load 20

  it('leaves no process behind when the client process is killed with SIGKILL', async () => {
    // Prepare: a separate client process that starts a LocalCluster and prints the pids
    const script = `
      const { LocalCluster } = await import(${JSON.stringify(repoPath('client/index.ts'))});
      const cluster = await LocalCluster.start({ nWorkers: 2 });
      process.stdout.write(JSON.stringify({ pids: cluster.pids }) + '\\n');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx/esm'), '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    const { pids } = await waitFor(() => {
      const line = out.split('\n').find((l) => l.startsWith('{'));
      return line ? (JSON.parse(line) as { pids: number[] }) : undefined;
    }, { what: 'the child cluster pids' });
    expect(pids).toHaveLength(3);
    expect(pids.every(isAlive)).toBe(true);
    const argv = readFileSync(`/proc/${pids[0]}/cmdline`, 'utf8').split('\0');
    const tempDir = argv[argv.indexOf('--owned-dir') + 1]!;
    expect(existsSync(tempDir)).toBe(true);

    // Act
    child.kill('SIGKILL');

    // Assess: every process exits and the token's directory is gone
    await waitForExit(pids, 20_000);
    expect(existsSync(tempDir)).toBe(false);
  });
});
