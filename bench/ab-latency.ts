/**
 * The latency group's protocol for two worktrees at once, interleaved within one process (issue 20: "no bench
 * measure regresses by more than 5 %"). `bench/ab.ts` runs each arm as a separate bench process, one after the
 * other; on this VM the speed of the machine drifts between such runs by ±20 % (the same tree's p50 ranged
 * 0.94-1.77 ms within ten minutes), so a 5 % question needed 20 pairs and still read 0.98-1.18 as its IQR.
 *
 * Here both trees' clusters are up together, each with its own client module (imported from its tree), and
 * their timed round trips are taken in alternating blocks of `--block` (10), so a drift falls on both alike.
 * Each iteration starts two fresh clusters and times round trips 50-550 of each after the bench's warm-up
 * (`measureLatency` in recc/engine-measures.ts): the window the `latency` group measures, where much of the
 * engine still runs in V8's baseline tiers. Reported per iteration and as median and IQR of B/A: p50, p99, and
 * the CPU of the cluster's processes per round trip (all threads, from /proc schedstat, in ns), split into
 * scheduler and workers. An A/A run of the same commit in two worktrees read p50 1.000 (IQR 0.953-1.010) and
 * CPU 0.978 (IQR 0.949-1.048) over 8 iterations.
 *
 *   npx tsx bench/ab-latency.ts --a /work/wt/base --b /work/wt/new [--iterations 8] [--block 10] [--measure latency|map]
 *
 * Each tree's engine bundle must be fresh (comm/launch.ts builds it on the first LocalCluster.start): a tree
 * whose engine runs from source through tsx costs ~8 % more CPU per round trip.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { median, percentile } from './lib/stats.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt?: string): string => {
  const i = argv.indexOf(name);
  const v = i >= 0 ? argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`ab-latency.ts: ${name} is required`);
  return v;
};
const trees = { A: resolve(flag('--a')), B: resolve(flag('--b')) };
const iterations = Number(flag('--iterations', '8'));
/**
 * `latency` (the default) as above; `map` runs the map_noop group's protocol instead: after the warm-up, three
 * 20,000-task no-op maps on each fresh cluster, alternating between the trees, and compares the median rate and
 * the cluster's CPU per task.
 */
const measure = flag('--measure', 'latency');
if (measure !== 'latency' && measure !== 'map') throw new Error('ab-latency.ts: --measure latency|map expected');
const MAP_TASKS = 20_000;
const MAP_REPS = 3;
const block = Number(flag('--block', '10'));
const WINDOW = 500;
if (!(iterations > 0) || !(block > 0) || WINDOW % block !== 0) throw new Error(`ab-latency.ts: --iterations > 0 and --block dividing ${WINDOW} expected`);

type Sdk = typeof import('../client/index.ts');
type Arm = {
  cluster: import('../client/index.ts').LocalCluster;
  client: import('../client/index.ts').Client;
  lat: number[];
  /** CPU µs of the cluster's processes (scheduler first) within the timed blocks. */
  cpu: number;
  schedulerCpu: number;
  /** Read and write syscalls of the scheduler and of the workers within the timed blocks. */
  sys: { sr: number; sw: number; wr: number; ww: number };
};

/** Read and write syscalls so far of a process (all threads), from /proc/<pid>/io. */
function syscalls(pid: number): [number, number] {
  const io = readFileSync(`/proc/${pid}/io`, 'utf8');
  return [Number(/syscr: (\d+)/.exec(io)![1]), Number(/syscw: (\d+)/.exec(io)![1])];
}
function sysAll(pids: readonly number[]): number[] {
  const [sr, sw] = syscalls(pids[0]!);
  let wr = 0;
  let ww = 0;
  for (const pid of pids.slice(1)) {
    const [r, w] = syscalls(pid);
    wr += r;
    ww += w;
  }
  return [sr, sw, wr, ww];
}

