import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePorts } from '../comm/free-ports.ts';
import { join } from 'node:path';
import type { ClusterLike } from './cluster-like.ts';
import { LocalClusterStartError } from './errors.ts';
import { processEntry } from '../comm/launch.ts';

export interface LocalClusterOptions {
  /** Worker processes (default 2). */
  nWorkers?: number;
  /** Task threads per worker (default 1). */
  threadsPerWorker?: number;
  /** Memory limit per worker in GiB (spill at 60 %, pause at 80 %). */
  memoryLimitGiB?: number;
  /** Resources every worker advertises, e.g. `{ GPU: 1 }`. */
  resources?: Record<string, number>;
  /** Serve the scheduler over TLS with a fresh self-signed CA (clients get `caPem`). */
  tls?: boolean;
  /** Start the scheduler's HTTP dashboard (`dashboardUrl`). */
  dashboard?: boolean;
  /** Fail tasks whose resources no worker offers after this many seconds. */
  resourceWaitTimeoutSeconds?: number;
  /** Give up if the cluster is not ready within this time (default 60 s). */
  startTimeoutMs?: number;
  /** Copy the processes' JSON log lines to this stream (default: keep the last lines in memory). */
  logStream?: { write(line: string): unknown };
  /** Extra Node flags for the scheduler and workers, e.g. `['--cpu-prof', '--cpu-prof-dir=/tmp/prof']`. */
  nodeArgs?: string[];
}

export interface WorkerOptionsForAdd {
  name?: string;
  nthreads?: number;
  memoryLimitGiB?: number;
  resources?: Record<string, number>;
}

interface Proc {
  name: string;
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}

/**
 * A scheduler and workers as child processes on this machine. Children watch
 * this process, so none survives it, even after SIGKILL.
 *
 * ```ts
 * await using cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
 * await using client = await Client.connect(cluster);
 * ```
 */
export class LocalCluster implements ClusterLike {
  readonly schedulerAddress: string;
  readonly token: string;
  readonly caPem?: string;
  /** The scheduler's HTTP dashboard when started with `dashboard: true`. */
  readonly dashboardUrl?: string;
  private readonly workers: Proc[] = [];
  private closing: Promise<void> | undefined;
  private nextWorker = 0;

  private constructor(
    private readonly dir: string,
    private readonly tokenFile: string,
    private readonly scheduler: Proc,
    address: string,
    token: string,
    private readonly options: LocalClusterOptions,
    extra: { caPem?: string; caFile?: string; dashboardUrl?: string },
  ) {
    this.schedulerAddress = address;
    this.token = token;
    if (extra.caPem) this.caPem = extra.caPem;
    if (extra.dashboardUrl) this.dashboardUrl = extra.dashboardUrl;
    this.caFile = extra.caFile;
  }

  private readonly caFile: string | undefined;

  /** Start the scheduler and `nWorkers` workers; resolves when every worker has registered. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const nWorkers = options.nWorkers ?? 2;
    if (!Number.isInteger(nWorkers) || nWorkers < 0) throw new LocalClusterStartError(`nWorkers must be a non-negative integer, got ${nWorkers}`);
    const timeout = options.startTimeoutMs ?? 60_000;
    const dir = mkdtempSync(join(tmpdir(), 'recc-local-'));
    const token = randomBytes(24).toString('base64url');
    const tokenFile = join(dir, 'token');
    writeFileSync(tokenFile, token, { mode: 0o600 });
    let tlsInfo: { caPem: string; caFile: string } | undefined;
    const extra: string[] = [];
    if (options.tls) {
      const { generateTlsFiles } = await import('./tls.ts');
      const files = await generateTlsFiles(dir);
      extra.push('--tls-cert', files.certFile, '--tls-key', files.keyFile);
      tlsInfo = { caPem: files.caPem, caFile: files.caFile };
    }
    if (options.dashboard) extra.push('--dashboard-port', '0');
    if (options.resourceWaitTimeoutSeconds !== undefined) extra.push('--resource-wait-timeout', String(options.resourceWaitTimeoutSeconds));
    // The port is chosen here so workers start alongside the scheduler (they retry until it listens).
    for (let attempt = 1; ; attempt++) {
      const [port] = await freePorts(1);
      const address = `${options.tls ? 'tls' : 'tcp'}://127.0.0.1:${port}`;
      const scheduler = launch('scheduler', 'scheduler', ['--port', String(port), '--token-file', tokenFile, '--watch-parent', '--owned-dir', dir, ...extra], options);
      const cluster = new LocalCluster(dir, tokenFile, scheduler, address, token, options, tlsInfo ?? {});
      const workers = Array.from({ length: nWorkers }, () => cluster.addWorker({}, timeout));
      let ready: Record<string, unknown>;
      try {
        ready = await waitForEvent(scheduler, 'scheduler.ready', timeout);
      } catch (err) {
        await cluster.close(false);
        await Promise.allSettled(workers);
        const inUse = scheduler.lines.some((l) => l.includes('already in use'));
        if (inUse && attempt < 3) continue;
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
      if (typeof ready.dashboardUrl === 'string') (cluster as { dashboardUrl?: string }).dashboardUrl = ready.dashboardUrl;
      try {
        await Promise.all(workers);
      } catch (err) {
        await cluster.close();
        throw err;
      }
      return cluster;
    }
  }

  /** Start one more worker (e.g. with `{ resources: { GPU: 1 } }`); resolves once it registered. */
  async addWorker(opts: WorkerOptionsForAdd = {}, timeoutMs = 60_000): Promise<{ name: string; pid: number; address: string }> {
    const name = opts.name ?? `local-worker-${this.nextWorker++}`;
    const args = [this.schedulerAddress, '--token-file', this.tokenFile, '--name', name, '--watch-parent'];
    args.push('--nthreads', String(opts.nthreads ?? this.options.threadsPerWorker ?? 1));
    const mem = opts.memoryLimitGiB ?? this.options.memoryLimitGiB;
    if (mem !== undefined) args.push('--memory-limit', String(mem));
    for (const [r, n] of Object.entries(opts.resources ?? this.options.resources ?? {})) args.push('--resource', `${r}=${n}`);
    if (this.caFile) args.push('--tls-ca', this.caFile);
    const proc = launch('worker', name, args, this.options);
    this.workers.push(proc);
    const ready = await waitForEvent(proc, 'worker.ready', timeoutMs);
    return { name, pid: proc.child.pid as number, address: String(ready.address) };
  }

