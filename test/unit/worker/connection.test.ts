import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../../shared/core/logger.ts';
import { CONNECT_BACKOFF, STARTUP_POLL_BACKOFF } from '../../../shared/core/retry.ts';
import { connectToScheduler } from '../../../worker/connection.ts';
import { WorkerStartError } from '../../../worker/errors.ts';
import { compileWorkerOptions } from '../../../worker/options.ts';

/** A loopback port nobody listens on (bound, then closed), so every connect is refused at once. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Worker options whose debug lines (the connect retries) are kept. */
function optionsFor(port: number, connectTimeoutMs: number) {
  const delays: number[] = [];
  const logger = createLogger({
    level: 'debug',
    write: (line: string) => {
      const rec = JSON.parse(line) as { event?: string; delayMs?: number };
      if (rec.event === 'worker.connect-retry' && typeof rec.delayMs === 'number') delays.push(rec.delayMs);
    },
  });
  return { options: compileWorkerOptions({ schedulerAddress: `tcp://127.0.0.1:${port}`, token: 't', name: 'w', logger, connectTimeoutMs }), delays };
}

describe('Function: connectToScheduler (first connect while the scheduler starts)', () => {
  it('polls every 25 ms while the scheduler may be starting alongside, then gives up with WorkerStartError', async () => {
    /* Backing off from the first refusal (50-100 ms, then 100-200 ms) made every cluster start
       wait for a worker's next attempt after its scheduler was already listening. */
    const { options, delays } = optionsFor(await closedPort(), 400);
    await expect(connectToScheduler(options, 0, undefined)).rejects.toBeInstanceOf(WorkerStartError);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(new Set(delays)).toEqual(new Set([STARTUP_POLL_BACKOFF.initialMs]));
  });

  it('backs off with the given policy once the startup window is over', async () => {
    const { options, delays } = optionsFor(await closedPort(), 5_000);
    await expect(connectToScheduler(options, 0, undefined, { deadlineMs: 700, policy: CONNECT_BACKOFF, startupPollMs: 100, event: 'worker.connect-retry' })).rejects.toBeInstanceOf(WorkerStartError);
    const polls = delays.filter((d) => d === STARTUP_POLL_BACKOFF.initialMs);
    const backoffs = delays.filter((d) => d !== STARTUP_POLL_BACKOFF.initialMs);
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(backoffs.length).toBeGreaterThanOrEqual(1);
    // Polls come first; the backoff starts at CONNECT_BACKOFF's first delay (equal jitter: at least half of it).
    expect(delays.indexOf(backoffs[0]!)).toBe(polls.length);
    expect(backoffs[0]!).toBeGreaterThanOrEqual(CONNECT_BACKOFF.initialMs / 2);
  });
});
