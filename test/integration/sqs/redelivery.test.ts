import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, delayed } from '../../../client/index.ts';
import type { SqsTransport } from '../../../client/sqs-transport.ts';
import { startRedeliveryProxy, type RedeliveryProxy } from './support/redelivery-proxy.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * At-least-once delivery with exactly-once effect: a proxy in front of the
 * emulator delivers every message twice (request and reply queues) and holds
 * some back for seconds; results stay exactly right.
 */
describe('SQS route: every message delivered twice, some late', () => {
  let world: SqsWorld;
  let proxy: RedeliveryProxy;
  let cluster: BridgedCluster;
  let client: Client;

  beforeAll(async () => {
    world = await startSqsWorld();
    proxy = await startRedeliveryProxy(world.endpoint, { delayEvery: 4, delayMs: 2_000 });
    // Scheduler and client both talk to SQS through the proxy (S3 directly).
    world.route.endpoint = proxy.endpoint;
    cluster = await BridgedCluster.start(world, { nWorkers: 2 });
    client = await Client.connect(cluster, { transport: 'sqs', onNotice: () => undefined });
  });

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await proxy?.stop();
    await world?.stop();
  });

  it('maps, computes a graph and answers requests with exact results', async () => {
    // Act: several submissions in a row (each its own envelope), a graph, releases in between
    const rounds = await Promise.all(
      [0, 1, 2].map(async (r) => {
        const items = Array.from({ length: 200 }, (_, i) => r * 1000 + i);
        return { items, out: await client.gather(client.map((x: number) => x * 7, items)) };
      }),
    );
    const inc = delayed((x: number) => x + 1);
    const add = delayed((a: number, b: number) => a + b);
    const graph = add(inc(1), add(inc(2), inc(3)));
    const graphResult = await client.get(graph);
    const info = await client.schedulerInfo();

    // Assess
    for (const { items, out } of rounds) expect(out).toEqual(items.map((x) => x * 7));
    expect(graphResult).toBe(2 + 3 + 4);
    expect(info.workers).toHaveLength(2);
    expect(proxy.stats.duplicated).toBeGreaterThan(5);
    expect(proxy.stats.delayed).toBeGreaterThan(0);
    const transport = (client as unknown as { transport: SqsTransport }).transport;
    expect(transport.duplicatesDropped).toBeGreaterThan(0);
    const duplicatesAtBridge = cluster.schedulerLines.filter((l) => l.includes('"sqs-bridge.duplicate"')).length;
    expect(duplicatesAtBridge).toBeGreaterThan(0);
  });
});
