import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tableFromArrays } from 'apache-arrow';
import { afterAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { freePorts } from '../../../comm/free-ports.ts';
import { startRecc } from '../../support/engine.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/**
 * Issue 19 #4: workers outlive their scheduler. `recc scheduler` and
 * `recc worker` run as pods do; the scheduler is killed with SIGKILL and
 * started again on the same port.
 */
const dir = mkdtempSync(join(tmpdir(), 'recc-reconnect-test-'));
const token = 'reconnect-test-token-0123456789';
const tokenFile = join(dir, 'token');
writeFileSync(tokenFile, `${token}\n`);
const started: Array<ReturnType<typeof startRecc>> = [];

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL');
  await waitFor(() => started.every((p) => p.child.pid === undefined || !isAlive(p.child.pid)), { what: 'test processes to exit' });
  rmSync(dir, { recursive: true, force: true });
});

function start(args: string[]): ReturnType<typeof startRecc> {
  const p = startRecc(args);
  started.push(p);
  return p;
}

async function startScheduler(port: number): Promise<{ proc: ReturnType<typeof startRecc>; readyAt: number }> {
  const proc = start(['scheduler', '--port', String(port), '--token-file', tokenFile]);
  await proc.waitForEvent('scheduler.ready');
  return { proc, readyAt: Date.now() };
}

async function killHard(proc: ReturnType<typeof startRecc>): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

