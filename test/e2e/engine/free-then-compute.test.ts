import { describe, expect, it } from 'vitest';
import { Client, type Future } from '../../../client/index.ts';
import { useLocalCluster } from '../../support/engine.ts';

/**
 * A task freed and given back to the same worker in one scheduler step: the
 * client releases a running task and submits the same key again, and both
 * messages reach the scheduler in one frame. The scheduler frees the key on
 * the worker and assigns it again at once; the worker must see the free
 * before the compute, or it drops the run the scheduler waits for.
 */
describe('Class: LocalCluster (1 worker, 1 thread): a key released and resubmitted in one frame', () => {
  let client: Client;
  useLocalCluster({ nWorkers: 1, threadsPerWorker: 1 }, (_cluster, c) => {
    client = c;
  });

  const sleepy = (ms: number, tag: string) => {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
    return `${tag}:${ms}`;
  };

  /** Submit in a later check phase than the release's flush (so both messages share one frame); boxed, as a Future is thenable. */
  const submitNextTurn = (key: string, ms: number, tag: string) =>
    new Promise<{ future: Future<string> }>((resolve) => setImmediate(() => resolve({ future: client.submitWith<string>({ key }, sleepy, ms, tag) })));

  const withDeadline = <T>(p: Promise<T>): Promise<T> =>
    Promise.race([p, new Promise<T>((_, reject) => setTimeout(() => reject(new Error('the resubmitted task never finished')), 20_000))]);

  it('finishes the resubmitted task while the first run executes (it is not forgotten)', async () => {
    // Prepare: a running task (its result is not awaited)
    const first = client.submitWith({ key: 'sleepy-same' }, sleepy, 400, 'a');
    await new Promise((r) => setTimeout(r, 100));

    // Act: release it; in the same turn (after the release is posted) submit the same key again
    first.release();
    const { future: again } = await submitNextTurn('sleepy-same', 400, 'a');

    // Assess: the result comes (it hung before the fix)
    const result = await withDeadline(again.result());
    expect(result).toBe('a:400');
  });

  it('finishes the resubmitted task while the first is still queued on the worker', async () => {
    // Prepare: the only thread is busy, so the task waits in the worker's queue
    const blocker = client.submitWith({ key: 'sleepy-blocker' }, sleepy, 300, 'b');
    const first = client.submitWith({ key: 'sleepy-queued' }, sleepy, 50, 'q');
    await new Promise((r) => setTimeout(r, 100));

    // Act
    first.release();
    const { future: again } = await submitNextTurn('sleepy-queued', 50, 'q');

    // Assess
    const result = await withDeadline(again.result());
    expect(result).toBe('q:50');
    expect(await blocker.result()).toBe('b:300');
  });
});
