/**
 * The recc measures, written against the SDK (`client/index.ts`): the same
 * workloads as bench/dask/bench_dask.py, on `LocalCluster.start({nWorkers: 2,
 * threadsPerWorker: 1})`. Task functions are inline (shipped as source), so
 * they may not refer to outer variables. Keys are the SDK's default
 * (deterministic from function and arguments, like Dask's `pure=True`); every
 * measure uses arguments no earlier task used, so nothing is served from a
 * previous result. Only where arguments repeat (transfer, CPU) is
 * `pure: false` passed, on both sides.
 */
import type { Group } from '../lib/measures.ts';
import { median, percentile } from '../lib/stats.ts';
import { busyFraction, costPerTask, readCpuSeconds, readCpuTotals, readMemoryStatus, sampleProcess, type ProcessCost } from '../lib/proc.ts';
import { cpus } from 'node:os';

export interface GroupContext {
  quick: boolean;
  /** Multiplies the task counts (map, tree, latency, 1M graph, fake workers); for profiling. */
  scale: number;
  emit(name: string, value: number | null, unit: string, extra?: Record<string, unknown>): void;
}

/* The SDK as `import … from 'recc'` gives it (client/index.ts); loaded lazily. */
type Sdk = typeof import('../../client/index.ts');
type ClientT = import('../../client/index.ts').Client;
type ClusterT = import('../../client/index.ts').LocalCluster;

let sdkPromise: Promise<Sdk> | undefined;
function sdk(): Promise<Sdk> {
  sdkPromise ??= import('../../client/index.ts');
  return sdkPromise;
}

const now = (): bigint => process.hrtime.bigint();
const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

/** Clusters currently open, for `diagnostics()` when a group hangs. */
const openClusters = new Set<ClusterT>();

/** The last log lines of every open cluster's processes (printed by measure.ts before its deadline). */
export function diagnostics(lines = 15): string {
  const out: string[] = [];
  for (const c of openClusters) {
    out.push(`cluster ${c.schedulerAddress} pids ${c.pids.join(' ')}`);
    for (const name of ['scheduler', ...c.workerProcesses.map((w) => w.name)]) {
      out.push(`--- ${name}`, ...c.logs(name).slice(-lines));
    }
  }
  return out.join('\n');
}

/**
 * A LocalCluster (default: the topology, 2 workers × 1 thread) and a
 * connected client; both closed afterwards. `setup` may add workers.
 */
async function withCluster<T>(
  fn: (client: ClientT, s: Sdk, cluster: ClusterT) => Promise<T>,
  options: { nWorkers?: number; setup?: (cluster: ClusterT) => Promise<void> } = {},
): Promise<T> {
  const s = await sdk();
  const cluster = await s.LocalCluster.start({ nWorkers: options.nWorkers ?? 2, threadsPerWorker: 1 });
  openClusters.add(cluster);
  try {
    await options.setup?.(cluster);
    const client = await s.Client.connect(cluster);
    try {
      return await fn(client, s, cluster);
    } finally {
      await client.close();
    }
  } finally {
    openClusters.delete(cluster);
    await cluster.close();
  }
}

/** The scheduler's pid (LocalCluster lists it first). */
function schedulerPid(cluster: ClusterT): number {
  const pid = cluster.pids[0];
  if (pid === undefined) throw new Error('LocalCluster reports no scheduler pid');
  return pid;
}

/**
 * Snapshot CPU time and syscall counts of the client (this process), the
 * scheduler and every worker; `perTask(n)` later gives each one's cost per
 * task, the evidence for where time goes (bench/FINDINGS.md).
 */
