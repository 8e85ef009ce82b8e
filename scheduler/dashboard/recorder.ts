/**
 * What the scheduler tells the dashboard as it happens: task spans for the
 * task stream and cluster events for the event log. Created only when a
 * dashboard port is asked for; the scheduler's cost per finished task is a
 * few typed-array writes into a fixed ring (no allocation per task).
 */

export type DashboardEventKind = 'worker-joined' | 'worker-lost' | 'worker-restarted' | 'killed-worker' | 'task-retried' | 'task-erred';

export interface DashboardEvent {
  at: string;
  kind: DashboardEventKind;
  message: string;
}

/** Spans of one tick as parallel arrays; `workers` and `groups` are this batch's own name tables. */
export interface SpanBatch {
  /** Start times are `t0 + s[i]` (ms since the epoch, scheduler clock). */
  t0: number;
  workers: string[];
  groups: string[];
  /** Index into `workers`, task thread (-1: the worker's main thread), index into `groups`, start offset (ms), duration (ms). */
  w: number[];
  th: number[];
  g: number[];
  s: number[];
  d: number[];
  /** Spans finished since the previous batch that are not in this one (sampled out above the cap). */
  dropped: number;
}

/** Spans kept between two ticks at most; at 50,000 tasks/s a 400 ms tick has 20,000, and the page cannot show more than it has pixels. */
export const SPAN_RING = 16_384;
/** Spans sent per tick at most (evenly sampled beyond): ~7,500 per second, far more than a screen's columns of rows. */
export const SPANS_PER_BATCH = 3_000;
/** Task groups named in the stream; beyond, spans share one colour. */
export const MAX_STREAM_GROUPS = 64;
const OTHER = '(other groups)';

