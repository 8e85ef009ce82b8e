import type { ServerResponse } from 'node:http';
import { BandwidthMeter, diffViews, type LiveDelta, type LiveView } from './aggregate.ts';
import type { DashboardEvent, DashboardRecorder, SpanBatch } from './recorder.ts';

/** One snapshot per tick for all viewers: changes coalesce over this period, whatever the task rate. */
export const LIVE_TICK_MS = 400;
/** Events kept for a viewer that connects later. */
export const EVENT_HISTORY = 200;
/** Viewers at most; beyond, a new stream gets 503 (the HTTP server has its own connection cap too). */
export const MAX_VIEWERS = 32;
/** Span batches and bandwidth samples kept for a viewer that connects later (the page's stream shows the last minutes). */
export const SPAN_HISTORY_MS = 120_000;
const SPAN_HISTORY_BATCHES = 60;
/**
 * The view (task-group counts, workers) is recomputed at most once per
 * SNAPSHOT_MIN_MS, and at most once per SNAPSHOT_DUTY × its own cost (≤ 0.5 %
 * of one core for the O(tasks) walk on a huge graph). Spans, events and
 * bandwidth still go out every tick; progress bars moving once a second lose
 * nothing a viewer can read, and the walk was the dashboard's largest own
 * cost under 50,000 tasks/s (issue 16's bench).
 */
export const SNAPSHOT_DUTY = 200;
export const SNAPSHOT_MIN_MS = 1_000;
const BANDWIDTH_HISTORY = 300;

export interface Bandwidth {
  t: number;
  transfer: number;
  shuffle: number;
}

/** The cluster the dashboard shows; for scheduled-job clusters, the job and run it was created for. */
export interface ClusterInfo {
  id?: string;
  name?: string;
  job?: string;
  run?: string;
}

/** What one SSE frame carries besides the view's changes. */
export interface LiveFrame extends LiveDelta {
  events?: DashboardEvent[];
  spans?: SpanBatch[];
  bandwidth?: Bandwidth[];
  /** The scheduler's clock at this frame (ms since the epoch): the page draws the stream against it. */
  now: number;
  /** In the full frame only. */
  cluster?: ClusterInfo;
  /** What the dashboard has cost the scheduler so far (LiveFeed.costMs), for the bench and the curious. */
  costMs?: number;
}

/**
 * CPU time used so far by the process (ns). Every thread counts (GC helpers
 * too), so charging the difference around a tick is an upper bound on the
 * tick's cost; a per-thread figure would need Node ≥ 23.9 (threadCpuUsage),
 * and Linux's /proc/thread-self/schedstat is only updated at scheduler ticks
 * for a running thread (too coarse for a 1 ms tick).
 */
function cpuNs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) * 1e3;
}

/**
 * `frame` (a JSON object's text, without `spans`) with `"spans": [...]` made
 * of already-serialised batches: each batch is serialised once, however many
 * frames carry it.
 */
function withSpans(frame: string, batches: readonly string[]): string {
  if (batches.length === 0) return frame;
  return `${frame.slice(0, -1)}${frame.length > 2 ? ',' : ''}"spans":[${batches.join(',')}]}`;
}

/**
 * Server-sent events for the dashboard. The view is computed only while
 * someone watches, once per tick, and each viewer gets the same frame: the
 * scheduler's cost does not grow with the number of viewers beyond the write.
 * Spans and events are recorded by the scheduler as they happen (recorder.ts)
 * and drained here.
 */
export class LiveFeed {
  private readonly viewers = new Set<ServerResponse>();
  private last: LiveView = { groups: {}, workers: {} };
  private readonly events: DashboardEvent[] = [];
  /**
   * Recent span batches as their JSON text (serialised once, in the tick that
   * took it; a new viewer's full frame reuses the texts) and start time: the
   * batches' arrays are not kept, the text is all a later viewer needs.
   */
  private readonly spans: Array<{ t0: number; json: string }> = [];
  private readonly bandwidth: Bandwidth[] = [];
  private readonly meter = new BandwidthMeter();
  private timer: NodeJS.Timeout | null = null;
  private lastSnapshotAt: number | null = null;
  private lastSnapshotMs = 0;
  /** CPU spent in ticks and stream starts (ns; cpuNs: an upper bound). */
  private cpuSpentNs = 0;

