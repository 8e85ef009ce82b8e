import type { Logger } from '../shared/core/logger.ts';
import type { MemoryThresholds } from './store.ts';

/**
 * The worker's memory manager (after Dask's worker_memory.py). It samples the
 * process RSS, decides spill and pause from the limit's thresholds, and is the
 * only place those decisions are made. It keeps no paused flag of its own: the
 * worker state machine holds it (`isPaused`), and a change goes in as a
 * pause/unpause event through `onPauseChange`.
 */

/** One observation of the process. */
export interface MemoryReading {
  /** Resident set size of the whole process (threads, off-heap Buffers included). */
  rssBytes: number;
  /** Bytes of results held in memory by the data store. */
  managedBytes: number;
}

export interface MemoryDecision {
  /** Spill managed data down to this many bytes; undefined = no spill needed. */
  spillToBytes: number | undefined;
  /** Whether new tasks should be held back. */
  paused: boolean;
}

/** The pure rule: what to do at this reading under `limitBytes`. */
export function decideMemory(reading: MemoryReading, limitBytes: number, thresholds: Readonly<MemoryThresholds>): MemoryDecision {
  const { rssBytes, managedBytes } = reading;
  const spillAt = limitBytes * thresholds.spill;
  // Spill as much managed data as the process is over the spill line (unmanaged memory cannot be spilled).
  const spillToBytes = rssBytes > spillAt && managedBytes > 0 ? Math.max(0, managedBytes - (rssBytes - spillAt)) : undefined;
  // Pausing only helps when results are what fills memory: they can drain as the scheduler frees or spills them.
  const paused = rssBytes > limitBytes * thresholds.pause && managedBytes > 0;
  return { spillToBytes, paused };
}

/** What the memory manager acts on. */
export interface ManagedData {
  readonly managedBytes: number;
  spillTo(bytes: number): number;
}

export interface MemoryManagerDeps {
  /** undefined = no limit: the manager does nothing. */
  limitBytes: number | undefined;
  thresholds: Readonly<MemoryThresholds>;
  store: ManagedData;
  /** The state machine's paused flag (the one source of truth). */
  isPaused: () => boolean;
  /** Called when the decision differs from `isPaused()`; must feed a pause/unpause event to the state machine. */
  onPauseChange: (paused: boolean, reading: MemoryReading) => void;
  logger: Logger;
  /** @default process.memoryUsage.rss (cheap: one read of /proc/self/statm) */
  sampleRss?: () => number;
}

export class MemoryManager {
  private timer: NodeJS.Timeout | undefined;
  private readonly sampleRss: () => number;

  constructor(private readonly deps: MemoryManagerDeps) {
    this.sampleRss = deps.sampleRss ?? (() => process.memoryUsage.rss());
  }

  get limitBytes(): number | undefined {
    return this.deps.limitBytes;
  }

  /** Sample once and act. Returns the decision (undefined without a limit). */
  check(): MemoryDecision | undefined {
    const limit = this.deps.limitBytes;
    if (limit === undefined) return undefined;
    const { store } = this.deps;
    const reading: MemoryReading = { rssBytes: this.sampleRss(), managedBytes: store.managedBytes };
    const decision = decideMemory(reading, limit, this.deps.thresholds);
    if (decision.spillToBytes !== undefined) store.spillTo(decision.spillToBytes);
    if (decision.paused !== this.deps.isPaused()) {
      this.deps.logger.info(decision.paused ? 'memory above the pause threshold; pausing new tasks' : 'memory back under the pause threshold; resuming', {
        event: decision.paused ? 'worker.paused' : 'worker.resumed',
        rss: reading.rssBytes,
        managed: store.managedBytes,
      });
      this.deps.onPauseChange(decision.paused, reading);
    }
    return decision;
  }

  /** Sample every `intervalMs` until stop(). The timer does not keep the process alive. */
  start(intervalMs: number): void {
    if (this.timer || this.deps.limitBytes === undefined) return;
    this.timer = setInterval(() => this.check(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}
