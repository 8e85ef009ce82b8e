/**
 * Issue 19 measures (recc only; Dask has no equivalent group here):
 *
 * - `skew`: 1,000 tasks of 1–200 ms (a fixed pseudo-random mix), every one
 *   depending on a result held by one worker, on 2 workers × 1 thread. Without
 *   work stealing all of them run where the data is. Reported: wall time over
 *   the ideal (the larger of half the summed run times and the longest task).
 *   Tasks sleep (Atomics.wait) rather than burn CPU, so other processes on
 *   this shared machine cannot stretch them.
 * - `transfer_many`: 1 GiB as 1,024 results of 1 MiB made on worker A, all
 *   inputs of one task pinned to worker B; B's resident memory growth (peak
 *   minus before) over the bytes moved, and the transfer rate.
 */
import type { GroupContext } from './engine-measures.ts';
import { readMemoryStatus } from '../lib/proc.ts';

type Sdk = typeof import('../../client/index.ts');
type ClientT = import('../../client/index.ts').Client;
type ClusterT = import('../../client/index.ts').LocalCluster;

const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

async function withCluster<T>(fn: (client: ClientT, cluster: ClusterT) => Promise<T>, setup?: (cluster: ClusterT) => Promise<void>): Promise<T> {
  const s: Sdk = await import('../../client/index.ts');
  const cluster = await s.LocalCluster.start({ nWorkers: setup ? 0 : 2, threadsPerWorker: 1 });
  try {
    await setup?.(cluster);
    const client = await s.Client.connect(cluster);
    try {
      return await fn(client, cluster);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

/** Deterministic 1–200 ms durations (a linear congruential generator), the same every run. */
export function skewDurations(n: number): number[] {
  let x = 19;
  return Array.from({ length: n }, () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return 1 + (x % 200);
  });
}

export async function measureSkew(ctx: GroupContext, n: number): Promise<void> {
  await withCluster(async (client) => {
    // The shared input: 1 MiB made on one worker; every task needs it.
    const data = client.submitWith({ pure: false }, (bytes: number) => new Uint8Array(bytes).fill(7), 1024 * 1024);
    await data.wait();
    const nap = (d: Uint8Array, ms: number, i: number): number => {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
      return d.byteLength + i;
    };
    // Warm both workers' threads on the function (not timed).
    await client.gather([0, 1, 2, 3].map((i) => client.submitWith({ pure: false }, nap, data, 1, -1 - i)));
    const durations = skewDurations(n);
    const sumMs = durations.reduce((a, b) => a + b, 0);
    const idealS = Math.max(sumMs / 2, Math.max(...durations)) / 1000;
    const t0 = process.hrtime.bigint();
    const futures = durations.map((ms, i) => client.submitWith({ pure: false }, nap, data, ms, i));
    const results = (await client.gather(futures)) as number[];
    const elapsed = secs(t0);
    if (results.some((r, i) => r !== 1024 * 1024 + i)) throw new Error('skew: wrong results');
    const info = await client.schedulerInfo();
    ctx.emit('skew_vs_ideal', elapsed / idealS, 'ratio', {
      tasks: n,
      summedTaskSeconds: sumMs / 1000,
      idealSeconds: idealS,
      seconds: elapsed,
      workers: info.workers.length,
      method: 'wall time of 1–200 ms sleeping tasks that all depend on one worker’s result, over max(sum/2, longest)',
    });
  });
}

export async function measureTransferMany(ctx: GroupContext, count: number, each: number): Promise<void> {
  const setup = async (cluster: ClusterT): Promise<void> => {
    await cluster.addWorker({ name: 'bench-a', resources: { A: 1 } });
    await cluster.addWorker({ name: 'bench-b', resources: { B: 1 } });
  };
  await withCluster(async (client, cluster) => {
    const b = cluster.workerProcesses.find((w) => w.name === 'bench-b');
    if (!b) throw new Error('transfer_many: worker bench-b not found');
    const produce = (n: number, salt: number): Uint8Array => {
      const out = new Uint8Array(n);
      for (let o = 0; o < n; o += 65536) crypto.getRandomValues(out.subarray(o, Math.min(n, o + 65536)));
      out[0] = salt & 255;
      return out;
    };
    const parts = Array.from({ length: count }, (_, i) => client.submitWith({ resources: { A: 1 }, pure: false }, produce, each, i));
    await Promise.all(parts.map((p) => p.wait()));
    // Warm bench-b (thread start, function compile) before its memory is read.
    await client.submitWith({ resources: { B: 1 }, pure: false }, (x: number) => x, 1).result();
    const before = readMemoryStatus(b.pid).vmRssBytes;
    const total = (...xs: Uint8Array[]): number => xs.reduce((n, x) => n + x.byteLength, 0);
    const t0 = process.hrtime.bigint();
    const got = await client.submitWith({ resources: { B: 1 }, pure: false }, total, ...parts).result();
    const elapsed = secs(t0);
    if (got !== count * each) throw new Error(`transfer_many: the consumer saw ${String(got)} bytes`);
    const peak = readMemoryStatus(b.pid).vmHwmBytes;
    const bytes = count * each;
    ctx.emit('transfer_many_rss', (peak - before) / bytes, 'ratio', {
      results: count,
      bytesEach: each,
      rssBeforeMiB: before / 2 ** 20,
      peakMiB: peak / 2 ** 20,
      seconds: elapsed,
      MBps: bytes / elapsed / 1e6,
      method: 'receiving worker VmHWM after minus VmRSS before, over the bytes fetched',
    });
    for (const p of parts) p.release();
  }, setup);
}
