import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 19 #1: large results are received into reused memory
 * (comm/buffer-pool.ts). Reuse must never show a task another result's bytes,
 * not even a task that kept an earlier input in a global.
 */
describe('Worker→worker transfer into pooled memory', () => {
  it('moves many large results through reused memory intact, and never reuses memory a task kept', async () => {
    // Prepare: a producer worker and a consumer worker.
    await using cluster = await LocalCluster.start({ nWorkers: 0 });
    await cluster.addWorker({ name: 'pool-a', resources: { A: 1 } });
    await cluster.addWorker({ name: 'pool-b', resources: { B: 1 } });
    await using client = await Client.connect(cluster);
    const produce = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    /** Every 4 KiB of every input equals its fill; kept inputs are checked again on every call. */
    const check = (b: Uint8Array, fill: number, keep: boolean): number[] => {
      const g = globalThis as { kept?: Array<[Uint8Array, number]> };
      g.kept ??= [];
      if (keep) g.kept.push([b, fill]);
      const bad: number[] = [];
      for (const [x, f] of [[b, fill] as [Uint8Array, number], ...g.kept]) {
        for (let i = 0; i < x.length; i += 4096) {
          if (x[i] !== f) {
            bad.push(f);
            break;
          }
        }
      }
      return bad;
    };

    // Act: 24 rounds of 3 MiB; every fourth input is kept by the consumer.
    const problems: number[][] = [];
    for (let round = 0; round < 24; round++) {
      const fill = (round * 37 + 11) % 251;
      const made = client.submitWith({ resources: { A: 1 }, pure: false }, produce, 3 * 1024 * 1024 + round * 4096, fill);
      const bad = await client.submitWith({ resources: { B: 1 }, pure: false }, check, made, fill, round % 4 === 0).result();
      problems.push(bad as number[]);
      made.release();
    }

    // Assess: all intact, and the consumer did receive into reused memory (heartbeats report it).
    expect(problems.filter((p) => p.length > 0)).toEqual([]);
    const reused = await waitFor(async () => {
      const b = (await client.schedulerInfo()).workers.find((w) => w.name === 'pool-b');
      return Number(b?.metrics.receiveReused ?? 0) > 0 ? Number(b?.metrics.receiveReused) : undefined;
    }, { what: 'pool-b to report reused receive memory' });
    expect(reused).toBeGreaterThan(0);
  }, 120_000);

  it('gives a pooled input back once its task finished and the result was released, without waiting for another task', async () => {
    // Prepare: a producer worker and a consumer worker; one 3 MiB result moved across.
    await using cluster = await LocalCluster.start({ nWorkers: 0 });
    await cluster.addWorker({ name: 'back-a', resources: { A: 1 } });
    await cluster.addWorker({ name: 'back-b', resources: { B: 1 } });
    await using client = await Client.connect(cluster);
    const produce = (n: number, fill: number): Uint8Array => new Uint8Array(n).fill(fill);
    const size = (b: Uint8Array): number => b.byteLength;
    const bytes = 3 * 1024 * 1024;
    const metrics = async () => (await client.schedulerInfo()).workers.find((w) => w.name === 'back-b')?.metrics;

    // Act: one transfer, then the result is released and nothing else runs on the consumer.
    const made = client.submitWith({ resources: { A: 1 }, pure: false }, produce, bytes, 5);
    expect(await client.submitWith({ resources: { B: 1 }, pure: false }, size, made).result()).toBe(bytes);
    made.release();

    // Assess: the consumer's thread let go of its view by itself, so the body is idle in the pool within a
    // heartbeat or two. It used to hold the view until its next pooled task (so a second transfer always
    // needed fresh memory) or until V8's memory reducer collected it 8-10 s later; the deadline is below that.
    const idle = await waitFor(async () => {
      const m = await metrics();
      return Number(m?.receiveIdle ?? 0) >= bytes ? Number(m?.receiveIdle) : undefined;
    }, { what: 'back-b to report the received body idle', timeoutMs: 6_000 });
    expect(idle).toBeGreaterThanOrEqual(bytes);
    // ...and the next transfer of that size lands in it.
    const again = client.submitWith({ resources: { A: 1 }, pure: false }, produce, bytes, 6);
    expect(await client.submitWith({ resources: { B: 1 }, pure: false }, size, again).result()).toBe(bytes);
    const reused = await waitFor(async () => {
      const m = await metrics();
      return Number(m?.receiveReused ?? 0) >= 1 ? Number(m?.receiveReused) : undefined;
    }, { what: 'back-b to report reused receive memory' });
    expect(reused).toBe(1);
  }, 120_000);
});
