import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { runRecc, startRecc } from '../../support/engine.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/** `recc scheduler` and `recc worker` exactly as pod specs run them. */
const dir = mkdtempSync(join(tmpdir(), 'recc-cli-test-'));
const token = 'cli-test-token-0123456789';
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${token}\n`);
const started: Array<ReturnType<typeof startRecc>> = [];

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await waitFor(() => started.every((p) => p.child.pid === undefined || !isAlive(p.child.pid)), { what: 'CLI processes to exit' });
  rmSync(dir, { recursive: true, force: true });
});

/** The first server-sent event of the live dashboard feed (its snapshot). */
async function firstLiveSnapshot(url: string, bearer: string): Promise<string> {
  const controller = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${bearer}` }, signal: controller.signal });
  expect(res.status).toBe(200);
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  while (!text.includes('\n\n')) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  controller.abort();
  return text;
}

describe('Command: recc scheduler / recc worker', () => {
  it('starts, serves /health and /api/status, registers a worker and stops gracefully on SIGTERM', async () => {
    // Prepare
    const scheduler = startRecc(['scheduler', '--port', '0', '--token-file', tokenFile, '--dashboard-port', '0']);
    started.push(scheduler);
    const ready = await scheduler.waitForEvent('scheduler.ready');
    expect(ready.address).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(ready.dashboardUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);

    // Act
    const worker = startRecc(['worker', String(ready.address), '--token-file', tokenFile, '--name', 'pod-w1', '--nthreads', '2', '--resource', 'GPU=1', '--memory-limit', '1']);
    started.push(worker);
    await worker.waitForEvent('worker.ready');
    const health = await fetch(`${ready.dashboardUrl}/health`);
    const status = (await (await fetch(`${ready.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as Record<string, unknown>;
    const anonymousStatus = await fetch(`${ready.dashboardUrl}/api/status`);
    const anonymous = await fetch(`${ready.dashboardUrl}/`);
    const page = await (await fetch(`${ready.dashboardUrl}/`, { headers: { authorization: `Bearer ${token}` } })).text();
    const live = await firstLiveSnapshot(`${ready.dashboardUrl}/api/live`, token);

    // Assess
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: 'ok' });
    expect(status).toMatchObject({ workers: 1, workerNames: ['pod-w1'], tasksProcessing: 0, tasksQueued: 0, clientsConnected: 0, lastActivityAt: null });
    expect(typeof status.uptimeSeconds).toBe('number');
    expect(anonymous.status).toBe(401);
    expect(anonymousStatus.status).toBe(401);
    expect(page).toContain('recc cluster dashboard');
    expect(live).toContain('pod-w1');

    worker.child.kill('SIGTERM');
    expect(await worker.exited).toBe(0);
    await waitFor(async () => ((await (await fetch(`${ready.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${token}` } })).json()) as { workers: number }).workers === 0, { what: 'the worker to be removed' });
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
    const allLogs = JSON.stringify([...scheduler.lines, ...worker.lines]);
    expect(allLogs).not.toContain(token);
    expect(worker.lines.find((l) => l.event === 'worker.stopping')).toMatchObject({ reason: 'SIGTERM' });
  });

  it('runs pod-style workers on all interfaces; a task fetches its input from the other worker', async () => {
    // Prepare: the scheduler on 0.0.0.0 (as in a pod), two workers with different resources
    const scheduler = startRecc(['scheduler', '--port', '0', '--host', '0.0.0.0', '--token-file', tokenFile]);
    started.push(scheduler);
    const ready = await scheduler.waitForEvent('scheduler.ready');
    const a = startRecc(['worker', String(ready.address), '--host', '0.0.0.0', '--name', 'wa', '--resource', 'A=1'], { RECC_SCHEDULER_TOKEN: token });
    const b = startRecc(['worker', String(ready.address), '--host', '0.0.0.0', '--name', 'wb', '--resource', 'B=1'], { RECC_SCHEDULER_TOKEN: token });
    started.push(a, b);
    await a.waitForEvent('worker.ready');
    await b.waitForEvent('worker.ready');
    await using client = await Client.connect(String(ready.address), { token });

    // Act: produce 3 MB on A, consume it on B (a worker-to-worker transfer)
    const produced = client.submitWith({ resources: { A: 1 } }, (n: number) => new Uint8Array(n).fill(7), 3_000_000);
    const consumed = client.submitWith({ resources: { B: 1 } }, (bytes: Uint8Array) => ({ pid: process.pid, sum: bytes.reduce((s, x) => s + x, 0) }), produced);
    const result = await consumed.result();

    // Assess
    expect(result).toEqual({ pid: b.child.pid, sum: 21_000_000 });
    const info = await client.schedulerInfo();
    expect(info.workers.map((w) => w.address).every((addr) => /^tcp:\/\/127\.0\.0\.1:\d+$/.test(addr))).toBe(true);
    for (const p of [a, b, scheduler]) p.child.kill('SIGTERM');
    expect(await Promise.all([a.exited, b.exited, scheduler.exited])).toEqual([0, 0, 0]);
  });

  it('exits non-zero with a JSON error line when the port is in use', async () => {
    const blocker = createServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as { port: number }).port;
    try {
      const res = await runRecc(['scheduler', '--port', String(port), '--token-file', tokenFile]);
      expect(res.code).toBe(1);
      expect(res.lines.find((l) => l.event === 'scheduler.failed')).toMatchObject({ level: 'error', error: `port ${port} on 127.0.0.1 is already in use` });
    } finally {
      blocker.close();
    }
  });

  it('exits non-zero with a JSON error line when the inherited listener descriptor is not a listening socket', async () => {
    // Descriptor 9 is not open in the child (runRecc passes stdio only).
    const res = await runRecc(['scheduler', '--port', '0', '--listen-fd', '9', '--token-file', tokenFile]);
    expect(res.code).toBe(1);
    expect(String(res.lines.find((l) => l.event === 'scheduler.failed')?.error)).toMatch(/^cannot serve the inherited descriptor 9: it is not an open, listening TCP socket \(E[A-Z]+\)$/);
    const bad = await runRecc(['scheduler', '--port', '0', '--listen-fd', '1', '--token-file', tokenFile]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('listen-fd: expected an inherited descriptor number (3 or more), got "1"');
  });

  it('exits non-zero with a JSON error line when the token file cannot be read', async () => {
    const res = await runRecc(['scheduler', '--port', '0', '--token-file', join(dir, 'missing')]);
    expect(res.code).toBe(1);
    expect(String(res.lines.find((l) => l.event === 'scheduler.failed')?.error)).toMatch(/cannot read the token file .*missing: ENOENT/);
  });

  it('makes a worker with the wrong token exit non-zero with a clear JSON error', async () => {
    const scheduler = startRecc(['scheduler', '--port', '0', '--token-file', tokenFile]);
    started.push(scheduler);
    const ready = await scheduler.waitForEvent('scheduler.ready');
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, 'not-the-token');
    const res = await runRecc(['worker', String(ready.address), '--token-file', wrong]);
    expect(res.code).toBe(1);
    expect(res.lines.find((l) => l.event === 'worker.rejected')).toMatchObject({ level: 'error', error: `${String(ready.address)} rejected the token` });
    expect(res.stdout).not.toContain('not-the-token');
    scheduler.child.kill('SIGTERM');
    expect(await scheduler.exited).toBe(0);
  });

  it('lists every invalid option and exits 2', async () => {
    const res = await runRecc(['worker', 'http://nope', '--nthreads', '0', '--resource', 'GPU', '--memory-limit', '-1']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('scheduler-address: expected tcp://host:port or tls://host:port, got "http://nope"');
    expect(res.stderr).toContain('nthreads: expected an integer from 1 to 1024');
    expect(res.stderr).toContain('resource: expected NAME=N, got "GPU"');
    expect(res.stderr).toContain('memory-limit: expected a positive number of GiB');
    expect(res.stderr).toContain('token-file: is required');
  });
});