function meter(cluster: ClusterT): { perTask(tasks: number): Record<string, ProcessCost> } {
  const [sched, ...workers] = cluster.pids;
  const roles: Array<[string, number]> = [['client', process.pid]];
  if (sched !== undefined) roles.push(['scheduler', sched]);
  workers.forEach((pid, i) => roles.push([`worker${i}`, pid]));
  const before = roles.map(([, pid]) => sampleProcess(pid));
  return {
    perTask(tasks) {
      const out: Record<string, ProcessCost> = {};
      roles.forEach(([role, pid], i) => {
        const c = costPerTask(before[i]!, sampleProcess(pid), tasks);
        out[role] = { cpuUsPerTask: round(c.cpuUsPerTask), sysUsPerTask: round(c.sysUsPerTask), readsPerTask: round(c.readsPerTask), writesPerTask: round(c.writesPerTask) };
      });
      return out;
    },
  };
}

function round(v: number): number {
  return Math.round(v * 100) / 100;
}

async function warmUp(client: ClientT, base: number): Promise<void> {
  const items = Array.from({ length: 200 }, (_, i) => base + i);
  await client.gather(client.map((x: number) => x, items));
}

export async function runGroup(group: Group, ctx: GroupContext): Promise<void> {
  const q = ctx.quick;
  const k = (n: number): number => Math.max(2, Math.round(n * ctx.scale));
  switch (group) {
    case 'start':
      return measureStart(ctx, q ? 1 : 3);
    case 'map_noop':
      return withCluster((c, _s, cluster) => measureMap(c, cluster, ctx, k(q ? 2_000 : 20_000)));
    case 'tree_reduce':
      return withCluster((c, s, cluster) => measureTree(c, s, cluster, ctx, k(q ? 1_000 : 10_000)));
    case 'latency':
      return withCluster((c, _s, cluster) => measureLatency(c, cluster, ctx, k(q ? 100 : 500)));
    case 'transfer':
      return measureTransfer(ctx, 100 * 1024 * 1024, q ? 2 : 5);
    case 'cpu_efficiency':
      return withCluster((c, _s, cluster) => measureCpu(c, cluster, ctx, q ? 16 : 64, 0.05));
    case 'graph_1m':
      return measureGraph(ctx, k(q ? 100_000 : 1_000_000));
    case 'workers_200':
      return measureFakeWorkers(ctx, q ? 20 : 200, k(q ? 20_000 : 200_000));
    default:
      throw new Error(`recc group ${group} has no engine measure`);
  }
}

async function measureStart(ctx: GroupContext, reps: number): Promise<void> {
  const s = await sdk();
  const samples: number[] = [];
  // One untimed start first (as on the Dask side): it builds the process
  // bundle after a source change and warms the file cache.
  for (let i = -1; i < reps; i++) {
    const t0 = now();
    const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
    const client = await s.Client.connect(cluster);
    if (i >= 0) samples.push(secs(t0));
    // Ready means ready to run work: check it does.
    const r = await client.submit((x: number) => x + 1, i).result();
    if (r !== i + 1) throw new Error(`start: unexpected result ${String(r)}`);
    await client.close();
    await cluster.close();
  }
  ctx.emit('start', median(samples), 's', { reps, samples });
}

/** Repetitions of the throughput measures; the median is reported (the machine is shared). */
const REPS = 3;

/** The run with the median rate (REPS is odd), so its details match the figure. */
function middle<T extends { rate: number }>(runs: readonly T[]): T {
  return [...runs].sort((a, b) => a.rate - b.rate)[runs.length >> 1]!;
}

async function measureMap(client: ClientT, cluster: ClusterT, ctx: GroupContext, n: number): Promise<void> {
  await warmUp(client, -1_000_000);
  const runs: Array<{ rate: number; perTask: Record<string, ProcessCost> }> = [];
  for (let r = 0; r < REPS; r++) {
    // Fresh arguments every repetition, so no key is served from an earlier result.
    const items = Array.from({ length: n }, (_, i) => r * n + i);
    const m = meter(cluster);
    const t0 = now();
    const futures = client.map((x: number) => x, items);
    const results = await client.gather(futures);
    const elapsed = secs(t0);
    if (results.length !== n || results[n - 1] !== r * n + n - 1) throw new Error('map: wrong results');
    for (const f of futures) f.release();
    runs.push({ rate: n / elapsed, perTask: m.perTask(n) });
  }
  const mid = middle(runs);
  ctx.emit('map_noop', mid.rate, 'tasks/s', { tasks: n, reps: REPS, samples: runs.map((x) => Math.round(x.rate)), perTask: mid.perTask });
}

