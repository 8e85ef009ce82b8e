/**
 * What the live dashboard shows, computed from the scheduler's state at most
 * once per tick, and the difference between two such views (what goes on the
 * wire). Pure: no timers, no I/O.
 */

export interface GroupCounts {
  waiting: number;
  queued: number;
  processing: number;
  memory: number;
  erred: number;
}

export interface WorkerView {
  name: string;
  address: string;
  nthreads: number;
  processing: number;
  stored: number;
  memoryLimit: number | null;
  managed: number;
  unmanaged: number;
  spilled: number;
  /** Cores used over the last heartbeat, and the cores the worker may use (null: not reported). */
  cpu: number | null;
  cpuLimit: number | null;
  /** Running byte totals since the worker started; the feed turns them into bandwidth. */
  transferBytes: number;
  shuffleBytes: number;
}

export interface LiveView {
  groups: Record<string, GroupCounts>;
  workers: Record<string, WorkerView>;
}

export type { DashboardEvent } from './recorder.ts';

/** Groups beyond this many are summed into one row, so a graph of unique keys cannot blow up the page or the wire. */
export const MAX_GROUPS = 64;
export const OTHER_GROUP = '(other groups)';

export function emptyCounts(): GroupCounts {
  return { waiting: 0, queued: 0, processing: 0, memory: 0, erred: 0 };
}

/** One pass over the tasks; cost O(tasks) per tick, no allocation per task. */
export function groupCounts(tasks: Iterable<{ prefix: string; state: string }>, maxGroups = MAX_GROUPS): Record<string, GroupCounts> {
  const out = new Map<string, GroupCounts>();
  // Neighbouring tasks mostly share their prefix (one map's keys, the same string: state/records.ts keyPrefix): skip the lookup then.
  let lastPrefix: string | undefined;
  let last: GroupCounts | undefined;
  for (const t of tasks) {
    let c = t.prefix === lastPrefix ? last : out.get(t.prefix);
    if (!c) {
      const name = out.size >= maxGroups ? OTHER_GROUP : t.prefix;
      c = out.get(name);
      if (!c) {
        c = emptyCounts();
        out.set(name, c);
      }
    }
    lastPrefix = t.prefix;
    last = c;
    switch (t.state) {
      case 'released':
      case 'waiting':
        c.waiting++;
        break;
      case 'queued':
      case 'no-worker':
        c.queued++;
        break;
      case 'processing':
        c.processing++;
        break;
      case 'memory':
        c.memory++;
        break;
      case 'erred':
        c.erred++;
        break;
      default:
        break;
    }
  }
  return Object.fromEntries(out);
}

export function workerView(w: {
  name: string;
  address: string;
  nthreads: number;
  processing: number;
  stored: number;
  memoryLimit: number | null;
  metrics: Record<string, number | boolean>;
}): WorkerView {
  const num = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0);
  const rss = num(w.metrics.rss);
  const managed = num(w.metrics.managed);
  return {
    name: w.name,
    address: w.address,
    nthreads: w.nthreads,
    processing: w.processing,
    stored: w.stored,
    memoryLimit: w.memoryLimit,
    managed,
    unmanaged: Math.max(0, rss - managed),
    spilled: num(w.metrics.spilled),
    cpu: typeof w.metrics.cpu === 'number' ? num(w.metrics.cpu) : null,
    cpuLimit: typeof w.metrics.cpuLimit === 'number' && w.metrics.cpuLimit > 0 ? num(w.metrics.cpuLimit) : null,
    transferBytes: num(w.metrics.transferBytes),
    shuffleBytes: num(w.metrics.shuffleBytes),
  };
}

export interface LiveDelta {
  groups?: Record<string, GroupCounts | null>;
  workers?: Record<string, WorkerView | null>;
}

/** Equal flat records (the views hold numbers, strings and null only): cheaper than comparing two JSON texts per worker per tick. */
function sameFlat<T>(a: T, b: T): boolean {
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  for (const k in x) if (!Object.is(x[k], y[k])) return false;
  for (const k in y) if (!(k in x)) return false;
  return true;
}

function diffRecord<T>(prev: Record<string, T>, next: Record<string, T>): Record<string, T | null> | undefined {
  const out: Record<string, T | null> = {};
  let any = false;
  for (const [k, v] of Object.entries(next)) {
    const p = prev[k];
    if (p === undefined || !sameFlat(p, v)) {
      out[k] = v;
      any = true;
    }
  }
  for (const k of Object.keys(prev)) {
    if (!(k in next)) {
      out[k] = null;
      any = true;
    }
  }
  return any ? out : undefined;
}

/** Only what changed; null marks a removed group or worker. (Events come from the scheduler as they happen: recorder.ts.) */
export function diffViews(prev: LiveView, next: LiveView): LiveDelta {
  const delta: LiveDelta = {};
  const groups = diffRecord(prev.groups, next.groups);
  if (groups) delta.groups = groups;
  const workers = diffRecord(prev.workers, next.workers);
  if (workers) delta.workers = workers;
  return delta;
}

/**
 * Cluster-wide bytes per second from the workers' running totals, over a
 * sliding window (heartbeats come once a second, ticks more often). A
 * worker that leaves takes nothing away; one that joins adds from zero.
 */
export class BandwidthMeter {
  private readonly last = new Map<string, { transfer: number; shuffle: number }>();
  private total = { transfer: 0, shuffle: 0 };
  private readonly history: Array<{ t: number; transfer: number; shuffle: number }> = [];

  constructor(private readonly windowMs = 2_000) {}

  sample(t: number, workers: Record<string, WorkerView>): { t: number; transfer: number; shuffle: number } {
    for (const [id, w] of Object.entries(workers)) {
      const p = this.last.get(id) ?? { transfer: 0, shuffle: 0 };
      this.total.transfer += Math.max(0, w.transferBytes - p.transfer);
      this.total.shuffle += Math.max(0, w.shuffleBytes - p.shuffle);
      this.last.set(id, { transfer: w.transferBytes, shuffle: w.shuffleBytes });
    }
    for (const id of this.last.keys()) if (!(id in workers)) this.last.delete(id);
    this.history.push({ t, ...this.total });
    while (this.history.length > 2 && (this.history[1] as { t: number }).t <= t - this.windowMs) this.history.shift();
    const first = this.history[0] as { t: number; transfer: number; shuffle: number };
    const dt = (t - first.t) / 1000;
    return dt > 0 ? { t, transfer: (this.total.transfer - first.transfer) / dt, shuffle: (this.total.shuffle - first.shuffle) / dt } : { t, transfer: 0, shuffle: 0 };
  }
}
