import { readFileSync } from 'node:fs';
import { acquireGc } from './gc.ts';
import type { Logger } from '../shared/core/logger.ts';
import type { MemoryThresholds } from './store.ts';

/**
 * The worker's memory manager (after Dask's worker_memory.py). It samples the
 * process RSS, decides spill, pause and terminate from the limit's
 * thresholds, and is the only place those decisions are made. It keeps no
 * paused flag of its own: the worker state machine holds it (`isPaused`), and
 * a change goes in as a pause/unpause event through `onPauseChange`.
 *
 * Why RSS: tasks run in worker_threads, and a thread's `resourceLimits` only
 * bound its V8 heap; Buffers and typed arrays live off-heap, so only the
 * process's resident set shows them. Above the terminate fraction the worker
 * must die at once (`onTerminate`), and its supervisor (LocalCluster, the
 * local backend, the kubelet) starts a new one; the scheduler counts the death
 * against the tasks it was running (KilledWorkerError after `allowedFailures`).
 */

/** Exit status of a worker that ended itself for exceeding its memory limit (like a nanny's kill, distinct from a crash). */
export const MEMORY_LIMIT_EXIT_CODE = 75;
/** cgroup v1 writes "no limit" as a huge page-rounded number; anything at or above this is unlimited. */
const CGROUP_UNLIMITED = 2 ** 60;

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
  /** Above the terminate fraction: the process must end now. */
  terminate: boolean;
}

/** The pure rule: what to do at this reading under `limitBytes`. */
export function decideMemory(reading: MemoryReading, limitBytes: number, thresholds: Readonly<MemoryThresholds>): MemoryDecision {
  const { rssBytes, managedBytes } = reading;
  const spillAt = limitBytes * thresholds.spill;
  // Spill as much managed data as the process is over the spill line (unmanaged memory cannot be spilled).
  const spillToBytes = rssBytes > spillAt && managedBytes > 0 ? Math.max(0, managedBytes - (rssBytes - spillAt)) : undefined;
  // Pausing only helps when results are what fills memory: they can drain as the scheduler frees or spills them.
  const paused = rssBytes > limitBytes * thresholds.pause && managedBytes > 0;
  const terminate = rssBytes > limitBytes * thresholds.terminate;
  return { spillToBytes, paused, terminate };
}

/**
 * The memory limit of this process's cgroup (v2 `memory.max`, v1
 * `memory.limit_in_bytes`), or undefined when there is none. `read` is
 * injectable for tests.
 */
export function cgroupMemoryLimit(read: (path: string) => string = (p) => readFileSync(p, 'utf8')): number | undefined {
  const candidates: string[] = [];
  let membership = '';
  try {
    membership = read('/proc/self/cgroup');
  } catch {}
  for (const line of membership.split('\n')) {
    const [, controllers, path] = line.split(':');
    if (path === undefined) continue;
    if (controllers === '') candidates.push(`/sys/fs/cgroup${path === '/' ? '' : path}/memory.max`);
    else if (controllers?.split(',').includes('memory')) candidates.push(`/sys/fs/cgroup/memory${path === '/' ? '' : path}/memory.limit_in_bytes`);
  }
  // Inside a container's cgroup namespace the files sit at the root.
  candidates.push('/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes');
  let limit: number | undefined;
  for (const path of candidates) {
    let text: string;
    try {
      text = read(path).trim();
    } catch {
      continue;
    }
    const n = Number(text);
    if (text !== 'max' && Number.isFinite(n) && n > 0 && n < CGROUP_UNLIMITED) limit = Math.min(limit ?? n, n);
  }
  return limit;
}

/**
 * A full garbage collection of this isolate, for freeing spilled results now:
 * a result's Buffer is released only when V8 collects it, and until then it
 * still counts in RSS (measured: 8 results of 32 MiB all spilled, RSS still
 * 380 MiB). Undefined if the runtime refuses to expose gc.
 */