async function measureTree(client: ClientT, s: Sdk, cluster: ClusterT, ctx: GroupContext, leaves: number): Promise<void> {
  await warmUp(client, -2_000_000);
  const noop = s.delayed((x: number) => x);
  const add = s.delayed((a: number, b: number) => a + b);
  const runs: Array<{ rate: number; detail: Record<string, unknown> }> = [];
  for (let r = 0; r < REPS; r++) {
    const base = r * leaves;
    const m = meter(cluster);
    const t0 = now();
    let level: Array<ReturnType<typeof add>> = Array.from({ length: leaves }, (_, i) => noop(base + i));
    let tasks = leaves;
    while (level.length > 1) {
      const next: Array<ReturnType<typeof add>> = [];
      for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i]!, level[i + 1]!));
      tasks += next.length;
      if (level.length % 2 === 1) next.push(level[level.length - 1]!);
      level = next;
    }
    const built = secs(t0);
    const result = await client.get(level[0] as ReturnType<typeof add>);
    const elapsed = secs(t0);
    const expected = leaves * base + (leaves * (leaves - 1)) / 2;
    if (result !== expected) throw new Error(`tree: wrong result ${String(result)}, expected ${expected}`);
    runs.push({ rate: tasks / elapsed, detail: { tasks, leaves, seconds: elapsed, buildSeconds: built, perTask: m.perTask(tasks) } });
  }
  const mid = middle(runs);
  ctx.emit('tree_reduce', mid.rate, 'tasks/s', { ...mid.detail, reps: REPS, samples: runs.map((x) => Math.round(x.rate)) });
}

async function measureLatency(client: ClientT, cluster: ClusterT, ctx: GroupContext, n: number): Promise<void> {
  await warmUp(client, -3_000_000);
  for (let i = 0; i < 50; i++) await client.submit((x: number) => x, -4_000_000 - i).result();
  const samples: number[] = [];
  const m = meter(cluster);
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const r = await client.submit((x: number) => x, i).result();
    samples.push(secs(t0) * 1000);
    if (r !== i) throw new Error('latency: wrong result');
  }
  ctx.emit('latency_p50', percentile(samples, 50), 'ms', { samples: n, perTask: m.perTask(n) });
  ctx.emit('latency_p99', percentile(samples, 99), 'ms', { samples: n });
}

/**
 * One 100 MiB result moved worker→worker: a producer pinned to worker A (by
 * the resource A=1), then a consumer pinned to worker B; the consumer's
 * submit→result wall time is timed (the same method as the Dask side). The
 * same round trip without a dependency is timed too, to report the transfer
 * net of scheduling.
 */
