import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { freePorts, preboundListener } from '../comm/free-ports.ts';
import { backoffDelay, RESTART_BACKOFF, RestartBudget, sleep } from '../shared/core/retry.ts';
import { WORKER_MALLOC_ENV } from '../shared/engine/worker-env.ts';
import { join } from 'node:path';
import type { ClusterLike } from './cluster-like.ts';
import { LocalClusterStartError } from './errors.ts';
import { processEntry } from '../comm/launch.ts';

export interface LocalClusterOptions {
  /** Worker processes (default 2). */
  nWorkers?: number;
  /** Task threads per worker (default 1). */
  threadsPerWorker?: number;
  /** Memory limit per worker in GiB (spill at 60-70 %, pause at 80 %; above 95 % the worker ends and is restarted). */
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
  /** A task that was running on this many workers that died errs with KilledWorkerError (default 3). */
  allowedFailures?: number;
  /**
   * Run each worker under this command prefix, e.g. `['prlimit', '--as=2147483648', '--']`
   * to cap its address space (the prefix must exec the command, keeping the pid).
   */
  workerLauncher?: string[];
  /**
   * Replace a worker that dies (crash, SIGKILL, memory limit), as a nanny would: with RESTART_BACKOFF
   * between quick deaths, and at most `maxRestarts` in any `windowMs` so a crash loop stops.
   * `false` leaves dead workers dead. @default { maxRestarts: 10, windowMs: 60_000 }
   */
  restartWorkers?: { maxRestarts?: number; windowMs?: number } | false;
}

/** A worker that lived this long before dying was healthy: its next restart starts the backoff afresh. */
const STABLE_WORKER_MS = 30_000;