describe('Worker reconnect (recc worker --reconnect-timeout)', () => {
  it('rejoins a scheduler restarted on the same port within 5 s; a new job runs on the same worker processes and reuses the results they hold', async () => {
    // Prepare: a scheduler, two workers, one finished job whose results the workers hold.
    const [port] = await freePorts(1);
    const address = `tcp://127.0.0.1:${port}`;
    const first = await startScheduler(port!);
    const workers = ['rw1', 'rw2'].map((name) => start(['worker', address, '--token-file', tokenFile, '--name', name, '--reconnect-timeout', '60']));
    await Promise.all(workers.map((w) => w.waitForEvent('worker.ready')));
    const pids = workers.map((w) => w.child.pid);
    const client1 = await Client.connect(address, { token });
    const double = (x: number) => x * 2;
    const items = Array.from({ length: 40 }, (_, i) => i);
    const kept = client1.map(double, items);
    expect(await client1.gather(kept)).toEqual(items.map((x) => x * 2));
    const keys = kept.map((f) => f.key);

    // Act: kill -9 the scheduler while the client still holds the futures (the workers keep the results).
    await killHard(first.proc);
    await Promise.all(workers.map((w) => w.waitForEvent('worker.reconnecting')));
    await client1.close().catch(() => undefined);
    const second = await startScheduler(port!);
    const client2 = await Client.connect(address, { token });
    const rejoined = await waitFor(async () => {
      const info = await client2.schedulerInfo();
      return info.workers.length === 2 ? info : undefined;
    }, { timeoutMs: 5_000, intervalMs: 50, what: 'both workers to rejoin within 5 s' });
    const rejoinMs = Date.now() - second.readyAt;

    // Assess: the same processes, registered again; their results were offered to the new scheduler.
    expect(rejoinMs).toBeLessThan(5_000);
    expect(rejoined.workers.map((w) => w.pid).sort()).toEqual([...pids].sort());
    expect(workers.every((w) => w.child.pid !== undefined && isAlive(w.child.pid))).toBe(true);
    /* The scheduler can list a worker before the worker's own `worker.reconnected` line (logged just after its
       registration is acknowledged) has crossed the pipe to this test, so wait for the line itself. */
    const reconnected = await Promise.all(workers.map((w) => w.waitForEvent('worker.reconnected', 10_000)));
    expect(reconnected.every((l) => l !== undefined)).toBe(true);
    expect(reconnected.reduce((n, l) => n + Number(l!.heldResults), 0)).toBe(items.length);

    // A new job runs on them.
    const fresh = await client2.gather(client2.map((x: number) => x + 1000, items));
    expect(fresh).toEqual(items.map((x) => x + 1000));
    // The old job submitted again (same keys): its results come from the workers, nothing is computed.
    const again = client2.map(double, items);
    expect(again.map((f) => f.key)).toEqual(keys);
    expect(await client2.gather(again)).toEqual(items.map((x) => x * 2));
    const story = await client2.story(keys[7]!);
    expect(story.map((e) => `${e.from}>${e.to}`)).toEqual(['released>waiting', 'waiting>memory']);
    expect(story[1]!.stimulusId).toMatch(/^update-graph-/);
    expect(workers.every((w) => w.child.exitCode === null)).toBe(true);

    await client2.close();
    second.proc.child.kill('SIGTERM');
    // A graceful stop of the scheduler asks workers to close: they do, with 0.
    expect(await second.proc.exited).toBe(0);
    for (const w of workers) expect(await w.exited).toBe(0);
  });

  it('runs the same shuffle again after the scheduler restarts: workers that remember its forgotten run take the new one', async () => {
    /* Workers keep, per shuffle id, the runs they were told to forget and refuse their shards. A restarted
       scheduler numbers runs from its start time, so the same graph (same shuffle id) computed again after the
       restart is not refused as the old run 1. */
    const [port] = await freePorts(1);
    const address = `tcp://127.0.0.1:${port}`;
    const first = await startScheduler(port!);
    const workers = ['sw1', 'sw2'].map((name) => start(['worker', address, '--token-file', tokenFile, '--name', name, '--reconnect-timeout', '60']));
    await Promise.all(workers.map((w) => w.waitForEvent('worker.ready')));
    const rows = Array.from({ length: 60 }, (_, i) => i);
    const table = tableFromArrays({ key: rows.map((i) => `k${i % 7}`), value: Float64Array.from(rows) });
    const perKey = (g: import('apache-arrow').Table, ctx: { arrow: typeof import('apache-arrow'); key?: Record<string, unknown> }) => {
      let total = 0;
      for (let i = 0; i < g.numRows; i++) total += g.getChild('value')?.get(i) as number;
      return new ctx.arrow.Table({ key: ctx.arrow.vectorFromArray([String(ctx.key?.key)]), total: ctx.arrow.vectorFromArray([total], new ctx.arrow.Float64()) });
    };
    const sums = (t: import('apache-arrow').Table) => Object.fromEntries(t.toArray().map((r) => [String(r.key), Number(r.total)]));
    const want = Object.fromEntries(Array.from({ length: 7 }, (_, k) => [`k${k}`, rows.filter((i) => i % 7 === k).reduce((a, b) => a + b, 0)]));
    const client1 = await Client.connect(address, { token });
    expect(sums(await client1.fromTable(table, { npartitions: 3 }).groupBy('key').apply(perKey).toTable())).toEqual(want);
    await client1.close();

    await killHard(first.proc);
    await Promise.all(workers.map((w) => w.waitForEvent('worker.reconnecting')));
    await startScheduler(port!);
    const client2 = await Client.connect(address, { token });
    await waitFor(async () => ((await client2.schedulerInfo()).workers.length === 2 ? true : undefined), { timeoutMs: 10_000, what: 'both workers to rejoin' });
    expect(sums(await client2.fromTable(table, { npartitions: 3 }).groupBy('key').apply(perKey).toTable())).toEqual(want);
    await client2.close();
  });

  it('exits with 1 after --reconnect-timeout when the scheduler does not come back, and at once on SIGTERM while reconnecting', async () => {
    // Prepare
    const [port] = await freePorts(1);
    const address = `tcp://127.0.0.1:${port}`;
    const sched = await startScheduler(port!);
    const patient = start(['worker', address, '--token-file', tokenFile, '--name', 'patient', '--reconnect-timeout', '60']);
    const brief = start(['worker', address, '--token-file', tokenFile, '--name', 'brief', '--reconnect-timeout', '1']);
    await Promise.all([patient.waitForEvent('worker.ready'), brief.waitForEvent('worker.ready')]);

    // Act
    await killHard(sched.proc);
    const lostAt = Date.now();

    // Assess: the brief one gives up only once its second is over (the last attempt is made at the deadline) and says why.
    expect(await brief.exited).toBe(1);
    const exitedAt = Date.now();
    expect(exitedAt - lostAt).toBeGreaterThanOrEqual(500);
    // Timed from the worker's own 'worker.reconnecting' line: the whole second passes before it gives up.
    const reconnectingAt = Date.parse(String(brief.lines.find((l) => l.event === 'worker.reconnecting')?.time));
    expect(exitedAt - reconnectingAt).toBeGreaterThanOrEqual(1_000);
    expect(brief.lines.find((l) => l.event === 'worker.scheduler-lost')).toBeDefined();
    // The patient one is still trying; SIGTERM ends it cleanly.
    await patient.waitForEvent('worker.reconnecting');
    expect(patient.child.exitCode).toBeNull();
    patient.child.kill('SIGTERM');
    expect(await patient.exited).toBe(0);
  });
});
