/**
 * Issue 16: what watching the live dashboard costs the scheduler.
 *
 * One scheduler with the dashboard on and 200 fake workers runs the same
 * wide, fast no-op map (50,000 tasks, tens of thousands per second) again and
 * again. An arm is MAPS_PER_ARM whole maps in a row; a viewer reading the SSE
 * stream as the page does is connected for the "on" arm of every pair and not
 * for the "off" arm. Method, and why:
 * - ABBA: pairs alternate their order (on-off, off-on, …), so a drift in the
 *   machine's load or the heap's growth falls on both sides equally.
 * - GC-aware: each arm starts right after a forced full GC of the scheduler
 *   (RECC_BENCH_GC=1 makes the dashboard serve one, bench only), so neither
 *   arm inherits the other's garbage; every collection that happens during
 *   an arm is counted in it: what the dashboard allocates (the recorder's
 *   work, frames, the view) still shows as the extra GC it causes.
 * - Short arms, many pairs: an arm is one whole map (fixed-time windows
 *   caught different phases of the bursty flow and differed by 10×). On the
 *   shared bench machine an arm's CPU per task is bimodal (~4 or ~12 µs,
 *   regimes lasting seconds, in either arm); with three maps per arm 7 of 16
 *   pairs straddled two regimes, with one map per arm about 1 in 4 do, so
 *   the pairs are kept short and numerous and the median sees through them.
 * - CPU per task of the scheduler's event-loop thread, from
 *   /proc/<pid>/schedstat (to the nanosecond; the 10 ms ticks of
 *   /proc/<pid>/stat were several % of a window). A watched arm lasts until
 *   the viewer has been sent every task of its maps, so the ticks that carry
 *   them, and the recording of every batch, are charged to the dashboard.
 * - The share of a pair is (on − off) / on; the headline is the median over
 *   pairs, reported with its interquartile range (the loaded machine gives
 *   heavy tails: an arm whose fake workers were starved sends small batches
 *   and costs several times more per task, in either arm).
 *
 * Cross-checks:
 * - the dashboard's own account of its cost (`costMs` in every frame: its
 *   ticks' and stream starts' CPU, process-wide so an upper bound, plus
 *   sampled recording time) over the scheduler's CPU in the same window:
 *   robust to load, since both come from the one process and interval;
 * - the share of the medians (on vs off arms, unpaired);
 * - honesty: the viewer counts the spans it was sent (spans sampled out are
 *   counted by the scheduler in each batch); a watched arm fails unless
 *   every task of its maps reached the viewer.
 */
import { readFileSync } from 'node:fs';
import { median, percentile } from '../lib/stats.ts';
import { readMainThreadCpuSeconds } from '../lib/proc.ts';

interface Ctx {
  quick: boolean;
  scale: number;
  emit(name: string, value: number | null, unit: string, extra?: Record<string, unknown>): void;
}

interface ViewerCounts {
  bytes: number;
  frames: number;
  /** Spans received in delta frames, and spans the scheduler said it sampled out. */
  spans: number;
  dropped: number;
  /** The dashboard's own cost account in the last frame (ms of scheduler CPU since it started), and in the first delta frame (after this viewer's full frame was charged). */
  costMs: number;
  costMsAtFirstDelta: number | null;
}

interface Viewer {
  counts(): ViewerCounts;
  /** Resolves once spans + dropped received in deltas reach `n`; rejects after `timeoutMs`. */
  until(n: number, timeoutMs: number): Promise<void>;
  stop(): Promise<ViewerCounts>;
}

