import { describe, expect, it } from 'vitest';
import { Client, KilledWorkerError, LocalCluster } from '../../../client/index.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 18 defect 4: a task allocating off-heap Buffers grew a worker far past
 * its memory limit, the dead worker was not replaced and the client waited
 * forever. Each worker here runs under `prlimit --as` (2 GiB of address space,
 * measured: plain Node plus a thread starts in it, Buffers fail at ~1 GiB),
 * so even if enforcement regressed this test could not eat the machine.
 */
const ADDRESS_SPACE_CAP = `--as=${2 * 1024 ** 3}`;
const DEADLINE_MS = 120_000;

describe('Memory limit', () => {
  it('kills a worker whose Buffers pass 95 % of a 256 MiB limit, restarts it, and errs the task and its dependent with KilledWorkerError after 3 deaths while other tasks complete', async () => {
    // Prepare: 2 workers limited to 256 MiB, each capped by the kernel as a safety net
    await using cluster = await LocalCluster.start({ nWorkers: 2, memoryLimitGiB: 0.25, workerLauncher: ['prlimit', ADDRESS_SPACE_CAP, '--'] });
    await using client = await Client.connect(cluster);
    const firstPids = cluster.workerProcesses.map((w) => w.pid);

    // Act: a task that keeps 8 MiB filled Buffers (filled, so the pages are resident) until something stops it,
    // and ordinary tasks beside it
    const hog = client.submit(() => {
      const kept: Buffer[] = [];
      for (;;) kept.push(Buffer.alloc(8 * 1024 * 1024, 1));
    });
    const dependent = client.submit((bytes: unknown) => (bytes as unknown[]).length, hog);
    const others = client.map(
      (i: number) => {
        const end = Date.now() + 20;
        while (Date.now() < end);
        return i * 3;
      },
      Array.from({ length: 60 }, (_, i) => i),
    );
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      hog.result().then(
        (v) => ({ kind: 'value' as const, v }),
        (e: unknown) => ({ kind: 'error' as const, e }),
      ),
      new Promise<{ kind: 'hang' }>((resolve) => (timer = setTimeout(() => resolve({ kind: 'hang' }), DEADLINE_MS))),
    ]);
    clearTimeout(timer);
    const elapsedMs = Date.now() - started;

    // Assess: the client got KilledWorkerError naming the task and the workers, in time
    expect(outcome.kind).toBe('error');
    const error = (outcome as { e: unknown }).e;
    expect(error).toBeInstanceOf(KilledWorkerError);
    expect((error as Error).message).toContain(hog.key);
    expect((error as Error).message).toMatch(/processing on 3 workers that died/);
    expect((error as Error).message).toMatch(/local-worker-\d/);
    expect(elapsedMs).toBeLessThan(DEADLINE_MS);
    // its dependent fails with it, blaming it
    const dependentError = await dependent.result().then(() => undefined, (e: unknown) => e);
    expect(dependentError).toBeInstanceOf(KilledWorkerError);
    expect(dependentError).toMatchObject({ blame: hog.key });
    // the other tasks completed
    expect(await client.gather(others)).toEqual(Array.from({ length: 60 }, (_, i) => i * 3));
    // the workers were killed by the memory manager (not by the kernel cap) and replaced: 2 live workers, new pids
    const live = await waitFor(() => (cluster.workerProcesses.length === 2 ? cluster.workerProcesses : undefined), { what: '2 live workers after the restarts' });
    expect(live.map((w) => w.pid).filter((p) => firstPids.includes(p)).length).toBeLessThan(2);
    const terminations = cluster.allLogs().filter((l) => l.includes('"event":"worker.memory-terminate"'));
    expect(terminations.length).toBeGreaterThanOrEqual(3);
    await waitFor(async () => (await client.schedulerInfo()).workers.length === 2, { what: 'the scheduler to see 2 workers again' });
    // no worker outgrew the limit by much before it was ended (sampling every 50 ms)
    for (const line of terminations) expect(JSON.parse(line).rss).toBeLessThan(0.25 * 1024 ** 3 * 1.5);
    process.stdout.write(`KilledWorkerError after ${elapsedMs} ms; terminations at RSS ${terminations.map((l) => Math.round(JSON.parse(l).rss / 2 ** 20)).join(', ')} MiB\n`);
  }, DEADLINE_MS + 60_000);
});
