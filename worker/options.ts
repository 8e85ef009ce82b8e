import type { TlsFiles } from '../comm/handshake.ts';
import type { ErrorDetail } from '../shared/core/errors.ts';
import type { Logger } from '../shared/core/logger.ts';
import { WorkerOptionsError } from './errors.ts';
import { defaultModuleCacheDir } from './module-cache.ts';
import { DEFAULT_THRESHOLDS, type MemoryThresholds } from './store.ts';
import { newWorkspaceDir, scratchDirFromEnv } from './workspace.ts';

/**
 * What a caller may pass to `new Worker(…)`. Everything with a default is
 * optional; `compileWorkerOptions` fills the defaults in once, normalises
 * units (`*Ms`, `*Bytes`) and validates, so the rest of the worker never
 * sees an undefined or a literal.
 */
export interface WorkerOptions {
  schedulerAddress: string;
  token: string;
  name: string;
  logger: Logger;
  /** Task threads. @default 1 */
  nthreads?: number;
  /** Memory limit in bytes; undefined = no limit (a cgroup limit still applies, see memory.ts). */
  memoryLimitBytes?: number;
  /** Fractions of the memory limit. @default DEFAULT_THRESHOLDS (Dask's 60/70/80/95 %) */
  thresholds?: Partial<MemoryThresholds>;
  /** Resources this worker advertises, e.g. `{ GPU: 1 }`. @default {} */
  resources?: Record<string, number>;
  /** Interface for the data port (peers and clients fetch results here); `0.0.0.0` for all. @default '127.0.0.1' */
  host?: string;
  /** Address other processes use to reach this host. @default host, or the address we connect from for 0.0.0.0 */
  contactHost?: string;
  caPem?: string;
  /** Serve the data port over TLS with these. */
  tls?: TlsFiles;
  /** Give up connecting to the scheduler after this long. @default DEFAULT_CONNECT_TIMEOUT_MS */
  connectTimeoutMs?: number;
  /** After losing the scheduler, keep reconnecting this long before stopping; 0 stops at once. @default DEFAULT_RECONNECT_TIMEOUT_MS */
  reconnectTimeoutMs?: number;
  /** @default DEFAULT_HEARTBEAT_MS */
  heartbeatMs?: number;
  /** How often process memory is sampled. @default DEFAULT_MEMORY_SAMPLE_MS */
  memorySampleMs?: number;
  /** Results up to this size ride along with task-finished (and reach clients at once). @default DEFAULT_INLINE_RESULT_BYTES */
  inlineResultBytes?: number;
  /**
   * Where spilled results and shuffle shards go. @default the worker's own workspace under `scratchDir`
   * (worker/workspace.ts: dead workers' workspaces are swept at start, this one is removed at exit)
   */
  spillDir?: string;
  /** The host's scratch directory for workspaces. @default RECC_SCRATCH_DIR, else the OS temp dir */
  scratchDir?: string;
  /**
   * Shuffle shards held in memory before they spill to the workspace.
   * @default RECC_SHUFFLE_BUFFER_BYTES, else a quarter of the memory limit (256 MiB without one)
   */
  shuffleBufferBytes?: number;
  /** Shared by one user's workers on a host (worker/module-cache.ts). @default `<tmpdir>/recc-modules-<uid>` */
  moduleCacheDir?: string;
  /** Tasks handed to the thread pool beyond nthreads (pipelines short tasks). @default DEFAULT_EXTRA_EXECUTING */
  extraExecuting?: number;
  /** Whether a cgroup memory limit (v2 memory.max, v1 memory.limit_in_bytes) caps `memoryLimitBytes`. @default true */
  honourCgroupLimit?: boolean;
  /**
   * Called once when RSS passes the terminate fraction, after a best-effort
   * notice to the scheduler. @default exit the process with MEMORY_LIMIT_EXIT_CODE
   */
  onMemoryLimitExceeded?: () => void;
}

/** Long enough for a scheduler pod to be scheduled and pull its image. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 120_000;
/** A scheduler pod that restarts (a new node, an image pull) is back well within this. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 120_000;
/** The scheduler's view of worker memory and load is at most this old. */
export const DEFAULT_HEARTBEAT_MS = 1_000;
/**
 * RSS sampling period. A Buffer-filling loop grows a process by about
 * 600 MiB/s on this class of machine, so 50 ms lets it overshoot a threshold
 * by ~30 MiB at most; one sample costs ~10 µs.
 */
export const DEFAULT_MEMORY_SAMPLE_MS = 50;
/** Small results go to the scheduler with task-finished, saving clients a round trip to the worker. */
export const DEFAULT_INLINE_RESULT_BYTES = 32 * 1024;
/** Queued tasks in the pool beyond the thread count, so short tasks do not wait a round trip. */
export const DEFAULT_EXTRA_EXECUTING = 64;

/** Every option resolved: no optional field left that has a default. */
export interface CompiledWorkerOptions {
  readonly schedulerAddress: string;
  readonly token: string;
  readonly name: string;
  readonly logger: Logger;
  readonly nthreads: number;
  readonly memoryLimitBytes: number | undefined;
  readonly thresholds: Readonly<MemoryThresholds>;
  readonly resources: Readonly<Record<string, number>>;
  readonly host: string;
  /** Address advertised to the scheduler, or undefined to let it use the address we connect from. */
  readonly contactHost: string | undefined;
  readonly caPem: string | undefined;
  readonly tls: TlsFiles | undefined;
  readonly connectTimeoutMs: number;
  readonly reconnectTimeoutMs: number;
  readonly heartbeatMs: number;
  readonly memorySampleMs: number;
  readonly inlineResultBytes: number;
  readonly spillDir: string;
  readonly scratchDir: string;
  /** undefined = the default share of the memory limit (worker.ts). */
  readonly shuffleBufferBytes: number | undefined;
  /** The spill directory is this worker's own workspace (not one the caller chose): swept, removed at exit. */
  readonly ownWorkspace: boolean;
  readonly moduleCacheDir: string;
  readonly maxExecuting: number;
  readonly honourCgroupLimit: boolean;
  readonly onMemoryLimitExceeded: (() => void) | undefined;
}