/** Reads the dashboard stream as the page does (SSE frames, JSON.parse), counting what arrives. */
async function viewer(url: string, token: string): Promise<Viewer> {
  const abort = new AbortController();
  const c: ViewerCounts = { bytes: 0, frames: 0, spans: 0, dropped: 0, costMs: 0, costMsAtFirstDelta: null };
  let first!: () => void;
  const started = new Promise<void>((resolve) => (first = resolve));
  let waiter: { n: number; resolve: () => void } | null = null;
  const check = (): void => {
    if (waiter && c.spans + c.dropped >= waiter.n) {
      waiter.resolve();
      waiter = null;
    }
  };
  const done = (async () => {
    const res = await fetch(`${url}/api/live`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
    if (res.status !== 200) throw new Error(`dashboard stream answered ${res.status}`);
    const decoder = new TextDecoder();
    let text = '';
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      c.bytes += chunk.byteLength;
      text += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = text.indexOf('\n\n')) >= 0) {
        const frame = text.slice(0, end);
        text = text.slice(end + 2);
        const data = frame.split('\n').find((l) => l.startsWith('data: '));
        if (!data) continue;
        c.frames++;
        const parsed = JSON.parse(data.slice(6)) as { spans?: Array<{ w: number[]; dropped: number }>; costMs?: number };
        if (typeof parsed.costMs === 'number') c.costMs = parsed.costMs;
        // The full frame's spans are history from before this viewer came: only deltas count.
        if (frame.startsWith('event: delta')) {
          c.costMsAtFirstDelta ??= c.costMs;
          for (const b of parsed.spans ?? []) {
            c.spans += b.w.length;
            c.dropped += b.dropped;
          }
        }
        check();
        first();
      }
    }
  })().catch((err: unknown) => {
    if (!abort.signal.aborted) throw err;
  });
  // The window starts once the viewer is watching (its first frame arrived).
  await Promise.race([started, done]);
  return {
    counts: () => ({ ...c }),
    until: (n, timeoutMs) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`dashboard: the viewer was sent ${c.spans + c.dropped} of ${n} spans within ${timeoutMs} ms`)), timeoutMs);
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
        check();
      }),
    stop: async () => {
      abort.abort();
      await done;
      return { ...c };
    },
  };
}

interface Window {
  on: boolean;
  cpuS: number;
  seconds: number;
  cpuPerTaskUs: number;
  /** On windows: what the viewer got, and the dashboard's own cost account over the window. */
  viewer?: ViewerCounts;
  costMs?: number;
  /** The same without this viewer's connect (its full frame): what watching costs once connected. */
  costMsWatching?: number;
}

/** Maps per arm (see the header: short arms pair better on a noisy machine). */
const MAPS_PER_ARM = 1;

/** A full GC of the scheduler (bench only, RECC_BENCH_GC=1), answered once done. */
async function schedulerGc(url: string, token: string): Promise<void> {
  const res = await fetch(`${url}/api/bench/gc`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 204) throw new Error(`dashboard: the scheduler's bench GC answered ${res.status} (is RECC_BENCH_GC=1 passed on?)`);
}

