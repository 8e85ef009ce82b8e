/**
 * The one retry policy module: exponential backoff with full jitter, a sleep
 * that can be aborted, and a `retry` loop. Every backoff/sleep loop in recc
 * (worker connect, client reconnect, store conflicts, pollers) uses these, so
 * the policy is tuned in one place. Pure: timers only, no I/O.
 */

export interface BackoffPolicy {
  /** Delay before the first retry, in ms. */
  readonly initialMs: number;
  /** Upper bound of any single delay, in ms. */
  readonly maxMs: number;
  /** Growth factor per attempt (default 2). */
  readonly factor?: number;
  /**
   * 'full': uniform in [0, d] (AWS's "full jitter", best for contention);
   * 'equal': d/2 + uniform in [0, d/2] (keeps a floor, best for reconnects);
   * 'none': exactly d (deterministic tests).
   */
  readonly jitter?: 'full' | 'equal' | 'none';
}

/** Short optimistic-concurrency conflicts: DynamoDB version and transaction races. */
export const CONFLICT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 10, maxMs: 200, factor: 2, jitter: 'full' });
/** Reconnecting to a process that may still be starting (worker → scheduler). */
export const CONNECT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 5_000, factor: 2, jitter: 'equal' });
/**
 * A worker's first connect, while its scheduler is probably starting alongside
 * it (LocalCluster, the local backend and EKS start them together): a refused
 * connect on a closed port costs microseconds, so poll every 25 ms for
 * STARTUP_POLL_MS before CONNECT_BACKOFF (as before the worker split). Backing
 * off from the first refusal (50-100 ms, then 100-200 ms) can leave a worker
 * waiting for its next attempt after its scheduler already listens, which
 * matters when the scheduler is the slower to start (a loaded machine).
 */
export const STARTUP_POLL_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 25, maxMs: 25, factor: 1, jitter: 'none' });
export const STARTUP_POLL_MS = 3_000;
/**
 * A worker finding its scheduler again after losing it (restart, network
 * cut): capped at 2 s, so a worker rejoins within about 2 s of the scheduler
 * being back, at one attempt per worker per 1-2 s while it is down.
 */
export const RECONNECT_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 100, maxMs: 2_000, factor: 2, jitter: 'equal' });
/** A supervisor restarting a process that died (LocalCluster, the local backend): quick at first, slow in a crash loop. */
export const RESTART_BACKOFF: BackoffPolicy = Object.freeze({ initialMs: 500, maxMs: 30_000, factor: 2, jitter: 'equal' });

/** Delay before retry number `attempt` (0-based) under `policy`. */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const factor = policy.factor ?? 2;
  const exp = Math.min(policy.maxMs, policy.initialMs * factor ** Math.max(0, attempt));
  switch (policy.jitter ?? 'full') {
    case 'none':
      return exp;
    case 'equal':
      return exp / 2 + random() * (exp / 2);
    default:
      return random() * exp;
  }
}

/** Resolves after `ms`; rejects with the signal's reason if aborted first. Never keeps the process alive on its own when `unref` is set. */
export function sleep(ms: number, opts: { signal?: AbortSignal; unref?: boolean } = {}): Promise<void> {
  const { signal, unref = false } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    if (unref) timer.unref();
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export interface RetryOptions extends BackoffPolicy {
  /** Total attempts including the first (default: unlimited). */
  readonly attempts?: number;
  /**
   * Give up once this much time has passed since the first attempt (ms). A
   * backoff that would end past the deadline is cut short so that the last
   * attempt is made at the deadline: giving up early (as soon as the next
   * full delay would overrun) could stop a reconnect after half its timeout.
   */
  readonly deadlineMs?: number;
  /** Return false to stop retrying and rethrow at once (a permanent error). */
  readonly retryIf?: (error: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. to log. */
  readonly onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  readonly signal?: AbortSignal;
  /** Injectable for tests. */
  readonly now?: () => number;
  readonly random?: () => number;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** Runs `fn` until it resolves, an error is permanent, attempts run out, or the deadline passes; then rethrows the last error. */
export async function retry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const now = opts.now ?? Date.now;
  const wait = opts.sleep ?? ((ms: number, signal?: AbortSignal) => sleep(ms, { signal }));
  const started = now();
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (error) {
      if (opts.signal?.aborted) throw error;
      if (opts.retryIf && !opts.retryIf(error, attempt)) throw error;
      if (opts.attempts !== undefined && attempt + 1 >= opts.attempts) throw error;
      let delay = backoffDelay(attempt, opts, opts.random);
      if (opts.deadlineMs !== undefined) {
        const left = opts.deadlineMs - (now() - started);
        if (left <= 0) throw error;
        delay = Math.min(delay, left);
      }
      opts.onRetry?.(error, attempt, delay);
      await wait(delay, opts.signal);
    }
  }
}

/**
 * At most `max` restarts in any `windowMs`: a supervisor asks before each
 * restart, so a crash loop stops instead of spinning (the backoff alone only
 * slows it). Pure: the clock is injected.
 */
export class RestartBudget {
  private readonly times: number[] = [];

  constructor(
    readonly max: number,
    readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Record a restart and return true, or return false when the window is full. */
  take(): boolean {
    const t = this.now();
    while (this.times.length > 0 && t - (this.times[0] as number) >= this.windowMs) this.times.shift();
    if (this.times.length >= this.max) return false;
    this.times.push(t);
    return true;
  }
}
