/**
 * Issue 16: what watching the live dashboard costs the scheduler.
 *
 * One scheduler with the dashboard on and 200 fake workers runs a steady
 * flow of no-op tasks (maps of CHUNK tasks, two in flight, as fast as it
 * goes). Time is cut into windows; a viewer reading the SSE stream as the
 * page does is connected in every other window, in pairs whose order
 * alternates (on-off, off-on, …), so a change in the machine's load falls on
 * both sides. Per window: the scheduler's CPU (/proc/<pid>/stat, its own
 * process) per task finished. The share of a pair is (on − off) / on; the
 * figure is the median over pairs.
 *
 * Two cross-checks come with it:
 * - the dashboard's own account of its cost (`costMs` in every frame: CPU of
 *   its ticks, snapshots, serialisation and writes, plus sampled recording
 *   time) over the scheduler's CPU in the same windows: robust to load,
 *   since both are read from the one process over the same interval;
 * - honesty: the viewer counts the frames and spans it was sent (sampled-out
 *   spans are counted by the scheduler in each batch) against the tasks
 *   finished while it watched; the run fails if it received nothing.
 */
import { readFileSync } from 'node:fs';
import { median } from '../lib/stats.ts';
import { readCpuSeconds } from '../lib/proc.ts';

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
  /** The dashboard's own cost account in the last frame (ms of scheduler CPU since it started). */
  costMs: number;
}

interface Viewer {
  counts(): ViewerCounts;
  stop(): Promise<ViewerCounts>;
}

