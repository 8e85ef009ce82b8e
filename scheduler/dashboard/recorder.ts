import { keyPrefix } from '../state/records.ts';

/**
 * What the scheduler tells the dashboard as it happens: task spans for the
 * task stream and cluster events for the event log. Created only when a
 * dashboard port is asked for; the scheduler's cost is a few typed writes
 * per recorded span into a preallocated ring (a sample of the tasks at high
 * rates), no allocation, and nothing at all while nobody watches.
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

/**
 * Spans kept between two ticks at most (a power of two: the ring's index is
 * masked); beyond, the oldest is overwritten and counted as dropped. At
 * 50,000 tasks/s a 400 ms tick sees ~20,000 tasks, of which only every
 * `stride`-th is recorded (see `finished`).
 */
export const SPAN_RING = 32_768;
const MASK = SPAN_RING - 1;
/** Spans sent per tick at most (evenly sampled beyond): ~7,500 per second, far more than a screen's columns of rows. */
export const SPANS_PER_BATCH = 3_000;
/** Task groups named in the stream; beyond, spans share one colour. */
export const MAX_STREAM_GROUPS = 64;
const OTHER = '(other groups)';
/** One recording call in this many is timed (recordNs). */
const RECORD_SAMPLE = 16;

export class DashboardRecorder {
  private readonly workerIds = new Map<string, number>();
  private readonly workerNames: string[] = [];
  private readonly groupIds = new Map<string, number>();
  private readonly groupNames: string[] = [];
  /**
   * The ring of spans recorded since the last take, as typed columns: the
   * worker's index, the task thread, the task group's index, the end time
   * (the batch's arrival) and the run time. Recording copies the few numbers
   * a span needs and keeps no reference to the message: holding its arrays
   * (and the key strings decoded with it) until the next tick made them
   * survive the young generation's collections, and promoting ~50,000 of
   * them a second into the old generation cost the scheduler more major GCs
   * than all the dashboard's own work (issue 16's bench).
   */
  private readonly sw = new Int32Array(SPAN_RING);
  private readonly sth = new Int32Array(SPAN_RING);
  private readonly sg = new Int32Array(SPAN_RING);
  private readonly send = new Float64Array(SPAN_RING);
  private readonly sd = new Float64Array(SPAN_RING);
  /** Spans in the ring, the next slot, and spans finished since the last take (recorded or not). */
  private count = 0;
  private head = 0;
  private seen = 0;
  /**
   * Record every `stride`-th span of the concatenation of batches (`skip`
   * spans of the next batch first): set at each take from the last period's
   * count so that about twice the cap is recorded, the take then samples
   * evenly down to the cap. Per batch the work is O(1 + recorded spans).
   */
  private stride = 1;
  private skip = 0;
  /**
   * Spans are recorded only while someone watches (the feed turns this on
   * with its first viewer and off after its last): with nobody watching the
   * dashboard costs the scheduler nothing per task.
   */
  recording = true;
  /**
   * Time spent recording batches (ns), measured on one batch in
   * RECORD_SAMPLE and scaled: timing every call would cost more than the call.
   */
  recordNs = 0;
  private calls = 0;
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
   * at once) and started its run time before (a negative run time: unknown,
   * drawn as zero). Every `stride`-th span is copied into the ring (the key
   * only as its group's index); the arrays are not kept. A late report for a
   * task the scheduler has already dropped is still drawn: the worker did
   * run it.
   */
  finished(worker: string, keys: readonly string[], ms: readonly number[], threads: readonly number[] | undefined): void {
    const n = keys.length;
    if (!this.recording || n === 0) return;
    const timed = ++this.calls % RECORD_SAMPLE === 0;
    const t0 = timed ? process.hrtime.bigint() : 0n;
    const wi = this.workerIndex(worker);
    const at = this.now();
    const stride = this.stride;
    let h = this.head;
    let i = this.skip;
    for (; i < n; i += stride) {
      this.sw[h] = wi;
      this.sth[h] = threads?.[i] ?? -1;
      this.sg[h] = this.groupIndex(keyPrefix(keys[i] as string));
      this.send[h] = at;
      const d = ms[i] as number;
      this.sd[h] = d >= 0 ? d : 0;
      h = (h + 1) & MASK;
      this.count++;
    }
    this.skip = i - n;
    this.head = h;
    this.seen += n;
    if (this.count > SPAN_RING) this.count = SPAN_RING;
    if (timed) this.recordNs += Number(process.hrtime.bigint() - t0) * RECORD_SAMPLE;
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
    const seen = this.seen;
    // The next period records about twice the cap at this period's rate.
    this.stride = Math.max(1, Math.floor(seen / (2 * cap)));
    this.skip = 0;
    this.seen = 0;
    const available = this.count;
    this.count = 0;
    if (seen === 0) return null;
    const n = Math.min(available, cap);
    const dropped = seen - n;
    const step = available / n;
    const first = (this.head - available) & MASK;
    const w: number[] = new Array(n);
    const th: number[] = new Array(n);
    const g: number[] = new Array(n);
    const start: number[] = new Array(n);
    const d: number[] = new Array(n);
    const batch: SpanBatch = { t0: 0, workers: [], groups: [], w, th, g, s: start, d, dropped };
    // Batch-local indexes of the workers and groups named so far (-1: not yet).
    const localWorker = new Int32Array(this.workerNames.length).fill(-1);
    const localGroup = new Int32Array(MAX_STREAM_GROUPS + 1).fill(-1);
    let t0 = Infinity;
    // The spans at positions ⌊j·step⌋ of the ring's recorded spans, oldest first.
    for (let j = 0; j < n; j++) {
      const slot = (first + Math.floor(j * step)) & MASK;
      const wi = this.sw[slot] as number;
      let lw = localWorker[wi] as number;
      if (lw < 0) localWorker[wi] = lw = batch.workers.push(this.workerNames[wi] as string) - 1;
      const gi = this.sg[slot] as number;
      let lg = localGroup[gi] as number;
      if (lg < 0) localGroup[gi] = lg = batch.groups.push(this.groupNames[gi] as string) - 1;
      const dur = this.sd[slot] as number;
      const begin = (this.send[slot] as number) - dur;
      if (begin < t0) t0 = begin;
      w[j] = lw;
      th[j] = this.sth[slot] as number;
      g[j] = lg;
      start[j] = begin; // made relative to t0 below
      d[j] = Math.round(dur * 10) / 10;
    }
    // No span recorded (a few small batches, all between two strided picks): only the count goes out.
    batch.t0 = n > 0 ? Math.floor(t0) : Math.floor(this.now());
    for (let j = 0; j < n; j++) start[j] = Math.round((start[j] as number) - batch.t0);
    return batch;
  }
}