export async function measureDashboardCost(ctx: Ctx): Promise<void> {
  const workers = ctx.quick ? 20 : 200;
  const pairs = ctx.quick ? 2 : 30;
  const maps = ctx.quick ? 1 : MAPS_PER_ARM;
  const tasks = Math.max(2, Math.round((ctx.quick ? 10_000 : 50_000) * ctx.scale));
  const armTasks = maps * tasks;
  const { LocalCluster, Client } = await import('../../client/index.ts');
  const { startFakeWorkers } = await import('./fake-workers.ts');
  const load0 = loadavg();
  // The scheduler inherits the environment: it serves the forced GC each arm starts after.
  process.env.RECC_BENCH_GC = '1';
  const cluster = await LocalCluster.start({ nWorkers: 0, threadsPerWorker: 1, dashboard: true });
  delete process.env.RECC_BENCH_GC;
  let fakes: Awaited<ReturnType<typeof startFakeWorkers>> | undefined;
  const windows: Window[] = [];
  try {
    fakes = await startFakeWorkers({ address: cluster.schedulerAddress, token: cluster.token, count: workers });
    const client = await Client.connect(cluster);
    try {
      const registered = (await client.schedulerInfo()).workers.length;
      if (registered !== workers) throw new Error(`dashboard: ${registered} of ${workers} fake workers registered`);
      const pid = cluster.pids[0] as number;
      const url = cluster.dashboardUrl as string;
      let base = 50_000_000;
      const map = async (): Promise<void> => {
        const b = (base += 1_000_000);
        const results = await client.gather(client.map((x: number) => x, Array.from({ length: tasks }, (_, i) => b + i)));
        if (results.length !== tasks || results[tasks - 1] !== b + tasks - 1) throw new Error('dashboard: wrong results');
      };
      await map(); // warm-up: JIT, connections
      await map();
      for (let p = 0; p < pairs; p++) {
        for (const on of p % 2 === 0 ? [true, false] : [false, true]) {
          const watching = on ? await viewer(url, cluster.token) : undefined;
          try {
            // After the viewer's connect (its full frame is a one-off, not watching), before the window.
            await schedulerGc(url, cluster.token);
            const before = watching?.counts();
            const cpu0 = readMainThreadCpuSeconds(pid);
            const t0 = performance.now();
            for (let m = 0; m < maps; m++) await map();
            const seconds = (performance.now() - t0) / 1e3;
            // Watched: charged until the viewer has been sent every task of the arm (the ticks that carry them).
            if (watching && before) await watching.until(before.spans + before.dropped + armTasks, 60_000);
            const cpuS = readMainThreadCpuSeconds(pid) - cpu0;
            const w: Window = { on, cpuS, seconds, cpuPerTaskUs: (cpuS / armTasks) * 1e6 };
            if (watching && before) {
              const after = watching.counts();
              w.viewer = { bytes: after.bytes - before.bytes, frames: after.frames - before.frames, spans: after.spans - before.spans, dropped: after.dropped - before.dropped, costMs: after.costMs, costMsAtFirstDelta: after.costMsAtFirstDelta };
              w.costMs = after.costMs - before.costMs;
              w.costMsWatching = after.costMs - (after.costMsAtFirstDelta ?? before.costMs);
            }
            windows.push(w);
          } finally {
            await watching?.stop();
          }
        }
        const [a, b] = windows.slice(-2) as [Window, Window];
        const [on, off] = a.on ? [a, b] : [b, a];
        process.stderr.write(
          `[recc] dashboard pair ${p + 1} (${a.on ? 'on-off' : 'off-on'}): µs/task on ${on.cpuPerTaskUs.toFixed(2)} off ${off.cpuPerTaskUs.toFixed(2)} → ${((100 * (on.cpuPerTaskUs - off.cpuPerTaskUs)) / on.cpuPerTaskUs).toFixed(2)} %; ` +
            `tasks/s ${Math.round(armTasks / on.seconds)} / ${Math.round(armTasks / off.seconds)}; own account ${((100 * (on.costMs ?? 0)) / (1e3 * on.cpuS)).toFixed(2)} %; viewer ${JSON.stringify(on.viewer)}; load ${loadavg()}\n`,
        );
      }
    } finally {
      await client.close();
    }
  } finally {
    await fakes?.close();
    await cluster.close();
  }
  const onW = windows.filter((w) => w.on);
  const offW = windows.filter((w) => !w.on);
  const shares = onW.map((on, i) => (100 * (on.cpuPerTaskUs - offW[i]!.cpuPerTaskUs)) / on.cpuPerTaskUs);
  const own = onW.map((w) => (100 * (w.costMs ?? 0)) / (1e3 * w.cpuS));
  const ownWatching = onW.map((w) => (100 * (w.costMsWatching ?? 0)) / (1e3 * w.cpuS));
  // Unpaired: one slow window moves one median, not a whole pair.
  const ofMedians = (100 * (median(onW.map((w) => w.cpuPerTaskUs)) - median(offW.map((w) => w.cpuPerTaskUs)))) / median(onW.map((w) => w.cpuPerTaskUs));
  const round2 = (x: number): number => Math.round(x * 100) / 100;
  const tasksPerS = (ws: Window[]): number => median(ws.map((w) => armTasks / w.seconds));
  ctx.emit('dashboard_cpu_share', median(shares), '%', {
    method: `median over ${pairs} ABBA pairs of (on − off) / on scheduler CPU per task; ${maps} maps of ${tasks} tasks per arm, each arm after a forced full GC`,
    workers,
    tasks,
    mapsPerArm: maps,
    pairs,
    load: [load0, loadavg()],
    shareIqr: [round2(percentile(shares, 25)), round2(percentile(shares, 75))],
    sharePerPair: shares.map(round2),
    shareOfMedians: round2(ofMedians),
    ownAccountShareMedian: round2(median(own)),
    ownAccountSharePerPair: own.map(round2),
    ownAccountWatchingShareMedian: round2(median(ownWatching)),
    cpuPerTaskUsOn: onW.map((w) => round2(w.cpuPerTaskUs)),
    cpuPerTaskUsOff: offW.map((w) => round2(w.cpuPerTaskUs)),
    tasksPerSOn: Math.round(tasksPerS(onW)),
    tasksPerSOff: Math.round(tasksPerS(offW)),
    viewerFrames: onW.map((w) => w.viewer?.frames),
    viewerBytes: onW.map((w) => w.viewer?.bytes),
    // Every task of each watched arm reached the viewer, drawn or counted as sampled out (the run fails otherwise).
    spansDrawn: onW.map((w) => w.viewer?.spans),
    spansSampledOut: onW.map((w) => w.viewer?.dropped),
  });
  ctx.emit('dashboard_tasks_per_s', tasksPerS(onW), 'tasks/s', { workers, tasks });
}

function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}
