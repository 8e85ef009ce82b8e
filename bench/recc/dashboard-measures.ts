/**
 * Issue 16: what watching the live dashboard costs the scheduler.
 *
 * One scheduler with the dashboard on and 200 fake workers runs the same
 * wide, fast no-op map (50,000 tasks, tens of thousands per second) again and
 * again. Each map is a window; a viewer reading the SSE stream as the page
 * does is connected for every other map, in pairs whose order alternates
 * (on-off, off-on, …), so a change in the machine's load falls on both sides.
 * Per window: the scheduler's CPU per task, read from /proc/<pid>/schedstat
 * (its event-loop thread, to the nanosecond; the 10 ms ticks of
 * /proc/<pid>/stat were several % of a window). A watched window lasts until
 * the viewer has been sent every task of its map, so the ticks that carry
 * them are charged to the dashboard. The share of a pair is (on − off) / on;
 * the figure is the median over pairs. Windows are whole maps because the
 * flow is bursty (submission, completion, release): fixed-time windows
 * caught different phases and differed by 10×.
 *
 * Two cross-checks come with it:
 * - the dashboard's own account of its cost (`costMs` in every frame: its
 *   ticks' and stream starts' CPU, process-wide so an upper bound, plus
 *   sampled recording time) over the scheduler's CPU in the same window:
 *   robust to load, since both come from the one process and interval;
 * - the share of the medians (on vs off windows, unpaired);
 * - honesty: the viewer counts the frames and spans it was sent (spans
 *   sampled out are counted by the scheduler in each batch); a watched
 *   window fails unless every task of its map reached the viewer.
 */
import { readFileSync } from 'node:fs';
import { median } from '../lib/stats.ts';
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

export async function measureDashboardCost(ctx: Ctx): Promise<void> {
  const workers = ctx.quick ? 20 : 200;
  const pairs = ctx.quick ? 2 : 12;
  const tasks = Math.max(2, Math.round((ctx.quick ? 10_000 : 50_000) * ctx.scale));
  const { LocalCluster, Client } = await import('../../client/index.ts');
  const { startFakeWorkers } = await import('./fake-workers.ts');
  const load0 = loadavg();
  const cluster = await LocalCluster.start({ nWorkers: 0, threadsPerWorker: 1, dashboard: true });
  let fakes: Awaited<ReturnType<typeof startFakeWorkers>> | undefined;
  const windows: Window[] = [];
  try {
    fakes = await startFakeWorkers({ address: cluster.schedulerAddress, token: cluster.token, count: workers });
    const client = await Client.connect(cluster);
    try {
      const registered = (await client.schedulerInfo()).workers.length;
      if (registered !== workers) throw new Error(`dashboard: ${registered} of ${workers} fake workers registered`);
      const pid = cluster.pids[0] as number;
      let base = 50_000_000;
      const map = async (): Promise<void> => {
        const b = (base += 1_000_000);
        const results = await client.gather(client.map((x: number) => x, Array.from({ length: tasks }, (_, i) => b + i)));
        if (results.length !== tasks || results[tasks - 1] !== b + tasks - 1) throw new Error('dashboard: wrong results');
      };
      await map(); // warm-up: JIT, connections
      for (let p = 0; p < pairs; p++) {
        for (const on of p % 2 === 0 ? [true, false] : [false, true]) {
          const watching = on ? await viewer(cluster.dashboardUrl as string, cluster.token) : undefined;
          try {
            const before = watching?.counts();
            const cpu0 = readMainThreadCpuSeconds(pid);
            const t0 = performance.now();
            await map();
            const seconds = (performance.now() - t0) / 1e3;
            // Watched: charged until the viewer has been sent every task of the map (the ticks that carry them).
            if (watching && before) await watching.until(before.spans + before.dropped + tasks, 60_000);
            const cpuS = readMainThreadCpuSeconds(pid) - cpu0;
            const w: Window = { on, cpuS, seconds, cpuPerTaskUs: (cpuS / tasks) * 1e6 };
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
          `[recc] dashboard pair ${p + 1}: µs/task on ${on.cpuPerTaskUs.toFixed(2)} off ${off.cpuPerTaskUs.toFixed(2)}; tasks/s ${Math.round(tasks / on.seconds)} / ${Math.round(tasks / off.seconds)}; ` +
            `own account ${((100 * (on.costMs ?? 0)) / (1e3 * on.cpuS)).toFixed(2)} %; viewer ${JSON.stringify(on.viewer)}; load ${loadavg()}\n`,
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
  const tasksPerS = (ws: Window[]): number => median(ws.map((w) => tasks / w.seconds));
  ctx.emit('dashboard_cpu_share', median(shares), '%', {
    workers,
    tasks,
    pairs,
    load: [load0, loadavg()],
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
    // Every task of each watched map reached the viewer, drawn or counted as sampled out (the run fails otherwise).
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
