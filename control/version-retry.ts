import { CONFLICT_BACKOFF, retry, sleep, type BackoffPolicy } from '../shared/core/retry.ts';
import { VersionConflictError } from '../shared/ports/errors.ts';

/**
 * The one policy for optimistic-concurrency races in the control plane (the
 * cluster API in `clusters.ts` and the provisioner step in `provisioner.ts`).
 *
 * A write conditional on a record's version that loses a race throws
 * `VersionConflictError`. The policy is:
 *
 * 1. **Re-read and re-decide.** The attempt function reads the current
 *    record itself and decides again from it; the record carried by the
 *    conflict is not reused, because it may be stale by the time the pause
 *    is over.
 * 2. **Pause between attempts** by `CONFLICT_BACKOFF` (`shared/core/retry.ts`:
 *    full jitter, 10 ms doubling up to 200 ms), so writers racing on one hot
 *    record spread out instead of colliding again in lock step.
 * 3. **Bounded:** at most `retries` further attempts after the first
 *    (`DEFAULT_VERSION_RETRIES` = 8, i.e. 9 attempts and under about a second
 *    of pauses in the worst case). Then the last `VersionConflictError`
 *    propagates; the API turns it into 409 `ClusterBusyError`, the
 *    provisioner lets the queue redeliver the message.
 * 4. **Only version conflicts** are retried; any other error propagates at once.
 */
export const DEFAULT_VERSION_RETRIES = 8;

export interface VersionRetryOptions {
  /** Further attempts after the first lost race. @default DEFAULT_VERSION_RETRIES */
  retries?: number;
  /** @default CONFLICT_BACKOFF */
  backoff?: BackoffPolicy;
  /** Called before each pause (for a debug log line). */
  onConflict?: (conflict: VersionConflictError, attempt: number, delayMs: number) => void;
  /** Injectable pause, for tests. @default `sleep` from shared/core/retry.ts */
  sleep?: (ms: number) => Promise<void>;
  /** Injectable jitter source, for tests. */
  random?: () => number;
}

/** Run `attempt` (0-based attempt number) under the version-conflict policy above. */
export function withVersionRetry<T>(attempt: (n: number) => Promise<T>, options: VersionRetryOptions = {}): Promise<T> {
  const retries = options.retries ?? DEFAULT_VERSION_RETRIES;
  const pause = options.sleep ?? ((ms: number) => sleep(ms));
  return retry(attempt, {
    ...(options.backoff ?? CONFLICT_BACKOFF),
    attempts: retries + 1,
    retryIf: (err) => err instanceof VersionConflictError,
    ...(options.onConflict === undefined
      ? {}
      : { onRetry: (err: unknown, n: number, delayMs: number) => options.onConflict?.(err as VersionConflictError, n, delayMs) }),
    sleep: pause,
    ...(options.random === undefined ? {} : { random: options.random }),
  });
}
