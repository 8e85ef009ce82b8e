import { keyPrefix } from '../state/records.ts';

/**
 * What the scheduler tells the dashboard as it happens: task spans for the
 * task stream and cluster events for the event log. Created only when a
 * dashboard port is asked for; the scheduler's cost is a few writes
 * into a fixed ring per finished batch, nothing per task, and nothing at all
 * while nobody watches.
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
 * Finished batches kept between two ticks at most (a batch is one worker's
 * `finished` message: tens of tasks at high rates); beyond, the oldest is
 * overwritten and counted as dropped. At 50,000 tasks/s a 400 ms tick sees
 * ~20,000 tasks in a few hundred batches.
 */
export const BATCH_RING = 4_096;
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
   * The ring of finished batches since the last take: the worker's index,
   * the arrival time and references to the message's own arrays (keys, run
   * times, threads). Recording is O(1) per batch and nothing per task: the
   * task group (the key's prefix) and the span are worked out at take time,
   * for the sampled spans only.
   */
  private readonly bw = new Int32Array(BATCH_RING);
  private readonly bat = new Float64Array(BATCH_RING);
  private readonly bkeys: Array<readonly string[] | undefined> = new Array(BATCH_RING).fill(undefined);
  private readonly bms: Array<readonly number[] | undefined> = new Array(BATCH_RING).fill(undefined);
  private readonly bth: Array<readonly number[] | undefined> = new Array(BATCH_RING).fill(undefined);
  /** Batches in the ring, the next slot, and spans overwritten since the last take. */
  private batches = 0;
  private head = 0;
  private overwritten = 0;
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
   * drawn as zero). The arrays are kept by reference until the next take, not
   * copied: the caller must not change them. A late report for a task the
   * scheduler has already dropped is still drawn: the worker did run it.
   */
  finished(worker: string, keys: readonly string[], ms: readonly number[], threads: readonly number[] | undefined): void {
    if (!this.recording || keys.length === 0) return;
    const timed = ++this.calls % RECORD_SAMPLE === 0;
    const t0 = timed ? process.hrtime.bigint() : 0n;
    const h = this.head;
    if (this.batches === BATCH_RING) this.overwritten += (this.bkeys[h] as readonly string[]).length;
    else this.batches++;
    this.bw[h] = this.workerIndex(worker);
    this.bat[h] = this.now();
    this.bkeys[h] = keys;
    this.bms[h] = ms;
    this.bth[h] = threads;
    this.head = (h + 1) % BATCH_RING;
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
    if (this.batches === 0) {
      this.overwritten = 0;
      return null;
    }
    const first = (this.head - this.batches + BATCH_RING) % BATCH_RING;
    let available = 0;
    for (let b = 0; b < this.batches; b++) available += (this.bkeys[(first + b) % BATCH_RING] as readonly string[]).length;
    const n = Math.min(available, cap);
    const dropped = this.overwritten + available - n;
    const step = available / n;
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
    // Walk the batches once, picking the spans at positions ⌊j·step⌋ of their concatenation.
    let b = 0;
    let offset = 0; // position of batch b's first span
    for (let j = 0; j < n; j++) {
      const pos = Math.floor(j * step);
      let slot = (first + b) % BATCH_RING;
      while (pos - offset >= (this.bkeys[slot] as readonly string[]).length) {
        offset += (this.bkeys[slot] as readonly string[]).length;
        b++;
        slot = (first + b) % BATCH_RING;
      }
      const i = pos - offset;
      const wi = this.bw[slot] as number;
      let lw = localWorker[wi] as number;
      if (lw < 0) localWorker[wi] = lw = batch.workers.push(this.workerNames[wi] as string) - 1;
      const gi = this.groupIndex(keyPrefix((this.bkeys[slot] as readonly string[])[i] as string));
      let lg = localGroup[gi] as number;
      if (lg < 0) localGroup[gi] = lg = batch.groups.push(this.groupNames[gi] as string) - 1;
      const ms = (this.bms[slot] as readonly number[])[i] as number;
      const dur = ms >= 0 ? ms : 0;
      const begin = (this.bat[slot] as number) - dur;
      if (begin < t0) t0 = begin;
      w[j] = lw;
      th[j] = this.bth[slot]?.[i] ?? -1;
      g[j] = lg;
      start[j] = begin; // made relative to t0 below
      d[j] = Math.round(dur * 10) / 10;
    }
    batch.t0 = Math.floor(t0);
    for (let j = 0; j < n; j++) start[j] = Math.round((start[j] as number) - batch.t0);
    // Let go of the messages' arrays.
    for (let k = 0; k < this.batches; k++) {
      const slot = (first + k) % BATCH_RING;
      this.bkeys[slot] = this.bms[slot] = this.bth[slot] = undefined;
    }
    this.batches = 0;
    this.overwritten = 0;
    return batch;
  }
}