/** CPU µs so far of every thread of these processes. */
function cpuUs(pids: readonly number[]): number {
  let ns = 0;
  for (const pid of pids) {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      } catch {
        // A thread that ended between the listing and the read.
      }
    }
  }
  return ns / 1000;
}

async function freshArm(sdk: Sdk): Promise<Arm> {
  const cluster = await sdk.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  const client = await sdk.Client.connect(cluster);
  // The latency group's warm-up (engine-measures.ts warmUp and its 50 untimed round trips).
  await client.gather(client.map((x: number) => x, Array.from({ length: 200 }, (_, i) => -3_000_000 + i)));
  for (let i = 0; i < 50; i++) await client.submit((x: number) => x, -4_000_000 - i).result();
  return { cluster, client, lat: [], cpu: 0, schedulerCpu: 0, sys: { sr: 0, sw: 0, wr: 0, ww: 0 } };
}

async function timedBlock(arm: Arm, from: number): Promise<void> {
  const pids = arm.cluster.pids;
  const c0 = cpuUs(pids);
  const s0 = cpuUs(pids.slice(0, 1));
  const y0 = sysAll(pids);
  for (let i = from; i < from + block; i++) {
    const t0 = process.hrtime.bigint();
    const r = await arm.client.submit((x: number) => x, i).result();
    arm.lat.push(Number(process.hrtime.bigint() - t0) / 1e6);
    if (r !== i) throw new Error(`round trip ${i}: wrong result ${String(r)}`);
  }
  arm.cpu += cpuUs(pids) - c0;
  arm.schedulerCpu += cpuUs(pids.slice(0, 1)) - s0;
  const y1 = sysAll(pids);
  arm.sys.sr += y1[0]! - y0[0]!;
  arm.sys.sw += y1[1]! - y0[1]!;
  arm.sys.wr += y1[2]! - y0[2]!;
  arm.sys.ww += y1[3]! - y0[3]!;
}

const sorted = (xs: readonly number[]): number[] => [...xs].sort((a, b) => a - b);
function quartiles(xs: readonly number[]): string {
  const s = sorted(xs);
  const q = (p: number): number => {
    const i = (s.length - 1) * p;
    const lo = Math.floor(i);
    return s[lo]! + (s[Math.min(lo + 1, s.length - 1)]! - s[lo]!) * (i - lo);
  };
  return `${q(0.5).toFixed(3)} (IQR ${q(0.25).toFixed(3)}–${q(0.75).toFixed(3)})`;
}

/** One no-op map of MAP_TASKS on an arm: its rate (tasks/s) and the cluster's CPU µs per task. */
async function timedMap(arm: Arm, rep: number): Promise<{ rate: number; cpuPerTask: number }> {
  const pids = arm.cluster.pids;
  const c0 = cpuUs(pids);
  const items = Array.from({ length: MAP_TASKS }, (_, i) => rep * MAP_TASKS + i);
  const t0 = process.hrtime.bigint();
  const futures = arm.client.map((x: number) => x, items);
  const results = await arm.client.gather(futures);
  const secs = Number(process.hrtime.bigint() - t0) / 1e9;
  if (results.length !== MAP_TASKS || results[MAP_TASKS - 1] !== items[MAP_TASKS - 1]) throw new Error('map: wrong results');
  for (const f of futures) f.release();
  return { rate: MAP_TASKS / secs, cpuPerTask: (cpuUs(pids) - c0) / MAP_TASKS };
}