/** Apply defaults, normalise and validate once; throws WorkerOptionsError listing every problem. */
export function compileWorkerOptions(options: WorkerOptions): CompiledWorkerOptions {
  const problems: ErrorDetail[] = [];
  const positiveInt = (path: string, v: number | undefined, max = Number.MAX_SAFE_INTEGER): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 1 && v <= max)) problems.push({ path, message: `expected an integer from 1 to ${max}, got ${v}` });
  };
  const positive = (path: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) problems.push({ path, message: `expected a positive number, got ${v}` });
  };
  const nonNegativeInt = (path: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v >= 0)) problems.push({ path, message: `expected a non-negative integer, got ${v}` });
  };
  if (!options.schedulerAddress) problems.push({ path: 'schedulerAddress', message: 'is required' });
  if (!options.token) problems.push({ path: 'token', message: 'is required' });
  if (!options.name) problems.push({ path: 'name', message: 'is required' });
  positiveInt('nthreads', options.nthreads, 1024);
  positiveInt('memoryLimitBytes', options.memoryLimitBytes);
  positive('connectTimeoutMs', options.connectTimeoutMs);
  if (options.reconnectTimeoutMs !== undefined && !(Number.isFinite(options.reconnectTimeoutMs) && options.reconnectTimeoutMs >= 0)) {
    problems.push({ path: 'reconnectTimeoutMs', message: `expected a non-negative number, got ${options.reconnectTimeoutMs}` });
  }
  positive('heartbeatMs', options.heartbeatMs);
  positive('memorySampleMs', options.memorySampleMs);
  nonNegativeInt('inlineResultBytes', options.inlineResultBytes);
  nonNegativeInt('extraExecuting', options.extraExecuting);
  const envBuffer = process.env.RECC_SHUFFLE_BUFFER_BYTES?.trim();
  if (envBuffer && !/^[1-9]\d{0,15}$/.test(envBuffer)) problems.push({ path: 'RECC_SHUFFLE_BUFFER_BYTES', message: `expected a whole number of bytes (1 or more), got ${JSON.stringify(envBuffer)}` });
  const shuffleBufferBytes = options.shuffleBufferBytes ?? (envBuffer && /^[1-9]\d{0,15}$/.test(envBuffer) ? Number(envBuffer) : undefined);
  positiveInt('shuffleBufferBytes', options.shuffleBufferBytes);
  const thresholds: MemoryThresholds = { ...DEFAULT_THRESHOLDS };
  for (const [k, v] of Object.entries(options.thresholds ?? {})) {
    if (!(k in DEFAULT_THRESHOLDS)) {
      problems.push({ path: `thresholds.${k}`, message: `unknown threshold; expected one of ${Object.keys(DEFAULT_THRESHOLDS).join(', ')}` });
    } else if (v !== undefined) {
      if (!(typeof v === 'number' && v > 0 && v <= 1)) problems.push({ path: `thresholds.${k}`, message: `expected a fraction in (0, 1], got ${String(v)}` });
      else thresholds[k as keyof MemoryThresholds] = v;
    }
  }
  for (const [r, n] of Object.entries(options.resources ?? {})) {
    if (!(Number.isFinite(n) && n >= 0)) problems.push({ path: `resources.${r}`, message: `expected a non-negative number, got ${n}` });
  }
  if (problems.length > 0) throw new WorkerOptionsError(problems);

  const host = options.host ?? '127.0.0.1';
  const wildcard = host === '0.0.0.0' || host === '::';
  const nthreads = options.nthreads ?? 1;
  const scratchDir = options.scratchDir ?? scratchDirFromEnv();
  return Object.freeze({
    schedulerAddress: options.schedulerAddress,
    token: options.token,
    name: options.name,
    logger: options.logger,
    nthreads,
    memoryLimitBytes: options.memoryLimitBytes,
    thresholds: Object.freeze(thresholds),
    resources: Object.freeze({ ...(options.resources ?? {}) }),
    host,
    // Listening on all interfaces without a contact host: the scheduler uses the address we connect from.
    contactHost: options.contactHost ?? (wildcard ? undefined : host),
    caPem: options.caPem,
    tls: options.tls,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    reconnectTimeoutMs: options.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS,
    heartbeatMs: options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS,
    memorySampleMs: options.memorySampleMs ?? DEFAULT_MEMORY_SAMPLE_MS,
    inlineResultBytes: options.inlineResultBytes ?? DEFAULT_INLINE_RESULT_BYTES,
    spillDir: options.spillDir ?? newWorkspaceDir(scratchDir),
    scratchDir,
    shuffleBufferBytes,
    ownWorkspace: options.spillDir === undefined,
    moduleCacheDir: options.moduleCacheDir ?? defaultModuleCacheDir(),
    maxExecuting: nthreads + (options.extraExecuting ?? DEFAULT_EXTRA_EXECUTING),
    honourCgroupLimit: options.honourCgroupLimit ?? true,
    onMemoryLimitExceeded: options.onMemoryLimitExceeded,
  });
}
