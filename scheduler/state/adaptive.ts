import type { SchedulerState } from './machine.ts';
import type { WorkerRecord } from './records.ts';
import { retirementsOf } from './retire.ts';

/**
 * Adaptive scaling (after Dask's `Scheduler.adaptive_target` and
 * `deploy/adaptive_core.py`), as a pure policy over the scheduler's records.
 * On each `adapt` event (the shell sends one every `intervalMs`):
 *
 * - the target is the work on hand divided by how long it may take: the
 *   expected run time of what is processing and queued (per task prefix,
 *   measured) over `targetDurationMs`, in threads, then in workers; never
 *   more threads than tasks, at least one worker while tasks wait; clamped to
 *   [minimum, maximum];
 * - above the workers in service, the scheduler asks for more at once (the
 *   `scale` instruction; the control plane clamps it again to the spec and
 *   the owner's quota);
 * - below, the same idle workers (fewest results first) must be named on
 *   `waitCount` consecutive looks before they retire (retire.ts): a burst
 *   of idleness between stages does not shed workers the next stage needs;
 * - a retirement that is done asks for the new count with the retired
 *   worker named (`retire-worker`), so the backend stops that one.
 */

export interface AdaptiveOptions {
  minimum: number;
  maximum: number;
  /** The work on hand should take about this long on the cluster. */
  targetDurationMs: number;
  /** Consecutive looks that must agree on a worker before it retires. */
  waitCount: number;
  /** How often the shell sends `adapt`. */
  intervalMs: number;
}

/** Queued tasks looked at per step to estimate the queue (Dask samples 100 too). */
export const QUEUE_SAMPLE = 100;

/** Workers the work on hand asks for, before clamping (Dask's `adaptive_target`). */
export function adaptiveTarget(s: SchedulerState, targetDurationMs: number): number {
  let processingMs = 0;
  let processing = 0;
  let threads = 0;
  let workers = 0;
  for (const w of s.workers.values()) {
    processingMs += w.occupancy;
    processing += w.processing.size;
    if (w.retiring) continue;
    threads += w.nthreads;
    workers++;
  }
  let sampled = 0;
  let sampledMs = 0;
  for (const t of s.queue.values()) {
    if (t.state !== 'queued') continue;
    sampledMs += s.estimate(t);
    if (++sampled >= QUEUE_SAMPLE) break;
  }
  for (const set of [s.readyDeps, s.constrained, s.noWorker]) {
    for (const t of set) {
      if (sampled >= QUEUE_SAMPLE * 2) break;
      sampledMs += s.estimate(t);
      sampled++;
    }
  }
  const waiting = s.queue.size + s.readyDeps.size + s.constrained.size + s.noWorker.size;
  const queuedMs = sampled === 0 ? 0 : (sampledMs / sampled) * waiting;
  const tasks = processing + waiting;
  if (tasks === 0) return 0;
  // Threads: enough to finish the work in the target duration, but never more than there are tasks.
  const cpu = Math.min(tasks, Math.ceil((processingMs + queuedMs) / Math.max(1, targetDurationMs)));
  const threadsPerWorker = workers > 0 ? threads / workers : 1;
  return Math.max(1, Math.ceil(cpu / threadsPerWorker));
}

export function clampTarget(n: number, o: AdaptiveOptions): number {
  return Math.min(o.maximum, Math.max(o.minimum, n));
}

/** Workers in service: not retiring, not retired, not gone. */
export function workersInService(s: SchedulerState): WorkerRecord[] {
  const out: WorkerRecord[] = [];
  for (const w of s.workers.values()) if (!w.removed && !w.retiring) out.push(w);
  return out;
}

export class AdaptivePolicy {
  /** Consecutive looks that named each worker for retirement (Dask's `close_counts`). */
  private readonly closeCounts = new Map<WorkerRecord, number>();
  /** The count last asked of the control plane. */
  requested: number | undefined;
  /** The last target computed (for status and the retire instruction). */
  target = 0;

  constructor(readonly options: AdaptiveOptions) {}

  /** One look: ask for more workers, or start retiring the idle ones named often enough. */
  adapt(s: SchedulerState): void {
    const o = this.options;
    const target = clampTarget(adaptiveTarget(s, o.targetDurationMs), o);
    this.target = target;
    const book = retirementsOf(s);
    let inService = workersInService(s);
    if (target > inService.length) {
      // More work: take back workers still moving their data away before asking for new ones.
      for (const w of s.workers.values()) {
        if (inService.length >= target) break;
        if (w.retiring && !w.retired && book.isRetiring(w)) {
          book.cancel(w);
          inService.push(w);
        }
      }
    }
    if (target >= inService.length) {
      this.closeCounts.clear();
      this.request(s, target);
      return;
    }
    // Fewer: idle workers, fewest results first, named on waitCount consecutive looks.
    const idle = inService.filter((w) => w.processing.size === 0).sort((a, b) => a.has.size - b.has.size || (a.name < b.name ? -1 : 1));
    const named = new Set(idle.slice(0, inService.length - target));
    for (const w of [...this.closeCounts.keys()]) if (!named.has(w)) this.closeCounts.delete(w);
    for (const w of named) {
      const n = (this.closeCounts.get(w) ?? 0) + 1;
      this.closeCounts.set(w, n);
      if (n >= o.waitCount) {
        this.closeCounts.delete(w);
        book.start(w);
      }
    }
    inService = workersInService(s);
    // A scale-up asked for earlier and not needed any more is lowered (never below the workers in service).
    if (this.requested !== undefined && this.requested > inService.length) this.request(s, Math.max(target, inService.length));
  }

  /** A retirement finished: the count to ask for with the retired worker named. */
  retired(s: SchedulerState): number {
    this.requested = Math.max(this.target, workersInService(s).length);
    return this.requested;
  }

  private request(s: SchedulerState, n: number): void {
    if (this.requested === n) return;
    this.requested = n;
    s.emit({ type: 'scale', workers: n, stimulusId: s.stimulus });
  }
}

const policies = new WeakMap<SchedulerState, AdaptivePolicy>();

/** The state's adaptive policy, or undefined when the cluster is not adaptive. */
export function adaptiveOf(s: SchedulerState): AdaptivePolicy | undefined {
  const o = s.options.adaptive;
  if (!o) return undefined;
  let p = policies.get(s);
  if (!p) policies.set(s, (p = new AdaptivePolicy(o)));
  return p;
}
