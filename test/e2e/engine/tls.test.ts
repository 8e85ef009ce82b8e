import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { waitForExit } from '../../support/engine.ts';

describe('Class: LocalCluster (tls: true)', () => {
  it('serves the scheduler over TLS with a fresh CA; clients verify it and run work', async () => {
    // Prepare
    const cluster = await LocalCluster.start({ nWorkers: 1, tls: true });
    const pids = cluster.pids;
    try {
      expect(cluster.schedulerAddress).toMatch(/^tls:\/\/127\.0\.0\.1:\d+$/);
      expect(cluster.caPem).toContain('BEGIN CERTIFICATE');

      // Act
      await using client = await Client.connect(cluster);
      const results = await client.gather(client.map((x: number) => new Uint8Array(100_000).fill(x), [1, 2, 3]));

      // Assess
      expect(results.map((r) => [r.length, r[0], r[99_999]])).toEqual([
        [100_000, 1, 1],
        [100_000, 2, 2],
        [100_000, 3, 3],
      ]);
      await expect(Client.connect(cluster.schedulerAddress, { token: cluster.token })).rejects.toThrow(/cannot connect|certificate/i);
    } finally {
      await cluster.close();
      await waitForExit(pids);
    }
  });
});