  constructor(
    private readonly snapshot: () => LiveView,
    private readonly recorder: DashboardRecorder,
    private readonly now: () => number = Date.now,
    private readonly tickMs = LIVE_TICK_MS,
    private readonly cluster?: ClusterInfo,
  ) {
    // Nothing is recorded per batch until someone watches.
    recorder.recording = false;
  }

  get viewerCount(): number {
    return this.viewers.size;
  }

  /**
   * The scheduler CPU the dashboard has taken (ms): ticks and stream starts
   * (view, spans, serialisation, writes) plus the sampled cost of recording
   * finished batches. The bench compares it with the scheduler's total.
   */
  get costMs(): number {
    return (this.cpuSpentNs + this.recorder.recordNs) / 1e6;
  }

  private charge(c0: number): void {
    this.cpuSpentNs += cpuNs() - c0;
  }

  /** Starts a stream on `res`: the full view and recent history first, then deltas. */
  attach(res: ServerResponse): boolean {
    if (this.viewers.size >= MAX_VIEWERS) return false;
    const c0 = cpuNs();
    if (this.viewers.size === 0) {
      this.recorder.recording = true;
      this.refresh();
    }
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const full: LiveFrame = { ...this.last, events: this.events, bandwidth: this.bandwidth, now: this.now(), costMs: this.costMs, ...(this.cluster ? { cluster: this.cluster } : {}) };
    res.write(`event: full\ndata: ${withSpans(JSON.stringify(full), this.spans.map((s) => s.json))}\n\n`);
    this.charge(c0);
    this.viewers.add(res);
    res.on('close', () => {
      this.viewers.delete(res);
      if (this.viewers.size === 0) this.stop();
    });
    this.timer ??= setInterval(() => this.tick(), this.tickMs);
    this.timer.unref();
    return true;
  }

  /** Recompute and send what changed. Public for tests with an injected clock. */
  tick(): void {
    const c0 = cpuNs();
    const { frame, spans } = this.refresh();
    frame.costMs = this.costMs;
    // Serialised once for every viewer; the span batch's text was made once in refresh().
    const text = `event: delta\ndata: ${withSpans(JSON.stringify(frame), spans === null ? [] : [spans])}\n\n`;
    for (const v of this.viewers) v.write(text);
    this.charge(c0);
  }

  private refresh(): { frame: LiveFrame; spans: string | null } {
    const now = this.now();
    // The view walks every task (O(tasks)): it is taken about once a second
    // (every other tick), and on a huge graph less often, so that it costs at
    // most 1/SNAPSHOT_DUTY of the scheduler's time.
    // Spans, events and bandwidth still go out every tick.
    let next = this.last;
    // Half a tick of slack: a tick that comes a little early does not wait for the next one.
    const due = this.lastSnapshotAt === null || performance.now() - this.lastSnapshotAt >= Math.max(SNAPSHOT_MIN_MS, SNAPSHOT_DUTY * this.lastSnapshotMs) - this.tickMs / 2;
    if (due) {
      const t0 = performance.now();
      next = this.snapshot();
      this.lastSnapshotAt = performance.now();
      this.lastSnapshotMs = this.lastSnapshotAt - t0;
    }
    const frame: LiveFrame = { ...(due ? diffViews(this.last, next) : {}), now };
    this.last = next;
    const events = this.recorder.takeEvents();
    if (events.length > 0) {
      frame.events = events;
      this.events.push(...events);
      if (this.events.length > EVENT_HISTORY) this.events.splice(0, this.events.length - EVENT_HISTORY);
    }
    const batch = this.recorder.takeSpans();
    const spans = batch ? JSON.stringify(batch) : null;
    if (batch && spans !== null) this.spans.push({ t0: batch.t0, json: spans });
    while (this.spans.length > 0 && (this.spans.length > SPAN_HISTORY_BATCHES || (this.spans[0] as { t0: number }).t0 < now - SPAN_HISTORY_MS)) this.spans.shift();
    const bw = this.meter.sample(now, next.workers);
    frame.bandwidth = [bw];
    this.bandwidth.push(bw);
    if (this.bandwidth.length > BANDWIDTH_HISTORY) this.bandwidth.shift();
    return { frame, spans };
  }

  private stop(): void {
    this.recorder.recording = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stop();
    for (const v of this.viewers) v.end();
    this.viewers.clear();
  }
}