const sdkA = (await import(`${trees.A}/client/index.ts`)) as Sdk;
const sdkB = (await import(`${trees.B}/client/index.ts`)) as Sdk;
const ratio = { p50: [] as number[], p99: [] as number[], cpu: [] as number[], scheduler: [] as number[], workers: [] as number[] };
for (let it = 0; it < iterations; it++) {
  // Which cluster starts first, and which block goes first, alternate.
  const first = it % 2 === 0 ? 'A' : 'B';
  const arms: Partial<Record<'A' | 'B', Arm>> = {};
  arms[first] = await freshArm(first === 'A' ? sdkA : sdkB);
  arms[first === 'A' ? 'B' : 'A'] = await freshArm(first === 'A' ? sdkB : sdkA);
  const A = arms.A!;
  const B = arms.B!;
  if (measure === 'map') {
    const runs = { A: [] as Array<{ rate: number; cpuPerTask: number }>, B: [] as Array<{ rate: number; cpuPerTask: number }> };
    try {
      for (let r = 0; r < MAP_REPS; r++) {
        for (const name of (r + it) % 2 === 0 ? (['A', 'B'] as const) : (['B', 'A'] as const)) runs[name].push(await timedMap(arms[name]!, r));
      }
    } finally {
      for (const arm of [A, B]) {
        await arm.client.close();
        await arm.cluster.close();
      }
    }
    const [ra, rb] = [median(runs.A.map((x) => x.rate)), median(runs.B.map((x) => x.rate))];
    const [ca, cb] = [median(runs.A.map((x) => x.cpuPerTask)), median(runs.B.map((x) => x.cpuPerTask))];
    ratio.p50.push(rb / ra);
    ratio.cpu.push(cb / ca);
    process.stdout.write(
      `iteration ${it}: map A ${ra.toFixed(0)} B ${rb.toFixed(0)} tasks/s, B/A ${(rb / ra).toFixed(3)}; cluster CPU µs per task A ${ca.toFixed(1)} ` +
        `B ${cb.toFixed(1)}, B/A ${(cb / ca).toFixed(3)}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`,
    );
    continue;
  }
  try {
    for (let b = 0; b < WINDOW / block; b++) {
      for (const arm of b % 2 === 0 ? [A, B] : [B, A]) await timedBlock(arm, b * block);
    }
  } finally {
    for (const arm of [A, B]) {
      await arm.client.close();
      await arm.cluster.close();
    }
  }
  const [pa, pb] = [percentile(A.lat, 50), percentile(B.lat, 50)];
  const [qa, qb] = [percentile(A.lat, 99), percentile(B.lat, 99)];
  ratio.p50.push(pb / pa);
  ratio.p99.push(qb / qa);
  ratio.cpu.push(B.cpu / A.cpu);
  ratio.scheduler.push(B.schedulerCpu / A.schedulerCpu);
  ratio.workers.push((B.cpu - B.schedulerCpu) / (A.cpu - A.schedulerCpu));
  const perRt = (arm: Arm): string =>
    `${(arm.cpu / WINDOW).toFixed(0)} (scheduler ${(arm.schedulerCpu / WINDOW).toFixed(0)}; syscalls r/w scheduler ` +
    `${(arm.sys.sr / WINDOW).toFixed(2)}/${(arm.sys.sw / WINDOW).toFixed(2)} workers ${(arm.sys.wr / WINDOW).toFixed(2)}/${(arm.sys.ww / WINDOW).toFixed(2)})`;
  process.stdout.write(
    `iteration ${it}: p50 A ${pa.toFixed(3)} B ${pb.toFixed(3)} ms, B/A ${(pb / pa).toFixed(3)}; p99 A ${qa.toFixed(2)} B ${qb.toFixed(2)} ms; ` +
      `cluster CPU µs per round trip A ${perRt(A)} B ${perRt(B)}; load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}\n`,
  );
}
if (measure === 'map') {
  process.stdout.write(`B/A over ${iterations} iterations: map rate ${quartiles(ratio.p50)}; cluster CPU per task ${quartiles(ratio.cpu)}\n`);
  process.exit(0);
}
process.stdout.write(
  `B/A over ${iterations} iterations: p50 ${quartiles(ratio.p50)}; p99 ${quartiles(ratio.p99)}; cluster CPU ${quartiles(ratio.cpu)}; ` +
    `scheduler CPU ${quartiles(ratio.scheduler)}; workers CPU ${quartiles(ratio.workers)}\n`,
);