export class DashboardRecorder {
  private readonly workerIds = new Map<string, number>();
  private readonly workerNames: string[] = [];
  private readonly groupIds = new Map<string, number>();
  private readonly groupNames: string[] = [];
  private readonly wk = new Uint32Array(SPAN_RING);
  private readonly th = new Int16Array(SPAN_RING);
  private readonly gr = new Uint16Array(SPAN_RING);
  private readonly end = new Float64Array(SPAN_RING);
  private readonly dur = new Float32Array(SPAN_RING);
  /** Spans written since the last take (may exceed the ring: the oldest were overwritten). */
  private pending = 0;
  private head = 0;
  private readonly lostNames = new Set<string>();
  private events: DashboardEvent[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  private workerIndex(name: string): number {
    let i = this.workerIds.get(name);
    if (i === undefined) {
      i = this.workerNames.push(name) - 1;
      this.workerIds.set(name, i);
    }
    return i;
  }

  private groupIndex(prefix: string): number {
    let i = this.groupIds.get(prefix);
    if (i !== undefined) return i;
    // Past the limit every new prefix shares one slot (one more than the limit).
    const name = this.groupNames.length >= MAX_STREAM_GROUPS ? OTHER : prefix;
    i = this.groupIds.get(name);
    if (i === undefined) {
      i = this.groupNames.push(name) - 1;
      this.groupIds.set(name, i);
    }
    return i;
  }

  /**
   * A worker's finished batch: each task ends on arrival (the worker sends
   * at once) and started its run time before. `prefixOf` names the task's
   * group (undefined: a task the scheduler no longer knows, skipped).
   */
  finished(worker: string, keys: readonly string[], ms: readonly number[], threads: readonly number[] | undefined, prefixOf: (key: string) => string | undefined): void {
    const at = this.now();
    const w = this.workerIndex(worker);
    for (let i = 0; i < keys.length; i++) {
      const prefix = prefixOf(keys[i] as string);
      if (prefix === undefined) continue;
      const d = ms[i] as number;
      const h = this.head;
      this.wk[h] = w;
      this.th[h] = threads?.[i] ?? -1;
      this.gr[h] = this.groupIndex(prefix);
      this.end[h] = at;
      this.dur[h] = d >= 0 ? d : 0;
      this.head = (h + 1) % SPAN_RING;
      this.pending++;
    }
  }

  event(kind: DashboardEventKind, message: string): void {
    this.events.push({ at: new Date(this.now()).toISOString(), kind, message });
    // A storm (a thousand retries) must not grow without bound between two ticks.
    if (this.events.length > 1_000) this.events.splice(0, this.events.length - 1_000);
  }

  workerJoined(name: string, nthreads: number): void {
    if (this.lostNames.delete(name)) this.event('worker-restarted', `worker ${name} is back (restarted) with ${nthreads} threads`);
    else this.event('worker-joined', `worker ${name} joined (${nthreads} threads)`);
  }

  workerLost(name: string, reason: string, tasksRunning: number): void {
    this.lostNames.add(name);
    if (this.lostNames.size > 10_000) this.lostNames.clear();
    this.event('worker-lost', `worker ${name} lost: ${reason}${tasksRunning > 0 ? ` (${tasksRunning} task(s) were running on it)` : ''}`);
  }

  /** A task erred on a worker (before the scheduler handles it): a retry if it has retries left. */
  taskErred(key: string, retriesLeft: number | undefined, error: { name: string; message: string }): void {
    if (retriesLeft === undefined) return; // a late report for a task no longer processing
    if (retriesLeft > 0) this.event('task-retried', `${key} failed (${error.name}: ${error.message}); retrying, ${retriesLeft - 1} retr${retriesLeft - 1 === 1 ? 'y' : 'ies'} left`);
    else this.event('task-erred', `${key} erred: ${error.name}: ${error.message}`);
  }

  /**
   * A worker's connection closed (before the scheduler handles it). Tasks
   * that were running there and reach the failure limit will err with
   * KilledWorkerError, by the same rule as the state machine's.
   */
  workerRemoved(name: string, reason: string, running: Iterable<{ key: string; suspicious: number }>, allowedFailures: number): void {
    let n = 0;
    const killed: string[] = [];
    for (const t of running) {
      n++;
      if (t.suspicious + 1 >= allowedFailures) killed.push(t.key);
    }
    this.workerLost(name, reason, n);
    if (killed.length > 0) {
      const shown = killed.slice(0, 5).join(', ') + (killed.length > 5 ? ` and ${killed.length - 5} more` : '');
      this.event('killed-worker', `KilledWorker: ${killed.length} task(s) were running on ${allowedFailures} worker(s) that died, the last ${name}: ${shown}`);
    }
  }

  /** Events since the last call. */
  takeEvents(): DashboardEvent[] {
    const out = this.events;
    this.events = [];
    return out;
  }

  /** Spans since the last call, evenly sampled down to `cap`; null when none finished. */
  takeSpans(cap = SPANS_PER_BATCH): SpanBatch | null {
    if (this.pending === 0) return null;
    const available = Math.min(this.pending, SPAN_RING);
    const dropped = this.pending - Math.min(available, cap);
    this.pending = 0;
    const n = Math.min(available, cap);
    const first = (this.head - available + SPAN_RING) % SPAN_RING;
    const step = available / n;
    const batch: SpanBatch = { t0: 0, workers: [], groups: [], w: new Array(n), th: new Array(n), g: new Array(n), s: new Array(n), d: new Array(n), dropped };
    const localWorker = new Map<number, number>();
    const localGroup = new Map<number, number>();
    let t0 = Infinity;
    for (let j = 0; j < n; j++) {
      const i = (first + Math.floor(j * step)) % SPAN_RING;
      t0 = Math.min(t0, (this.end[i] as number) - (this.dur[i] as number));
    }
    batch.t0 = Math.floor(t0);
    for (let j = 0; j < n; j++) {
      const i = (first + Math.floor(j * step)) % SPAN_RING;
      const wi = this.wk[i] as number;
      let lw = localWorker.get(wi);
      if (lw === undefined) localWorker.set(wi, (lw = batch.workers.push(this.workerNames[wi] as string) - 1));
      const gi = this.gr[i] as number;
      let lg = localGroup.get(gi);
      if (lg === undefined) localGroup.set(gi, (lg = batch.groups.push(this.groupNames[gi] as string) - 1));
      const d = this.dur[i] as number;
      batch.w[j] = lw;
      batch.th[j] = this.th[i] as number;
      batch.g[j] = lg;
      batch.s[j] = Math.round((this.end[i] as number) - d - batch.t0);
      batch.d[j] = Math.round(d * 10) / 10;
    }
    return batch;
  }
}
