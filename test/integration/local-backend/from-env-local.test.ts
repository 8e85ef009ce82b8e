import { describe, expect, it } from 'vitest';
import { Client, clusterFromEnv, LocalCluster } from '../../../client/index.ts';

describe('Function: clusterFromEnv', () => {
  it('starts an in-process LocalCluster with N workers for RECC_CLUSTER=local:N and stops it on close', async () => {
    // Act
    const cluster = await clusterFromEnv({ RECC_CLUSTER: 'local:2' });
    let workers: number;
    let result: number[];
    const client = await Client.connect(cluster);
    try {
      workers = (await client.schedulerInfo()).workers.length;
      result = await client.gather(client.map((x: number) => x + 1, [1, 2, 3]));
    } finally {
      await client.close();
      await cluster.close();
    }

    // Assess
    expect(cluster).toBeInstanceOf(LocalCluster);
    expect(workers).toBe(2);
    expect(result).toEqual([2, 3, 4]);
  });
});