async function measureTransfer(ctx: GroupContext, nbytes: number, reps: number): Promise<void> {
  const setup = async (cluster: ClusterT): Promise<void> => {
    await cluster.addWorker({ name: 'bench-a', resources: { A: 1 } });
    await cluster.addWorker({ name: 'bench-b', resources: { B: 1 } });
  };
  await withCluster(
    async (client, _s, cluster) => {
      await warmUp(client, -7_000_000);
      // Incompressible bytes, like the Dask side (crypto is a global, so this ships inline).
      const produce = (n: number, salt: number): Uint8Array => {
        const b = new Uint8Array(n);
        for (let o = 0; o < n; o += 65536) crypto.getRandomValues(b.subarray(o, Math.min(n, o + 65536)));
        b[0] = salt & 255;
        return b;
      };
      const size = (b: Uint8Array): number => b.byteLength;
      const walls: number[] = [];
      const bases: number[] = [];
      // CPU of each process during the consumer's round trip only, summed over the timed repetitions.
      const spent: Record<string, ProcessCost> = {};
      for (let rep = 0; rep <= reps; rep++) {
        const a = client.submitWith({ resources: { A: 1 }, pure: false }, produce, nbytes, rep);
        await a.wait();
        let t0 = now();
        await client.submitWith({ resources: { B: 1 }, pure: false }, size, new Uint8Array(1)).result();
        const base = secs(t0);
        const m = meter(cluster);
        t0 = now();
        const n = await client.submitWith({ resources: { B: 1 }, pure: false }, size, a).result();
        const wall = secs(t0);
        if (n !== nbytes) throw new Error(`transfer: consumer saw ${String(n)} bytes`);
        if (rep > 0) {
          walls.push(wall);
          bases.push(base);
          for (const [role, c] of Object.entries(m.perTask(reps))) {
            const acc = (spent[role] ??= { cpuUsPerTask: 0, sysUsPerTask: 0, readsPerTask: 0, writesPerTask: 0 });
            acc.cpuUsPerTask += c.cpuUsPerTask;
            acc.sysUsPerTask += c.sysUsPerTask;
            acc.readsPerTask += c.readsPerTask;
            acc.writesPerTask += c.writesPerTask;
          }
        }
        a.release();
      }
      const med = median(walls);
      const net = med - median(bases);
      ctx.emit('transfer', nbytes / med / 1e6, 'MB/s', {
        bytes: nbytes,
        reps,
        medianSeconds: med,
        netMBps: net > 0 ? nbytes / net / 1e6 : null,
        method: 'wall time of a dependent task pinned to the other worker',
        // "per task" here is per 100 MiB transfer.
        perTask: spent,
      });
    },
    { nWorkers: 0, setup },
  );
}

/** The same work as bench_dask.py's burn(), in JavaScript. */
function burn(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003;
  return x;
}

/** CPU seconds (user + system) this process has used; unaffected by other processes' load. */
function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/** Iterations of burn() that take `targetS` of CPU time here. */
function calibrateBurn(targetS: number): number {
  let n = 100_000;
  for (;;) {
    const c0 = cpuNow();
    burn(n);
    const dt = cpuNow() - c0;
    if (dt > 0.02) return Math.max(1, Math.round((n * targetS) / dt));
    n *= 2;
  }
}

async function measureCpu(client: ClientT, cluster: ClusterT, ctx: GroupContext, tasks: number, taskS: number): Promise<void> {
  await warmUp(client, -5_000_000);
  // Inline task functions ship as source and may not refer to outer variables,
  // so the loop of burn() is repeated here; the salt makes every task distinct.
  const burnTask = (a: [number, number]): number => {
    let x = 0;
    for (let i = 0; i < a[0]; i++) x = (x + i * 7) % 1000003;
    return x;
  };
  const n = calibrateBurn(taskS);
  // The serial reference is CPU time, so other processes on this shared
  // machine cannot inflate it; their load shows up only in the parallel wall time.
  const c0 = cpuNow();
  for (let i = 0; i < tasks; i++) burn(n);
  const serial = cpuNow() - c0;
  // Warm the workers' JIT on the same function.
  await client.gather(client.map(burnTask, [[n, -1], [n, -2], [n, -3], [n, -4]], { pure: false }));
  // The machine is shared: up to 3 attempts, keeping the one other processes
  // disturbed least (the Dask side does the same).
  let best: { parallel: number; otherCores: number; perTask: Record<string, ProcessCost> } | undefined;
  let attempts = 0;
  while (attempts < 3 && !(best && best.otherCores < 0.1)) {
    attempts++;
    const m = meter(cluster);
    const machine0 = readCpuTotals();
    const t1 = now();
    await client.gather(client.map(burnTask, Array.from({ length: tasks }, (_, i) => [n, attempts * tasks + i]), { pure: false }));
    const parallel = secs(t1);
    const machineBusyCores = busyFraction(machine0, readCpuTotals()) * cpus().length;
    // CPU per task by process shows whether both workers shared the work.
    const perTask = m.perTask(tasks);
    const ourCores = (Object.values(perTask).reduce((sum, c) => sum + c.cpuUsPerTask, 0) * tasks) / 1e6 / parallel;
    // Cores other processes used meanwhile: the efficiency cannot exceed (cores − this) / cores.
    const otherCores = Math.max(0, machineBusyCores - ourCores);
    if (!best || otherCores < best.otherCores) best = { parallel, otherCores, perTask };
  }
  const { parallel, otherCores, perTask } = best!;
  ctx.emit('cpu_efficiency', serial / (2 * parallel), 'ratio', { tasks, taskSeconds: serial / tasks, serialSeconds: serial, parallelSeconds: parallel, otherCores: round(otherCores), attempts, perTask });
}

