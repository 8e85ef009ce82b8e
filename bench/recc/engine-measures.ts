/**
 * The recc measures, written against the SDK (`client/index.ts`): the same
 * workloads as bench/dask/bench_dask.py, on `LocalCluster.start({nWorkers: 2,
 * threadsPerWorker: 1})`. Task functions are inline (shipped as source), so
 * they may not refer to outer variables.
 */
import type { Group } from '../lib/measures.ts';
import { median, percentile } from '../lib/stats.ts';
import { readCpuSeconds, readMemoryStatus } from '../lib/proc.ts';
import { addWorkers, startScheduler } from './procs.ts';

export interface GroupContext {
  quick: boolean;
  emit(name: string, value: number | null, unit: string, extra?: Record<string, unknown>): void;
}

/* The slice of the SDK the bench uses. */
interface FutureLike {
  result(): Promise<unknown>;
}
interface ClientLike {
  submit(fn: (...args: any[]) => unknown, ...args: unknown[]): FutureLike;
  map(fn: (...args: any[]) => unknown, items: readonly unknown[]): FutureLike[];
  gather(futures: readonly FutureLike[]): Promise<unknown[]>;
  compute(value: unknown): FutureLike | Promise<unknown>;
  close(): Promise<void>;
}
interface ClusterLike {
  close(): Promise<void>;
}
interface Sdk {
  LocalCluster: { start(options: { nWorkers: number; threadsPerWorker: number }): Promise<ClusterLike> };
  Client: { connect(target: unknown, options?: { token?: string }): Promise<ClientLike> };
  delayed(fn: (...args: any[]) => unknown): (...args: unknown[]) => unknown;
}

async function sdk(): Promise<Sdk> {
  // A variable specifier keeps this file compiling while the engine is being written.
  const path = '../../client/index.ts';
  return (await import(path)) as Sdk;
}

const now = (): bigint => process.hrtime.bigint();
const secs = (from: bigint): number => Number(process.hrtime.bigint() - from) / 1e9;

async function compute(client: ClientLike, value: unknown): Promise<unknown> {
  const r = client.compute(value);
  return typeof (r as FutureLike).result === 'function' ? (r as FutureLike).result() : r;
}

