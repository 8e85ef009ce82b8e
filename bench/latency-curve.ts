/**
 * Round-trip latency as a fresh cluster warms up, window by window, for any
 * checkout (an A/B tool: bench/FINDINGS.md §2c). The latency group measures
 * round trips 250-750 of a fresh cluster, mostly in V8's baseline tier; this
 * shows the whole curve and, after a long warm-up, the steady state.
 *
 *   npx tsx bench/latency-curve.ts <tree> [windows=8] [--warm N] [--window N]
 *
 * Per window of `--window` round trips (default 250): p50 in ms and the CPU
 * of all four processes per round trip in µs (client from process.cpuUsage,
 * the others from /proc, 10 ms ticks). `--warm` round trips (default 50)
 * run first, after a 200-task map, as in the latency group.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const argv = process.argv.slice(2);
const opt = (name: string, dflt: number): number => {
  const i = argv.indexOf(name);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const positional = argv.filter((a, i) => !a.startsWith('--') && !argv[i - 1]?.startsWith('--'));
const tree = resolve(positional[0] ?? '.');
const windows = Number(positional[1] ?? 8);
const warm = opt('--warm', 50);
const size = opt('--window', 250);

type Sdk = typeof import('../client/index.ts');
const sdk = (await import(`${tree}/client/index.ts`)) as Sdk;
const cluster = await sdk.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
const client = await sdk.Client.connect(cluster);
const identity = (x: number): number => x;

/** One round trip; the future stays referenced until its result is in (the same as the latency group). */
async function roundTrip(x: number): Promise<number> {
  const future = client.submit(identity, x);
  const r = await future.result();
  if (r !== x) throw new Error(`latency-curve: wrong result ${String(r)} for ${x}`);
  return r;
}

try {
  await client.gather(client.map(identity, Array.from({ length: 200 }, (_, i) => -5_000_000 + i)));
  for (let i = 0; i < warm; i++) await roundTrip(-1 - i);
  const pids = cluster.pids;
  const ticksMs = (pid: number): number => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  };
  const selfMs = (): number => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const cells: string[] = [];
  const all: number[] = [];
  let allCpuMs = 0;
  for (let w = 0; w < windows; w++) {
    const before = pids.map(ticksMs);
    const self0 = selfMs();
    const lat: number[] = [];
    for (let i = 0; i < size; i++) {
      const t = performance.now();
      await roundTrip(w * 1_000_000 + i);
      lat.push(performance.now() - t);
    }
    const cpuMs = selfMs() - self0 + pids.map(ticksMs).reduce((s, c, i) => s + c - before[i]!, 0);
    allCpuMs += cpuMs;
    all.push(...lat);
    lat.sort((a, b) => a - b);
    cells.push(`${lat[lat.length >> 1]!.toFixed(3)}/${Math.round((cpuMs * 1000) / size)}`);
  }
  all.sort((a, b) => a - b);
  console.log(`${tree}: p50 ms/CPU µs per window ${cells.join(' ')}; all: p50 ${all[all.length >> 1]!.toFixed(3)} ms, CPU ${Math.round((allCpuMs * 1000) / all.length)} µs per round trip`);
} finally {
  await client.close();
  await cluster.close();
}
