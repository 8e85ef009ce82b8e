import type { ServerResponse } from 'node:http';
import { diffViews, type DashboardEvent, type LiveView } from './aggregate.ts';

/** One snapshot per tick for all viewers: changes coalesce over this period, whatever the task rate. */
export const LIVE_TICK_MS = 400;
/** Events kept for a viewer that connects later. */
export const EVENT_HISTORY = 200;
/** Viewers at most; beyond, a new stream gets 503 (the HTTP server has its own connection cap too). */
export const MAX_VIEWERS = 32;

/**
 * Server-sent events for the dashboard. The view is computed only while
 * someone watches, once per tick, and each viewer gets the same delta: the
 * scheduler's cost does not grow with the number of viewers beyond the write.
 */
export class LiveFeed {
  private readonly viewers = new Set<ServerResponse>();
  private last: LiveView = { groups: {}, workers: {} };
  private readonly events: DashboardEvent[] = [];
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly snapshot: () => LiveView,
    private readonly now: () => Date = () => new Date(),
    private readonly tickMs = LIVE_TICK_MS,
  ) {}

  get viewerCount(): number {
    return this.viewers.size;
  }

  /** Starts a stream on `res`: the full view and recent events first, then deltas. */
  attach(res: ServerResponse): boolean {
    if (this.viewers.size >= MAX_VIEWERS) return false;
    if (this.viewers.size === 0) this.refresh();
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`event: full\ndata: ${JSON.stringify({ ...this.last, events: this.events })}\n\n`);
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
    const delta = this.refresh();
    if (delta === null) return;
    const frame = `event: delta\ndata: ${JSON.stringify(delta)}\n\n`;
    for (const v of this.viewers) v.write(frame);
  }

  private refresh(): ReturnType<typeof diffViews> | null {
    const next = this.snapshot();
    const delta = diffViews(this.last, next, this.now());
    this.last = next;
    if (delta.events) {
      this.events.push(...delta.events);
      if (this.events.length > EVENT_HISTORY) this.events.splice(0, this.events.length - EVENT_HISTORY);
    }
    return delta.groups || delta.workers || delta.events ? delta : null;
  }

  private stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    this.stop();
    for (const v of this.viewers) v.end();
    this.viewers.clear();
  }
}