async function measureGraph(ctx: GroupContext, n: number): Promise<void> {
  await withCluster(async (client, _s, cluster) => {
    const pid = schedulerPid(cluster);
    const idle = readMemoryStatus(pid).vmRssBytes;
    // Two stages of n/2 tasks, each stage-2 task depending on one stage-1
    // result: a graph with n tasks and n/2 edges, submitted at once.
    const half = Math.floor(n / 2);
    const items = Array.from({ length: half }, (_, i) => i);
    const cpu0 = readCpuSeconds(pid);
    const m = meter(cluster);
    const t0 = now();
    const first = client.map((x: number) => x, items);
    // Futures as items are replaced by their results on the worker (the SDK's types do not say so yet).
    const second = client.map((x: number) => x + 1, first as unknown as number[]);
    for (const f of first) f.release();
    const results = await client.gather(second);
    const elapsed = secs(t0);
    const cpu = readCpuSeconds(pid) - cpu0;
    if (results.length !== half || results[half - 1] !== half) throw new Error('graph: wrong results');
    const mem = readMemoryStatus(pid);
    ctx.emit('graph_1m_tasks_per_s', (2 * half) / elapsed, 'tasks/s', { tasks: 2 * half, edges: half, seconds: elapsed, schedulerCpuSeconds: cpu, perTask: m.perTask(2 * half) });
    ctx.emit('graph_1m_scheduler_peak_rss', mem.vmHwmBytes / 2 ** 20, 'MiB', { tasks: 2 * half, idleRssMiB: idle / 2 ** 20 });
    ctx.emit('graph_1m_rss_per_task', (mem.vmHwmBytes - idle) / (2 * half), 'bytes/task', { tasks: 2 * half });
  });
}

async function measureFakeWorkers(ctx: GroupContext, workers: number, tasks: number): Promise<void> {
  const { startFakeWorkers } = await import('./fake-workers.ts');
  let fakes: Awaited<ReturnType<typeof startFakeWorkers>> | undefined;
  try {
    await withCluster(
      async (client, _s, cluster) => {
        const registered = (await client.schedulerInfo()).workers.length;
        if (registered !== workers) throw new Error(`workers_200: ${registered} of ${workers} fake workers registered`);
        const pid = schedulerPid(cluster);
        await warmUp(client, -6_000_000);
        const items = Array.from({ length: tasks }, (_, i) => i);
        const cpu0 = readCpuSeconds(pid);
        const m = meter(cluster);
        const t0 = now();
        const results = await client.gather(client.map((x: number) => x, items));
        const elapsed = secs(t0);
        const cpu = readCpuSeconds(pid) - cpu0;
        if (results.length !== tasks || results[tasks - 1] !== tasks - 1) throw new Error('workers_200: wrong results');
        const perTask = m.perTask(tasks);
        ctx.emit('workers_200_cpu_per_task', (cpu / tasks) * 1e6, 'µs/task', { workers, tasks, schedulerCpuSeconds: cpu, seconds: elapsed, perTask });
        ctx.emit('workers_200_tasks_per_s', tasks / elapsed, 'tasks/s', { workers, tasks, seconds: elapsed });
      },
      {
        nWorkers: 0,
        setup: async (cluster) => {
          fakes = await startFakeWorkers({ address: cluster.schedulerAddress, token: cluster.token, count: workers });
        },
      },
    );
  } finally {
    await fakes?.close();
  }
}