/** Reads the dashboard stream as the page does (SSE frames, JSON.parse), counting what arrives. */
async function viewer(url: string, token: string): Promise<Viewer> {
  const abort = new AbortController();
  const c: ViewerCounts = { bytes: 0, frames: 0, spans: 0, dropped: 0, costMs: 0 };
  let first!: () => void;
  const started = new Promise<void>((resolve) => (first = resolve));
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
          for (const b of parsed.spans ?? []) {
            c.spans += b.w.length;
            c.dropped += b.dropped;
          }
        }
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
  tasks: number;
  cpuPerTaskUs: number;
  /** On windows: what the viewer got, and the dashboard's own cost account over the window. */
  viewer?: ViewerCounts;
  costMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export async function measureDashboardCost(ctx: Ctx): Promise<void> {
  const workers = ctx.quick ? 20 : 200;
  const pairs = ctx.quick ? 2 : 8;
  const windowMs = Math.max(500, Math.round((ctx.quick ? 1_000 : 2_500) * ctx.scale));
  const CHUNK = 10_000;
  const { LocalCluster, Client } = await import('../../client/index.ts');
  const { startFakeWorkers } = await import('./fake-workers.ts');
  const load0 = loadavg();
  const cluster = await LocalCluster.start({ nWorkers: 0, threadsPerWorker: 1, dashboard: true });
  let fakes: Awaited<ReturnType<typeof startFakeWorkers>> | undefined;
  const windows: Window[] = [];
  let flowing = true;
  let flow: Promise<void> | undefined;
  try {
    fakes = await startFakeWorkers({ address: cluster.schedulerAddress, token: cluster.token, count: workers });
    const client = await Client.connect(cluster);
    try {
      const registered = (await client.schedulerInfo()).workers.length;
      if (registered !== workers) throw new Error(`dashboard: ${registered} of ${workers} fake workers registered`);
      const pid = cluster.pids[0] as number;
      let base = 50_000_000;
      let checked = 0;
      // The flow: two maps in flight at all times, each result checked.
      const lane = async (): Promise<void> => {
        while (flowing) {
          const b = (base += CHUNK);
          const results = await client.gather(client.map((x: number) => x, Array.from({ length: CHUNK }, (_, i) => b + i)));
          if (results.length !== CHUNK || results[CHUNK - 1] !== b + CHUNK - 1) throw new Error('dashboard: wrong results');
          checked += CHUNK;
        }
      };
      flow = Promise.all([lane(), lane()]).then(() => undefined);
      await sleep(windowMs); // warm-up: JIT, batching reaches its steady state
      for (let p = 0; p < pairs; p++) {
        for (const on of p % 2 === 0 ? [true, false] : [false, true]) {
          const watching = on ? await viewer(cluster.dashboardUrl as string, cluster.token) : undefined;
          const before = watching?.counts();
          const cpu0 = readCpuSeconds(pid);
          const done0 = fakes.completed();
          await sleep(windowMs);
          const cpuS = readCpuSeconds(pid) - cpu0;
          const tasks = fakes.completed() - done0;
          const after = await watching?.stop();
          const w: Window = { on, cpuS, tasks, cpuPerTaskUs: (cpuS / Math.max(1, tasks)) * 1e6 };
          if (before && after) {
            w.viewer = { bytes: after.bytes - before.bytes, frames: after.frames - before.frames, spans: after.spans - before.spans, dropped: after.dropped - before.dropped, costMs: after.costMs };
            w.costMs = after.costMs - before.costMs;
            if (w.viewer.frames === 0) throw new Error('dashboard: the viewer received no frame in a window');
          }
          windows.push(w);
        }
        const [a, b] = windows.slice(-2) as [Window, Window];
        const [on, off] = a.on ? [a, b] : [b, a];
        process.stderr.write(
          `[recc] dashboard pair ${p + 1}: µs/task on ${on.cpuPerTaskUs.toFixed(2)} off ${off.cpuPerTaskUs.toFixed(2)}; tasks/s ${Math.round(on.tasks / (windowMs / 1e3))} / ${Math.round(off.tasks / (windowMs / 1e3))}; ` +
            `own account ${((100 * (on.costMs ?? 0)) / (1e3 * on.cpuS)).toFixed(2)} %; viewer ${JSON.stringify(on.viewer)}; load ${loadavg()}\n`,
        );
      }
      flowing = false;
      await flow;
      if (checked === 0) throw new Error('dashboard: no task finished');
    } finally {
      flowing = false;
      await flow?.catch(() => undefined);
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
  const received = onW.reduce((n, w) => n + (w.viewer?.spans ?? 0) + (w.viewer?.dropped ?? 0), 0);
  const finishedWhileWatched = onW.reduce((n, w) => n + w.tasks, 0);
  const round2 = (x: number): number => Math.round(x * 100) / 100;
  const tasksPerS = (ws: Window[]): number => median(ws.map((w) => w.tasks / (windowMs / 1e3)));
  ctx.emit('dashboard_cpu_share', median(shares), '%', {
    workers,
    pairs,
    windowMs,
    load: [load0, loadavg()],
    sharePerPair: shares.map(round2),
    ownAccountShareMedian: round2(median(own)),
    ownAccountSharePerPair: own.map(round2),
    cpuPerTaskUsOn: onW.map((w) => round2(w.cpuPerTaskUs)),
    cpuPerTaskUsOff: offW.map((w) => round2(w.cpuPerTaskUs)),
    tasksPerSOn: Math.round(tasksPerS(onW)),
    tasksPerSOff: Math.round(tasksPerS(offW)),
    viewerFrames: onW.map((w) => w.viewer?.frames),
    viewerBytes: onW.map((w) => w.viewer?.bytes),
    // Spans sent (drawn or counted as sampled out) over tasks finished while watched: ~1 when the stream carries everything.
    spansAccountedOverFinished: round2(received / Math.max(1, finishedWhileWatched)),
    spansDrawn: onW.reduce((n, w) => n + (w.viewer?.spans ?? 0), 0),
  });
  ctx.emit('dashboard_tasks_per_s', tasksPerS(onW), 'tasks/s', { workers, windowMs });
}

function loadavg(): string {
  try {
    return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
  } catch {
    return 'unknown';
  }
}
