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
    const began = Date.now();
    await expect(connectToScheduler(options, 0, undefined)).rejects.toBeInstanceOf(WorkerStartError);
    // It gives up only at the deadline: the last wait is cut short to end there, not skipped.
    expect(Date.now() - began).toBeGreaterThanOrEqual(400);
    expect(delays.length).toBeGreaterThanOrEqual(3);
    expect(new Set(delays.slice(0, -1))).toEqual(new Set([STARTUP_POLL_BACKOFF.initialMs]));
    expect(delays.at(-1)!).toBeLessThanOrEqual(STARTUP_POLL_BACKOFF.initialMs);
  });

  it('backs off with the given policy once the startup window is over', async () => {
    const { options, delays } = optionsFor(await closedPort(), 5_000);
    const began = Date.now();
    await expect(connectToScheduler(options, 0, undefined, { deadlineMs: 700, policy: CONNECT_BACKOFF, startupPollMs: 100, event: 'worker.connect-retry' })).rejects.toBeInstanceOf(WorkerStartError);
    expect(Date.now() - began).toBeGreaterThanOrEqual(700);
    // Polls (the last one may be cut short to end the 100 ms window), then backoffs of at least CONNECT_BACKOFF's first half-delay.
    // (The last backoff may be cut short too, to end at the 700 ms deadline.)
    const firstBackoff = delays.findIndex((d) => d > STARTUP_POLL_BACKOFF.initialMs);
    const polls = delays.slice(0, firstBackoff);
    expect(polls.length).toBeGreaterThanOrEqual(1);
    expect(firstBackoff).toBeGreaterThan(0);
    for (const d of polls) expect(d).toBeLessThanOrEqual(STARTUP_POLL_BACKOFF.initialMs);
    // The backoff starts at CONNECT_BACKOFF's first delay (equal jitter: at least half of it).
    expect(delays[firstBackoff]!).toBeGreaterThanOrEqual(CONNECT_BACKOFF.initialMs / 2);
  });
});