  /** Pids of the processes (scheduler first); for tests. */
  get pids(): number[] {
    return [this.scheduler.child.pid as number, ...this.workers.map((w) => w.child.pid as number)];
  }

  /** Running workers by name with their pids. */
  get workerProcesses(): Array<{ name: string; pid: number }> {
    return this.workers.filter((w) => w.child.exitCode === null && w.child.signalCode === null).map((w) => ({ name: w.name, pid: w.child.pid as number }));
  }

  /** Last log lines of a process (diagnostics). */
  logs(name = 'scheduler'): string[] {
    if (name === 'scheduler') return [...this.scheduler.lines];
    return [...(this.workers.find((w) => w.name === name)?.lines ?? [])];
  }

  /** Stop every process (SIGTERM, then SIGKILL after 10 s) and remove the token. Safe to call twice. */
  close(removeDir = true): Promise<void> {
    this.closing ??= (async () => {
      const all = [this.scheduler, ...this.workers];
      for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      const timer = setTimeout(() => {
        for (const p of all) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGKILL');
      }, 10_000);
      await Promise.all(all.map((p) => p.exited));
      clearTimeout(timer);
      if (removeDir) rmSync(this.dir, { recursive: true, force: true });
    })();
    return this.closing;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function launch(kind: 'scheduler' | 'worker', name: string, args: string[], options: LocalClusterOptions): Proc {
  const entry = processEntry(kind);
  // A larger young generation makes the scheduler's many short-lived message objects cheaper to collect.
  const tuning = kind === 'scheduler' ? ['--max-semi-space-size=32'] : [];
  const child = spawn(process.execPath, [...tuning, ...(options.nodeArgs ?? []), ...entry.execArgv, entry.path, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 200) lines.shift();
    options.logStream?.write(`${line}\n`);
  };
  let partial = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const p of parts) if (p) keep(p);
    child.emit('recc-lines');
  });
  let errPartial = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (chunk: string) => {
    const parts = (errPartial + chunk).split('\n');
    errPartial = parts.pop() ?? '';
    for (const p of parts) if (p) keep(p);
  });
  child.stdin?.on('error', () => {});
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { name, child, lines, exited };
}

function waitForEvent(proc: Proc, event: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const needle = `"event":"${event}"`;
  const find = (): Record<string, unknown> | undefined => {
    for (const l of proc.lines) {
      if (!l.includes(needle)) continue;
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {}
    }
    return undefined;
  };
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(timer);
      proc.child.off('recc-lines', check);
      proc.child.off('exit', onExit);
    };
    const check = () => {
      const hit = find();
      if (hit) {
        done();
        resolve(hit);
      }
    };
    const onExit = (code: number | null) => {
      done();
      reject(new LocalClusterStartError(`${proc.name} exited with code ${code} before it was ready:\n${proc.lines.slice(-10).join('\n')}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new LocalClusterStartError(`${proc.name} was not ready within ${timeoutMs} ms:\n${proc.lines.slice(-10).join('\n')}`));
    }, timeoutMs);
    proc.child.on('recc-lines', check);
    proc.child.once('exit', onExit);
    check();
  });
}
