import { ValidationError } from '../shared/core/errors.ts';
import type { Client } from './client.ts';
import { TaskError } from './errors.ts';

export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled' | 'lost';

/**
 * A handle on a task's result held in the cluster. The key is released when
 * the future is released or garbage-collected and no other future holds it.
 * While anything awaits the future (`await future`, `result`, `wait`,
 * `gather`, `asCompleted`, `progress`) the client holds it, so it cannot be
 * collected mid-wait, and a release takes effect once the wait ends.
 *
 * A Future is awaitable (`PromiseLike<T>`), as in Dask's async API:
 * `await client.submit(f, x)` is the value. Like any thenable, it is
 * therefore unwrapped wherever JavaScript resolves promises: an `async`
 * function that returns a Future resolves to the Future's *value*, and so do
 * `Promise.resolve(future)`, `Promise.all([future])` and a `.then` callback
 * returning one. To pass the Future itself through async code, wrap it
 * (`return { future }`) or return it from a plain (non-async) function.
 */
export class Future<T = unknown> implements PromiseLike<T> {
  private released = false;

  /** @internal — use client.submit / map / compute / scatter. */
  constructor(
    readonly key: string,
    readonly client: Client,
  ) {
    client._ref(this);
  }

  get status(): FutureStatus {
    return this.client._status(this.key);
  }

  /** True once the task finished, failed or was cancelled. */
  done(): boolean {
    return this.status !== 'pending' && this.status !== 'lost';
  }

  /** Wait for the task and return its value (or re-throw its error). */
  result(): Promise<T> {
    return this.client._result(this) as Promise<T>;
  }

  /** Wait for the task to finish without fetching the value (rejects if it failed). */
  wait(): Promise<void> {
    return this.client._waitFuture(this);
  }

  /**
   * `await future`: the value, or the task's error. The client holds the
   * future while it is awaited (the same path as `result()`).
   */
  then<R1 = T, R2 = never>(onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null, onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null): Promise<R1 | R2> {
    return this.result().then(onFulfilled, onRejected);
  }

  /**
   * Wait for the task; resolve with its error (a TaskError) if it failed, or
   * `undefined` if it finished. Rejects only when there is no task outcome to
   * report: the future was cancelled (CancelledError) or the client lost its
   * scheduler (ClientClosedError).
   */
  async exception(): Promise<TaskError | undefined> {
    try {
      await this.wait();
      return undefined;
    } catch (err) {
      if (err instanceof TaskError) return err;
      throw err;
    }
  }

  /**
   * Call `fn(future)` once the future is done: finished, failed, cancelled or
   * lost with the client (see `status`). A future already done calls back on a
   * later tick, never synchronously. The client holds the future until then.
   * A callback that throws does not break anything else: its error is emitted
   * as a process warning.
   */
  addDoneCallback(fn: (future: Future<T>) => unknown): void {
    if (typeof fn !== 'function') {
      throw new ValidationError('invalid callback', [{ path: 'fn', message: `expected a function, got ${fn === null ? 'null' : typeof fn}` }]);
    }
    const call = () => {
      try {
        const r = fn(this);
        if (r && typeof (r as PromiseLike<unknown>).then === 'function') (r as PromiseLike<unknown>).then(undefined, warnCallback);
      } catch (err) {
        warnCallback(err);
      }
    };
    this.wait().then(call, call);
  }

  cancel(): Promise<void> {
    return this.client.cancel(this);
  }

  /** Stop holding the result (idempotent; deferred while something awaits it). */
  release(): void {
    if (this.released) return;
    this.released = true;
    this.client._unref(this);
  }

  /** @internal */ get isReleased(): boolean {
    return this.released;
  }

  toString(): string {
    return `Future<${this.key}: ${this.status}>`;
  }
}

function warnCallback(err: unknown): void {
  const why = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  process.emitWarning(`a future's done callback threw: ${why}`, { code: 'RECC_DONE_CALLBACK' });
}