export function exposeGc(): (() => void) | undefined {
  return acquireGc();
}

/**
 * Collects this isolate's garbage each time `thresholdBytes` of shared memory
 * has come into it since the last collection.
 *
 * Why: V8 counts a SharedArrayBuffer's memory in no isolate's external memory
 * (measured: the worker's main isolate reported 3 MiB external while its store
 * held 85 MiB of results in shared memory), so dropping one never prompts a
 * collection, and its memory stays resident until a collection happens for
 * another reason: its small JavaScript heap rarely needs one. Task results,
 * pooled receive bodies and shuffle shard frames all live in shared memory;
 * under a memory limit the worker's RSS ran to several times its live data and
 * crossed the terminate line (test/e2e/tables/spill.test.ts, bench/FINDINGS.md).
 * Counting what comes in (not what is dropped) catches every way out.
 */
export class SharedMemoryCollector {
  private since = 0;
  private pending = false;
  /** Collections run so far (observability). */
  collections = 0;

  private gc: (() => void) | null | undefined;

  /** `gc` is taken on first need (default exposeGc: loading what it needs costs a worker's start). */
  constructor(
    readonly thresholdBytes: number,
    private readonly takeGc: () => (() => void) | undefined = exposeGc,
  ) {}

  /** `bytes` of shared memory came into this isolate. */
  note(bytes: number): void {
    this.since += bytes;
    if (this.since < this.thresholdBytes || this.pending) return;
    this.pending = true;
    // After this turn: the code that took the memory in may drop what it replaces in the same turn.
    setImmediate(() => {
      this.pending = false;
      this.since = 0;
      if (this.gc === undefined) this.gc = this.takeGc() ?? null;
      if (!this.gc) return;
      this.collections++;
      this.gc();
    });
  }
}

/** The shared-memory inflow between collections: this fraction of the memory limit, within these bounds. */
export const SHARED_GC_FRACTION = 0.05;
export const SHARED_GC_MIN_BYTES = 8 * 1024 * 1024;
export const SHARED_GC_MAX_BYTES = 256 * 1024 * 1024;

/** The inflow threshold of a worker's SharedMemoryCollector under `limitBytes` (none: the largest). */
export function sharedGcThreshold(limitBytes: number | undefined): number {
  if (limitBytes === undefined) return SHARED_GC_MAX_BYTES;
  return Math.min(SHARED_GC_MAX_BYTES, Math.max(SHARED_GC_MIN_BYTES, Math.floor(limitBytes * SHARED_GC_FRACTION)));
}

/**
 * Shared memory a task thread takes in or sends out (large results, shared inputs) between its own collections:
 * the worker's inflow threshold split between its threads, and never below the minimum. A forced collection in a
 * task thread costs far more than its pause: it discards the optimized code of the table kernels (V8 deoptimizes
 * code whose embedded objects died), which then runs slowly until warm again. Collected after every 8 MiB, a
 * groupBy().apply of 5 M rows took twice as long (bench/recc/df-profile.ts; --trace-deopt: "weak objects").
 */
export function threadGcThreshold(limitBytes: number | undefined, nthreads: number): number {
  return Math.max(SHARED_GC_MIN_BYTES, Math.floor(sharedGcThreshold(limitBytes) / Math.max(1, nthreads)));
}

