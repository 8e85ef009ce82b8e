import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { startRecc } from '../../support/engine.ts';
import { freePort } from '../../support/ports.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/**
 * Issue 17 #8: a worker pod is ready only once its worker has registered with
 * the scheduler. `recc worker --ready-file F` (what the pod's readiness probe
 * tests) writes F after registering, not before, and removes it when it stops.
 */
const dir = mkdtempSync(join(tmpdir(), 'recc-ready-file-'));
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, 'ready-file-token-0123456789\n');
const started: Array<ReturnType<typeof startRecc>> = [];

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await waitFor(() => started.every((p) => p.child.pid === undefined || !isAlive(p.child.pid)), { what: 'processes to exit' });
  rmSync(dir, { recursive: true, force: true });
});

describe('recc worker --ready-file', () => {
  it('appears only after the worker registered and is gone after it stops', async () => {
    // Prepare: the worker starts first, against a port that accepts and hangs up (no scheduler yet).
    const readyFile = join(dir, 'ready');
    const port = await freePort();
    let attempts = 0;
    const hangUp = createServer((socket) => {
      attempts += 1;
      socket.destroy();
    });
    await new Promise<void>((resolve) => hangUp.listen(port, '127.0.0.1', resolve));
    const worker = startRecc(['worker', `tcp://127.0.0.1:${port}`, '--token-file', tokenFile, '--name', 'w-ready', '--ready-file', readyFile]);
    started.push(worker);
    await waitFor(() => attempts >= 2, { what: 'the worker to try the scheduler twice' });
    expect(existsSync(readyFile)).toBe(false);
    await new Promise<void>((resolve) => hangUp.close(() => resolve()));
    // Act: the scheduler comes up on that port.
    const scheduler = startRecc(['scheduler', '--port', String(port), '--token-file', tokenFile]);
    started.push(scheduler);
    await worker.waitForEvent('worker.ready');
    // Assess
    await waitFor(() => existsSync(readyFile), { what: 'the ready file' });
    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    expect(existsSync(readyFile)).toBe(false);
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
  });
});
