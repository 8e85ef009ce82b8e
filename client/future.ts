import type { Client } from './client.ts';

export type FutureStatus = 'pending' | 'finished' | 'error' | 'cancelled' | 'lost';

/**
 * A handle on a task's result held in the cluster. The key is released when
 * the future is released or garbage-collected and no other future holds it.
 * While anything awaits the future (`result`, `wait`, `gather`,
 * `asCompleted`, `progress`) the client holds it, so it cannot be collected
 * mid-wait, and a release takes effect once the wait ends.
 */
export class Future<T = unknown> {
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