async function withCluster<T>(fn: (client: ClientLike, s: Sdk) => Promise<T>): Promise<T> {
  const s = await sdk();
  const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  try {
    const client = await s.Client.connect(cluster);
    try {
      return await fn(client, s);
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

async function warmUp(client: ClientLike, base: number): Promise<void> {
  const items = Array.from({ length: 200 }, (_, i) => base + i);
  await client.gather(client.map((x: number) => x, items));
}

export async function runGroup(group: Group, ctx: GroupContext): Promise<void> {
  const q = ctx.quick;
  switch (group) {
    case 'start':
      return measureStart(ctx, q ? 1 : 3);
    case 'map_noop':
      return withCluster((c) => measureMap(c, ctx, q ? 2_000 : 20_000));
    case 'tree_reduce':
      return withCluster((c, s) => measureTree(c, s, ctx, q ? 1_000 : 10_000));
    case 'latency':
      return withCluster((c) => measureLatency(c, ctx, q ? 100 : 500));
    case 'transfer':
      return measureTransfer(ctx, 100 * 1024 * 1024, q ? 2 : 5);
    case 'cpu_efficiency':
      return withCluster((c) => measureCpu(c, ctx, q ? 16 : 64, 0.05));
    case 'graph_1m':
      return measureGraph(ctx, q ? 100_000 : 1_000_000);
    case 'workers_200':
      return measureFakeWorkers(ctx, q ? 20 : 200, q ? 20_000 : 200_000);
    default:
      throw new Error(`recc group ${group} has no engine measure`);
  }
}

async function measureStart(ctx: GroupContext, reps: number): Promise<void> {
  const s = await sdk();
  const samples: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = now();
    const cluster = await s.LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
    const client = await s.Client.connect(cluster);
    samples.push(secs(t0));
    // Ready means ready to run work: check it does.
    const r = await client.submit((x: number) => x + 1, i).result();
    if (r !== i + 1) throw new Error(`start: unexpected result ${String(r)}`);
    await client.close();
    await cluster.close();
  }
  ctx.emit('start', median(samples), 's', { reps, samples });
}

async function measureMap(client: ClientLike, ctx: GroupContext, n: number): Promise<void> {
  await warmUp(client, -1_000_000);
  const items = Array.from({ length: n }, (_, i) => i);
  const t0 = now();
  const futures = client.map((x: number) => x, items);
  const results = await client.gather(futures);
  const elapsed = secs(t0);
  if (results.length !== n || results[n - 1] !== n - 1) throw new Error('map: wrong results');
  ctx.emit('map_noop', n / elapsed, 'tasks/s', { tasks: n, seconds: elapsed });
}

async function measureTree(client: ClientLike, s: Sdk, ctx: GroupContext, leaves: number): Promise<void> {
  await warmUp(client, -2_000_000);
  const noop = s.delayed((x: number) => x);
  const add = s.delayed((a: number, b: number) => a + b);
  const t0 = now();
  let level: unknown[] = Array.from({ length: leaves }, (_, i) => noop(i));
  let tasks = leaves;
  while (level.length > 1) {
    const next: unknown[] = [];
    for (let i = 0; i + 1 < level.length; i += 2) next.push(add(level[i], level[i + 1]));
    tasks += next.length;
    if (level.length % 2 === 1) next.push(level[level.length - 1]);
    level = next;
  }
  const built = secs(t0);
  const result = await compute(client, level[0]);
  const elapsed = secs(t0);
  if (result !== (leaves * (leaves - 1)) / 2) throw new Error(`tree: wrong result ${String(result)}`);
  ctx.emit('tree_reduce', tasks / elapsed, 'tasks/s', { tasks, leaves, seconds: elapsed, buildSeconds: built });
}

async function measureLatency(client: ClientLike, ctx: GroupContext, n: number): Promise<void> {
  await warmUp(client, -3_000_000);
  for (let i = 0; i < 50; i++) await client.submit((x: number) => x, -4_000_000 - i).result();
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = now();
    const r = await client.submit((x: number) => x, i).result();
    samples.push(secs(t0) * 1000);
    if (r !== i) throw new Error('latency: wrong result');
  }
  ctx.emit('latency_p50', percentile(samples, 50), 'ms', { samples: n });
  ctx.emit('latency_p99', percentile(samples, 99), 'ms', { samples: n });
}

async function measureTransfer(ctx: GroupContext, _nbytes: number, _reps: number): Promise<void> {
  ctx.emit('transfer', null, 'MB/s', { error: 'not written yet: needs pinning a task to a worker' });
  throw new Error('transfer: not written yet');
}

/** The same work as bench_dask.py's burn(), in JavaScript. */
function burn(n: number): number {
  let x = 0;
  for (let i = 0; i < n; i++) x = (x + i * 7) % 1000003;
  return x;
}

function calibrateBurn(targetS: number): number {
  let n = 100_000;
  for (;;) {
    const t0 = now();
    burn(n);
    const dt = secs(t0);
    if (dt > 0.02) return Math.max(1, Math.round((n * targetS) / dt));
    n *= 2;
  }
}

async function measureCpu(client: ClientLike, ctx: GroupContext, tasks: number, taskS: number): Promise<void> {
  await warmUp(client, -5_000_000);
  // Inline task functions ship as source and may not refer to outer variables,
  // so the loop of burn() is repeated here; the salt makes every task distinct.
  const burnTask = (a: [number, number]): number => {
    let x = 0;
    for (let i = 0; i < a[0]; i++) x = (x + i * 7) % 1000003;
    return x;
  };
  const n = calibrateBurn(taskS);
  const t0 = now();
  for (let i = 0; i < tasks; i++) burn(n);
  const serial = secs(t0);
  // Warm the workers' JIT on the same function.
  await client.gather(client.map(burnTask, [[n, -1], [n, -2], [n, -3], [n, -4]]));
  const t1 = now();
  await client.gather(client.map(burnTask, Array.from({ length: tasks }, (_, i) => [n, i])));
  const parallel = secs(t1);
  ctx.emit('cpu_efficiency', serial / (2 * parallel), 'ratio', { tasks, taskSeconds: serial / tasks, serialSeconds: serial, parallelSeconds: parallel });
}

async function measureGraph(ctx: GroupContext, n: number): Promise<void> {
  const s = await sdk();
  const cluster = await startScheduler();
  try {
    await addWorkers(cluster, 2);
    const idle = readMemoryStatus(cluster.scheduler.pid).vmRssBytes;
    const client = await s.Client.connect(cluster.address, { token: cluster.token });
    try {
      const items = Array.from({ length: n }, (_, i) => i);
      const cpu0 = readCpuSeconds(cluster.scheduler.pid);
      const t0 = now();
      const results = await client.gather(client.map((x: number) => x, items));
      const elapsed = secs(t0);
      const cpu = readCpuSeconds(cluster.scheduler.pid) - cpu0;
      if (results.length !== n || results[n - 1] !== n - 1) throw new Error('graph: wrong results');
      const mem = readMemoryStatus(cluster.scheduler.pid);
      ctx.emit('graph_1m_tasks_per_s', n / elapsed, 'tasks/s', { tasks: n, seconds: elapsed, schedulerCpuSeconds: cpu });
      ctx.emit('graph_1m_scheduler_peak_rss', mem.vmHwmBytes / 2 ** 20, 'MiB', { tasks: n, idleRssMiB: idle / 2 ** 20 });
      ctx.emit('graph_1m_rss_per_task', (mem.vmHwmBytes - idle) / n, 'bytes/task', { tasks: n });
    } finally {
      await client.close();
    }
  } finally {
    await cluster.close();
  }
}

async function measureFakeWorkers(ctx: GroupContext, _workers: number, _tasks: number): Promise<void> {
  ctx.emit('workers_200_cpu_per_task', null, 'µs/task', { error: 'not written yet: needs the worker protocol' });
  throw new Error('workers_200: not written yet');
}
