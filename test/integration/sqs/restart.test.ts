import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, asCompleted } from '../../../client/index.ts';
import type { SchedulerEvent } from '../../../client/transport.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * Work submitted over SQS survives the scheduler: kill -9 it in the middle
 * of a 500-task job, start it again (as the local backend or a Deployment
 * would), and the job completes with every result exactly once. The client
 * only sees a pause.
 */
describe('SQS route: scheduler kill -9 during a job', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;
  let client: Client;
  const notices: string[] = [];

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 2 });
    client = await Client.connect(cluster, { transport: 'sqs', onNotice: (l) => notices.push(l) });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await world?.stop();
  });

  it('completes a 500-task job after the scheduler is killed and respawned, no result lost or duplicated', async () => {
    // Prepare: count every result the transport hands the client, per key
    const transport = (client as unknown as { transport: { handler: (m: SchedulerEvent, b: Buffer[] | undefined) => void } }).transport;
    const deliver = transport.handler;
    const deliveries = new Map<string, number>();
    transport.handler = (msg, bufs) => {
      if (msg.op === 'in-memory') for (const k of msg.k) deliveries.set(k, (deliveries.get(k) ?? 0) + 1);
      deliver(msg, bufs);
    };
    const items = Array.from({ length: 500 }, (_, i) => i);

    // Act: a job of 500 tasks of ~20 ms on 2 workers; kill -9 the scheduler once some are done
    const futures = client.map(async (x: number) => {
      await new Promise((r) => setTimeout(r, 20));
      return { x, y: x * 3 + 1 };
    }, items);
    await waitFor(() => futures.filter((f) => f.status === 'finished').length >= 40, { what: 'the first results' });
    const doneBeforeKill = futures.filter((f) => f.status === 'finished').length;
    await cluster.killScheduler();
    await cluster.restartScheduler();
    const seen: string[] = [];
    for await (const f of asCompleted(futures)) seen.push(f.key);
    const results = await client.gather(futures);

    // Assess: every result right, each future completed once
    expect(doneBeforeKill).toBeLessThan(500);
    expect(results).toEqual(items.map((x) => ({ x, y: x * 3 + 1 })));
    expect(seen).toHaveLength(500);
    expect(new Set(seen).size).toBe(500);
    expect(futures.every((f) => deliveries.has(f.key))).toBe(true);
    const recovered = cluster.schedulerLines.map((l) => (l.includes('"sqs-bridge.recovered"') ? (JSON.parse(l) as { pending: number }) : undefined)).find(Boolean);
    expect(recovered?.pending).toBeGreaterThan(0);
    expect(notices.some((l) => /the scheduler restarted; recomputing \d+ pending result/.test(l))).toBe(true);
    // A batch sent just before the kill, before it was recorded, may arrive twice: the client settles each key once (asserted above).
  });

  it('keeps serving the same session after the restart', async () => {
    expect(await client.gather(client.map((x: number) => x - 1, [1, 2, 3]))).toEqual([0, 1, 2]);
    expect((await client.schedulerInfo()).workers).toHaveLength(2);
  });
});
