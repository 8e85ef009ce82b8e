import { afterEach, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { SchedulerServer } from '../../../scheduler/server.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { startFakeWorkers, type FakeWorkerPool } from '../../../bench/recc/fake-workers.ts';

// The bench's 200-worker measure relies on these fakes speaking the real
// worker protocol; this runs them against a real scheduler (in-process, on
// 127.0.0.1) so a protocol change shows up here rather than as a bench hang.
describe('Function: startFakeWorkers', () => {
  const open: Array<{ close(): Promise<void> }> = [];
  afterEach(async () => {
    for (const o of open.reverse()) await o.close();
    open.length = 0;
  });

  it('registers every fake and answers each task with its first argument when a client maps over them', async () => {
    // Prepare
    const token = 'bench-fake-token';
    const server = new SchedulerServer({ host: '127.0.0.1', port: 0, token, logger: silentLogger });
    await server.start();
    open.push(server);
    const fakes: FakeWorkerPool = await startFakeWorkers({ address: server.address, token, count: 5 });
    open.push(fakes);
    const client = await Client.connect(server.address, { token });
    open.push(client);

    // Act
    const info = await client.schedulerInfo();
    const results = await client.gather(client.map((x: number) => x, Array.from({ length: 300 }, (_, i) => i), { pure: false }));

    // Assess
    expect(info.workers.map((w) => w.name).sort()).toEqual(['fake-0', 'fake-1', 'fake-2', 'fake-3', 'fake-4']);
    expect(results).toEqual(Array.from({ length: 300 }, (_, i) => i));
    expect(fakes.completed()).toBe(300);
  });

  it('refuses to start when the token is wrong', async () => {
    const server = new SchedulerServer({ host: '127.0.0.1', port: 0, token: 'right', logger: silentLogger });
    await server.start();
    open.push(server);
    await expect(startFakeWorkers({ address: server.address, token: 'wrong', count: 1 })).rejects.toThrow(/token/);
  });
});