/** The limit the worker enforces: the smaller of the configured one and the cgroup's. */
export function effectiveMemoryLimit(configuredBytes: number | undefined, cgroupBytes: number | undefined): number | undefined {
  if (configuredBytes === undefined) return cgroupBytes;
  if (cgroupBytes === undefined) return configuredBytes;
  return Math.min(configuredBytes, cgroupBytes);
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
  /** RSS passed the terminate fraction: end the process now (best-effort notice first). Called once. */
  onTerminate: (reading: MemoryReading, limitBytes: number) => void;
  logger: Logger;
  /** @default process.memoryUsage.rss (cheap: one read of /proc/self/statm) */
  sampleRss?: () => number;
  /** Collect garbage after spilling and before terminating, so freed results leave RSS. @default none */
  collectGarbage?: () => void;
  /**
   * Ask every task thread to collect its garbage (they do so between tasks). Called while RSS is above the
   * target fraction, at most once per gcIntervalMs, and before terminating: task threads let their heaps grow
   * well past their live data (worker/v8-tuning.ts), and garbage there is neither a result to spill nor
   * something pausing would free. @default none
   */
  collectThreads?: () => void;
  /** For rate-limiting garbage collection. @default Date.now */
  now?: () => number;
  /** At most one collection per this many ms. @default 1000 */
  gcIntervalMs?: number;
}

export class MemoryManager {
  private timer: NodeJS.Timeout | undefined;
  private readonly sampleRss: () => number;
  private terminating = false;
  private lastGcAt = Number.NEGATIVE_INFINITY;
  private lastThreadGcAt = Number.NEGATIVE_INFINITY;
  private readonly now: () => number;

  constructor(private readonly deps: MemoryManagerDeps) {
    this.sampleRss = deps.sampleRss ?? (() => process.memoryUsage.rss());
    this.now = deps.now ?? Date.now;
  }

  get limitBytes(): number | undefined {
    return this.deps.limitBytes;
  }

  /** Sample once and act. Returns the decision (undefined without a limit, or once terminating). */
  check(): MemoryDecision | undefined {
    const limit = this.deps.limitBytes;
    if (limit === undefined || this.terminating) return undefined;
    const { store } = this.deps;
    let reading: MemoryReading = { rssBytes: this.sampleRss(), managedBytes: store.managedBytes };
    let decision = decideMemory(reading, limit, this.deps.thresholds);
    if (reading.rssBytes > limit * this.deps.thresholds.target) this.collectThreads(decision.terminate);
    if (decision.terminate && this.collect(true, false)) {
      // Last resort before ending the process: drop every result to disk and free what is garbage.
      // A task that holds its memory is not helped by this, and still ends the worker below.
      if (store.managedBytes > 0) store.spillTo(0);
      this.collect(true);
      reading = { rssBytes: this.sampleRss(), managedBytes: store.managedBytes };
      decision = decideMemory(reading, limit, this.deps.thresholds);
    }
    if (decision.terminate) {
      // Nothing else is worth doing: spilling or pausing cannot stop a task that is still allocating.
      if (!this.terminating) {
        this.terminating = true;
        this.stop();
        this.deps.logger.error('memory above the terminate threshold; ending the worker so its supervisor restarts it', {
          event: 'worker.memory-terminate',
          rss: reading.rssBytes,
          managed: reading.managedBytes,
          limit,
          terminateAt: Math.round(limit * this.deps.thresholds.terminate),
        });
        this.deps.onTerminate(reading, limit);
      }
      return decision;
    }
    if (decision.spillToBytes !== undefined && store.spillTo(decision.spillToBytes) > 0) this.collect(false);
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

  /**
   * Run a collection if one is available and none ran within gcIntervalMs
   * (`force` ignores the interval; `run=false` only answers whether one would run).
   */
  private collect(force: boolean, run = true): boolean {
    const gc = this.deps.collectGarbage;
    if (!gc) return false;
    const t = this.now();
    if (!force && t - this.lastGcAt < (this.deps.gcIntervalMs ?? 1000)) return false;
    if (run) {
      this.lastGcAt = t;
      gc();
    }
    return true;
  }

  /** Ask the task threads to collect, unless they were asked within gcIntervalMs (`force`: ask anyway). */
  private collectThreads(force: boolean): void {
    const ask = this.deps.collectThreads;
    if (!ask) return;
    const t = this.now();
    if (!force && t - this.lastThreadGcAt < (this.deps.gcIntervalMs ?? 1000)) return;
    this.lastThreadGcAt = t;
    ask();
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
