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
}

export interface LiveView {
  groups: Record<string, GroupCounts>;
  workers: Record<string, WorkerView>;
}

export interface DashboardEvent {
  at: string;
  kind: 'worker-joined' | 'worker-lost' | 'task-erred';
  message: string;
}

/** Groups beyond this many are summed into one row, so a graph of unique keys cannot blow up the page or the wire. */
export const MAX_GROUPS = 64;
export const OTHER_GROUP = '(other groups)';

export function emptyCounts(): GroupCounts {
  return { waiting: 0, queued: 0, processing: 0, memory: 0, erred: 0 };
}

/** One pass over the tasks; cost O(tasks) per tick, no allocation per task. */
export function groupCounts(tasks: Iterable<{ prefix: string; state: string }>, maxGroups = MAX_GROUPS): Record<string, GroupCounts> {
  const out = new Map<string, GroupCounts>();
  for (const t of tasks) {
    let c = out.get(t.prefix);
    if (!c) {
      const name = out.size >= maxGroups ? OTHER_GROUP : t.prefix;
      c = out.get(name);
      if (!c) {
        c = emptyCounts();
        out.set(name, c);
      }
    }
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
  };
}

export interface LiveDelta {
  groups?: Record<string, GroupCounts | null>;
  workers?: Record<string, WorkerView | null>;
  events?: DashboardEvent[];
}

function diffRecord<T>(prev: Record<string, T>, next: Record<string, T>): Record<string, T | null> | undefined {
  const out: Record<string, T | null> = {};
  let any = false;
  for (const [k, v] of Object.entries(next)) {
    const p = prev[k];
    if (p === undefined || JSON.stringify(p) !== JSON.stringify(v)) {
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

/** Only what changed; null marks a removed group or worker. Events: workers that joined or left, groups whose erred count rose. */
export function diffViews(prev: LiveView, next: LiveView, now: Date): LiveDelta {
  const delta: LiveDelta = {};
  const groups = diffRecord(prev.groups, next.groups);
  if (groups) delta.groups = groups;
  const workers = diffRecord(prev.workers, next.workers);
  if (workers) delta.workers = workers;
  const at = now.toISOString();
  const events: DashboardEvent[] = [];
  for (const [id, w] of Object.entries(next.workers)) if (!(id in prev.workers)) events.push({ at, kind: 'worker-joined', message: `worker ${w.name} joined (${w.nthreads} threads)` });
  for (const [id, w] of Object.entries(prev.workers)) if (!(id in next.workers)) events.push({ at, kind: 'worker-lost', message: `worker ${w.name} lost` });
  for (const [g, c] of Object.entries(next.groups)) {
    const before = prev.groups[g]?.erred ?? 0;
    if (c.erred > before) events.push({ at, kind: 'task-erred', message: `${c.erred - before} task(s) of ${g} erred` });
  }
  if (events.length > 0) delta.events = events;
  return delta;
}
