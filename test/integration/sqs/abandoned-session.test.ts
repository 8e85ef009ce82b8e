import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import type { SqsTransport } from '../../../client/sqs-transport.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * A client that dies without `close` leaves a session in the bridge holding
 * its results on the scheduler. Once the session has been silent and its reply
 * queue gone for the grace period (RECC_SQS_SESSION_GRACE_SECONDS, 3 s here),
 * the bridge ends it and the scheduler forgets what it held; a session that
 * keeps its reply queue is left alone.
 */
describe('SQS route: a session whose client died without closing', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 1, bridge: { sessionGraceMs: 3_000 } });
  });

  afterAll(async () => {
    await cluster?.close();
    await world?.stop();
  });

  it('is ended after its reply queue has been gone for the grace period, releasing its results; a live idle session stays', async () => {
    // Prepare: two SQS clients holding results, and a TCP client to look at the scheduler
    const dying = await Client.connect(cluster, { transport: 'sqs', onNotice: () => undefined });
    const alive = await Client.connect(cluster, { transport: 'sqs', onNotice: () => undefined });
    const observer = await Client.connect(cluster);
    try {
      const held = dying.map((x: number) => x * 3, Array.from({ length: 50 }, (_, i) => i));
      const kept = alive.map((x: number) => x * 5, Array.from({ length: 20 }, (_, i) => i));
      expect(await dying.gather(held)).toEqual(Array.from({ length: 50 }, (_, i) => i * 3));
      expect(await alive.gather(kept)).toEqual(Array.from({ length: 20 }, (_, i) => i * 5));
      const heldKeys = held.map((f) => f.key);
      const keptKeys = kept.map((f) => f.key);
      expect(new Set(await observer.taskStates(heldKeys))).toEqual(new Set(['memory']));

      // Act: the first client "crashes": no close envelope; its reply queue is deleted on the way out
      const transport = (dying as unknown as { transport: SqsTransport }).transport;
      await (transport as unknown as { shutdown(graceful: boolean): Promise<void> }).shutdown(false);

      // Assess: the bridge ends that session (logged), and the scheduler forgets its results
      await waitFor(() => cluster.schedulerLines.some((l) => l.includes('"sqs-bridge.session-ended"')), { timeoutMs: 60_000, what: 'the abandoned session to be ended' });
      await waitFor(async () => ((await observer.taskStates(heldKeys)).every((s) => s === 'forgotten') ? true : undefined), { timeoutMs: 30_000, what: 'its results released' });
      const ended = cluster.schedulerLines.filter((l) => l.includes('"sqs-bridge.session-ended"'));
      expect(ended).toHaveLength(1);
      // The silent but living session (its reply queue is there) keeps its results and still answers.
      expect(new Set(await observer.taskStates(keptKeys))).toEqual(new Set(['memory']));
      expect(await alive.gather(kept)).toEqual(Array.from({ length: 20 }, (_, i) => i * 5));
    } finally {
      await observer.close();
      await alive.close();
    }
  });
});
