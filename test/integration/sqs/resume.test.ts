import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { SqsTransport } from '../../../client/sqs-transport.ts';
import type { SchedulerEvent } from '../../../client/transport.ts';
import { decodeValue } from '../../../comm/payload.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * Results are kept until released: a client that died after its results
 * were sent (its reply queue went with it) reconnects with the same session
 * id and gets every result it had not released.
 */
describe('SQS route: a client reconnecting with its session', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 1 });
  });

  afterAll(async () => {
    await cluster?.close();
    await world?.stop();
  });

  it('gets the unreleased results of the session again, and nothing it released', async () => {
    // Prepare: a client computes 100 results and keeps them, releases 10 others, then dies without closing
    const session = 'sresumetest1';
    const first = await Client.connect(cluster, { transport: 'sqs', session, onNotice: () => undefined });
    const kept = first.map((x: number) => x * 2, Array.from({ length: 100 }, (_, i) => i));
    const dropped = first.map((x: number) => x * 2, Array.from({ length: 10 }, (_, i) => 1000 + i));
    expect(await first.gather(kept)).toEqual(Array.from({ length: 100 }, (_, i) => i * 2));
    await first.gather(dropped);
    for (const f of dropped) f.release();
    const transport = (first as unknown as { transport: SqsTransport }).transport;
    // Releases leave on the next turn; a request after them is answered only once the bridge handled them (one session, in order).
    await new Promise((r) => setImmediate(r));
    await first.schedulerInfo();
    // "Crash": stop without the close envelope; the reply queue (and anything in it) is deleted.
    await (transport as unknown as { shutdown(graceful: boolean): Promise<void> }).shutdown(false);

    // Act: the same session connects again from a new process-like transport
    const events: SchedulerEvent[] = [];
    const resumed = await SqsTransport.connect({ route: world.route, credentials: world.route.credentials!, session, onNotice: () => undefined });
    const results = new Map<string, unknown>();
    resumed.onMessage((msg, bufs) => {
      events.push(msg);
      if (msg.op !== 'in-memory') return;
      msg.k.forEach((k, i) => {
        const d = msg.di[i] as number;
        if (d >= 0 && bufs?.[d]) results.set(k, decodeValue(bufs[d] as Buffer));
      });
    });
    try {
      await waitFor(() => results.size >= 100, { timeoutMs: 30_000, what: 'the 100 kept results' });

      // Assess: exactly the kept results, with their values
      expect([...results.keys()].sort()).toEqual(kept.map((f) => f.key).sort());
      expect(kept.every((f, i) => results.get(f.key) === i * 2)).toBe(true);
      expect(dropped.some((f) => results.has(f.key))).toBe(false);
    } finally {
      await resumed.close();
    }
  });
});
