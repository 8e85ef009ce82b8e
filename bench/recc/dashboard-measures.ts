/**
 * Issue 16: what the live dashboard costs the scheduler. The same wide,
 * fast workload (200 fake workers, a 100,000-task no-op map: tens of
 * thousands of tasks per second) runs on a scheduler without a dashboard
 * and on one with the dashboard and one browser-like viewer reading the SSE
 * stream, alternately; the share is the extra scheduler CPU per task over
 * the with-dashboard CPU per task (medians of the runs).
 */
import { median } from '../lib/stats.ts';
import { readCpuSeconds } from '../lib/proc.ts';

interface Ctx {
  quick: boolean;
  scale: number;
  emit(name: string, value: number | null, unit: string, extra?: Record<string, unknown>): void;
}

/** Reads the dashboard stream as a browser would, counting bytes; returns the stop function. */
async function viewer(url: string, token: string): Promise<{ bytes: () => number; stop: () => Promise<void> }> {
  const abort = new AbortController();
  let bytes = 0;
  let first!: () => void;
  const started = new Promise<void>((resolve) => (first = resolve));
  const done = (async () => {
    const res = await fetch(`${url}/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    if (res.status !== 200) throw new Error(`dashboard stream answered ${res.status}`);
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      bytes += chunk.byteLength;
      first();
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) throw err;
  });
  // Measure only once the viewer is watching (its first frame arrived).
  await Promise.race([started, done]);
  return { bytes: () => bytes, stop: async () => (abort.abort(), await done) };
}

async function once(workers: number, tasks: number, dashboard: boolean, base: number): Promise<{ cpuPerTaskUs: number; tasksPerS: number; streamBytes: number }> {
  const { LocalCluster, Client } = await import('../../client/index.ts');
  const { startFakeWorkers } = await import('./fake-workers.ts');
  const cluster = await LocalCluster.start({ nWorkers: 0, threadsPerWorker: 1, dashboard });
  let fakes: Awaited<ReturnType<typeof startFakeWorkers>> | undefined;
  let watching: Awaited<ReturnType<typeof viewer>> | undefined;
  try {
    fakes = await startFakeWorkers({ address: cluster.schedulerAddress, token: cluster.token, count: workers });
    const client = await Client.connect(cluster);
    try {
      const registered = (await client.schedulerInfo()).workers.length;
      if (registered !== workers) throw new Error(`dashboard: ${registered} of ${workers} fake workers registered`);
      await client.gather(client.map((x: number) => x, Array.from({ length: 2_000 }, (_, i) => base - 10_000 + i)));
      if (dashboard) watching = await viewer(cluster.dashboardUrl as string, cluster.token);
      const pid = cluster.pids[0] as number;
      const items = Array.from({ length: tasks }, (_, i) => base + i);
      const cpu0 = readCpuSeconds(pid);
      const t0 = process.hrtime.bigint();
      const results = await client.gather(client.map((x: number) => x, items));
      const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
      const cpu = readCpuSeconds(pid) - cpu0;
      if (results.length !== tasks || results[tasks - 1] !== base + tasks - 1) throw new Error('dashboard: wrong results');
      if (dashboard && (watching?.bytes() ?? 0) === 0) throw new Error('dashboard: the viewer received nothing');
      return { cpuPerTaskUs: (cpu / tasks) * 1e6, tasksPerS: tasks / seconds, streamBytes: watching?.bytes() ?? 0 };
    } finally {
      await watching?.stop();
      await client.close();
    }
  } finally {
    await fakes?.close();
    await cluster.close();
  }
}

export async function measureDashboardCost(ctx: Ctx): Promise<void> {
  const workers = ctx.quick ? 20 : 200;
  const tasks = Math.max(2, Math.round((ctx.quick ? 20_000 : 100_000) * ctx.scale));
  const reps = ctx.quick ? 1 : 3;
  const without: Array<{ cpuPerTaskUs: number; tasksPerS: number }> = [];
  const withDashboard: Array<{ cpuPerTaskUs: number; tasksPerS: number; streamBytes: number }> = [];
  for (let r = 0; r < reps; r++) {
    // Alternate, so a change in the machine's load falls on both sides.
    without.push(await once(workers, tasks, false, 50_000_000 + r * 1_000_000));
    withDashboard.push(await once(workers, tasks, true, 60_000_000 + r * 1_000_000));
    process.stderr.write(`[recc] dashboard rep ${r + 1}: µs/task without ${without[r]!.cpuPerTaskUs.toFixed(2)}, with ${withDashboard[r]!.cpuPerTaskUs.toFixed(2)}; tasks/s ${Math.round(without[r]!.tasksPerS)} / ${Math.round(withDashboard[r]!.tasksPerS)}\n`);
  }
  const base = median(without.map((s) => s.cpuPerTaskUs));
  const withCost = median(withDashboard.map((s) => s.cpuPerTaskUs));
  const share = (100 * (withCost - base)) / withCost;
  ctx.emit('dashboard_cpu_share', share, '%', {
    workers,
    tasks,
    reps,
    cpuPerTaskUsWithout: without.map((s) => Math.round(s.cpuPerTaskUs * 100) / 100),
    cpuPerTaskUsWith: withDashboard.map((s) => Math.round(s.cpuPerTaskUs * 100) / 100),
    tasksPerSWith: withDashboard.map((s) => Math.round(s.tasksPerS)),
    tasksPerSWithout: without.map((s) => Math.round(s.tasksPerS)),
    streamBytes: withDashboard.map((s) => s.streamBytes),
  });
  ctx.emit('dashboard_tasks_per_s', median(withDashboard.map((s) => s.tasksPerS)), 'tasks/s', { workers, tasks });
}
