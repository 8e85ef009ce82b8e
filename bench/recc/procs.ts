import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

/**
 * A scheduler and workers started through the documented commands
 * (`recc scheduler`, `recc worker`), for the recc-only measures that need
 * the scheduler's pid (peak RSS, CPU time). Every process is stopped by its
 * own pid: SIGTERM, then SIGKILL if it does not exit.
 */
const ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const RECC = join(ROOT, 'bin/recc.mjs');

export interface Proc {
  readonly pid: number;
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      srv.close(() => res(port));
    });
  });
}

function wrap(child: ChildProcess): Proc {
  const exited = new Promise<void>((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
  return {
    pid: child.pid ?? -1,
    child,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
    },
  };
}

/** Resolves with the first JSON log line on stdout that matches; rejects when the process exits first. */
function waitForLine(child: ChildProcess, match: (obj: Record<string, unknown>) => boolean, what: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    let buf = '';
    let stderr = '';
    const timer = setTimeout(() => rej(new Error(`no ${what} within ${timeoutMs} ms\n${stderr.slice(-2000)}`)), timeoutMs);
    child.stderr?.on('data', (b: Buffer) => {
      stderr += b.toString();
    });
    child.stdout?.on('data', (b: Buffer) => {
      buf += b.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        try {
          const obj = JSON.parse(line) as Record<string, unknown>;
          if (match(obj)) {
            clearTimeout(timer);
            res(obj);
          }
        } catch {}
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      rej(new Error(`process exited with ${code} before ${what}\n${stderr.slice(-2000)}`));
    });
  });
}

export interface ManualCluster {
  address: string;
  token: string;
  scheduler: Proc;
  dashboardUrl: string;
  workers: Proc[];
  /** Number of registered workers, from the dashboard's /api/status. */
  workerCount(): Promise<number>;
  close(): Promise<void>;
}

export async function startScheduler(options: { nodeArgs?: string[] } = {}): Promise<ManualCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'recc-bench-cluster-'));
  const token = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'token');
  writeFileSync(tokenFile, token, { mode: 0o600 });
  const dashPort = await freePort();
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), RECC, 'scheduler', '--port', '0', '--token-file', tokenFile, '--dashboard-port', String(dashPort)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const scheduler = wrap(child);
  let ready: Record<string, unknown>;
  try {
    ready = await waitForLine(child, (o) => o.event === 'scheduler.ready', 'scheduler.ready');
  } catch (err) {
    await scheduler.stop();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Keep draining output so the pipes never fill.
  child.stdout?.resume();
  child.stderr?.resume();
  const address = String(ready.address);
  const dashboardUrl = typeof ready.dashboardUrl === 'string' ? ready.dashboardUrl : `http://127.0.0.1:${dashPort}`;
  const workers: Proc[] = [];
  const cluster: ManualCluster = {
    address,
    token,
    scheduler,
    dashboardUrl,
    workers,
    async workerCount() {
      const r = await fetch(`${dashboardUrl}/api/status`);
      const body = (await r.json()) as { workers?: number };
      return body.workers ?? 0;
    },
    async close() {
      await Promise.all(workers.map((w) => w.stop()));
      await scheduler.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  (cluster as ManualCluster & { tokenFile: string }).tokenFile = tokenFile;
  return cluster;
}

/** Start `recc worker` processes and wait until the scheduler counts them all. */
export async function addWorkers(cluster: ManualCluster, n: number, options: { nthreads?: number; resources?: string[] } = {}): Promise<void> {
  const tokenFile = (cluster as ManualCluster & { tokenFile: string }).tokenFile;
  const before = cluster.workers.length;
  for (let i = 0; i < n; i++) {
    const args = [RECC, 'worker', cluster.address, '--token-file', tokenFile, '--nthreads', String(options.nthreads ?? 1), '--name', `bench-${before + i}`];
    for (const r of options.resources ?? []) args.push('--resource', r);
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.resume();
    cluster.workers.push(wrap(child));
  }
  const want = before + n;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const dead = cluster.workers.find((w) => w.child.exitCode !== null);
    if (dead) throw new Error(`worker ${dead.pid} exited with ${dead.child.exitCode} before registering`);
    if ((await cluster.workerCount().catch(() => 0)) >= want) return;
    if (Date.now() > deadline) throw new Error(`only some of ${want} workers registered within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