/** One worker position the cluster keeps filled; each replacement is a new generation with its own name. */
interface WorkerSlot {
  base: string;
  opts: WorkerOptionsForAdd;
  generation: number;
  /** Deaths in a row of workers that lived less than STABLE_WORKER_MS. */
  quickDeaths: number;
  /** Only a slot that registered once is restarted: a worker that cannot start at all is a configuration error. */
  registered: boolean;
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
  /** Aborts pending restarts on close. */
  private readonly stopRestarts = new AbortController();
  private readonly restartBudget: RestartBudget | undefined;
  /** The cluster's own events (restarts), as JSON lines. */
  private readonly supervisorLines: string[] = [];

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
    const restart = options.restartWorkers ?? {};
    if (restart) this.restartBudget = new RestartBudget(restart.maxRestarts ?? 10, restart.windowMs ?? 60_000);
  }

  private readonly caFile: string | undefined;

  /** Start the scheduler and `nWorkers` workers; resolves when every worker has registered. */
  static async start(options: LocalClusterOptions = {}): Promise<LocalCluster> {
    const nWorkers = options.nWorkers ?? 2;
    if (!Number.isInteger(nWorkers) || nWorkers < 0) throw new LocalClusterStartError(`nWorkers must be a non-negative integer, got ${nWorkers}`);
    if (options.allowedFailures !== undefined && !(Number.isInteger(options.allowedFailures) && options.allowedFailures >= 1)) {
      throw new LocalClusterStartError(`allowedFailures must be a positive integer, got ${options.allowedFailures}`);
    }
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
    if (options.allowedFailures !== undefined) extra.push('--allowed-failures', String(options.allowedFailures));
    // The port is chosen here so workers start alongside the scheduler. Where a socket can be handed
    // over (not Windows), it is bound here and the scheduler inherits it: workers connect at once and
    // wait in the backlog. Otherwise they retry until the scheduler listens on the port it was given.
    for (let attempt = 1; ; attempt++) {
      const prebound = await preboundListener();
      const port = prebound?.port ?? ((await freePorts(1))[0] as number);
      const address = `${options.tls ? 'tls' : 'tcp'}://127.0.0.1:${port}`;
      const listenArgs = prebound ? ['--port', String(port), '--listen-fd', String(INHERITED_LISTENER_FD)] : ['--port', String(port)];
      let scheduler: Proc;
      try {
        scheduler = launch('scheduler', 'scheduler', [...listenArgs, '--token-file', tokenFile, '--watch-parent', '--owned-dir', dir, ...extra], options, prebound?.fd);
      } finally {
        // The scheduler holds its own copy now; this process must not accept on it.
        prebound?.close();
      }
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
    const slot: WorkerSlot = { base: opts.name ?? `local-worker-${this.nextWorker++}`, opts, generation: 0, quickDeaths: 0, registered: false };
    const proc = this.launchWorker(slot);
    const ready = await waitForEvent(proc, 'worker.ready', timeoutMs);
    slot.registered = true;
    return { name: proc.name, pid: proc.child.pid as number, address: String(ready.address) };
  }

  private launchWorker(slot: WorkerSlot): Proc {
    const { opts } = slot;
    const name = slot.generation === 0 ? slot.base : `${slot.base}.${slot.generation}`;
    const args = [this.schedulerAddress, '--token-file', this.tokenFile, '--name', name, '--watch-parent'];
    args.push('--nthreads', String(opts.nthreads ?? this.options.threadsPerWorker ?? 1));
    const mem = opts.memoryLimitGiB ?? this.options.memoryLimitGiB;
    if (mem !== undefined) args.push('--memory-limit', String(mem));
    for (const [r, n] of Object.entries(opts.resources ?? this.options.resources ?? {})) args.push('--resource', `${r}=${n}`);
    if (this.caFile) args.push('--tls-ca', this.caFile);
    const proc = launch('worker', name, args, this.options);
    const startedAt = Date.now();
    this.workers.push(proc);
    void proc.exited.then(() => this.onWorkerExit(slot, proc, startedAt));
    return proc;
  }

  /** A worker died: replace it unless the cluster is closing, it exited cleanly, or the restart budget is spent. */
  private async onWorkerExit(slot: WorkerSlot, proc: Proc, startedAt: number): Promise<void> {
    const { exitCode: code, signalCode: signal } = proc.child;
    if (!this.restartBudget || this.closing || !slot.registered) return;
    // Exit 0 is a clean stop (SIGTERM, the scheduler closed it); without a scheduler a new worker cannot register.
    if (code === 0 || this.scheduler.child.exitCode !== null || this.scheduler.child.signalCode !== null) return;
    slot.quickDeaths = Date.now() - startedAt >= STABLE_WORKER_MS ? 1 : slot.quickDeaths + 1;
    const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
    if (!this.restartBudget.take()) {
      this.note('error', 'local-cluster.restart-limit', `worker ${proc.name} ${how}; not restarting it: ${this.restartBudget.max} restarts in ${this.restartBudget.windowMs} ms`, { worker: proc.name });
      return;
    }
    const delayMs = Math.round(backoffDelay(slot.quickDeaths - 1, RESTART_BACKOFF));
    this.note('warn', 'local-cluster.worker-restart', `worker ${proc.name} ${how}; restarting it`, { worker: proc.name, exitCode: code, signal, delayMs });
    try {
      await sleep(delayMs, { signal: this.stopRestarts.signal });
    } catch {
      return;
    }
    if (this.closing) return;
    slot.generation++;
    // Its readiness is not awaited: if it dies again, this handler runs again (and the budget applies).
    const next = this.launchWorker(slot);
    waitForEvent(next, 'worker.ready', 60_000).catch(() => undefined);
  }

  private note(level: 'warn' | 'error', event: string, message: string, fields: Record<string, unknown>): void {
    const line = JSON.stringify({ level, time: new Date().toISOString(), service: 'recc-local-cluster', message, event, ...fields });
    this.supervisorLines.push(line);
    if (this.supervisorLines.length > 200) this.supervisorLines.shift();
    this.options.logStream?.write(`${line}\n`);
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

  /** Last log lines of every process, workers that were replaced included (diagnostics, tests). */
  allLogs(): string[] {
    return [...this.supervisorLines, ...[this.scheduler, ...this.workers].flatMap((p) => p.lines)];
  }

  /** Stop every process (SIGTERM, then SIGKILL after 10 s) and remove the token. Safe to call twice. */
  close(removeDir = true): Promise<void> {
    this.closing ??= (async () => {
      this.stopRestarts.abort();
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

/** Where a scheduler finds the listening socket it inherits: the first descriptor after stdio. */
const INHERITED_LISTENER_FD = 3;

function launch(kind: 'scheduler' | 'worker', name: string, args: string[], options: LocalClusterOptions, listenerFd?: number): Proc {
  const entry = processEntry(kind);
  // A larger young generation makes the scheduler's many short-lived message objects cheaper to collect.
  const tuning = kind === 'scheduler' ? ['--max-semi-space-size=32'] : [];
  const argv = [process.execPath, ...tuning, ...(options.nodeArgs ?? []), ...entry.execArgv, entry.path, ...args];
  const launcher = kind === 'worker' ? (options.workerLauncher ?? []) : [];
  const command = [...launcher, ...argv];
  const env = kind === 'worker' ? { ...process.env, ...WORKER_MALLOC_ENV } : process.env;
  const stdio: Array<'pipe' | number> = listenerFd === undefined ? ['pipe', 'pipe', 'pipe'] : ['pipe', 'pipe', 'pipe', listenerFd];
  const child = spawn(command[0] as string, command.slice(1), { stdio, env });
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
