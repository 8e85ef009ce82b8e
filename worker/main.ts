import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { AuthenticationError } from '../comm/errors.ts';
import { onTerminate, watchParent } from '../comm/process.ts';
import { watchSupervisorLease, type SupervisorLease } from '../comm/supervisor-lease.ts';
import { createLogger } from '../shared/core/logger.ts';
import { cgroupCpuQuota, fittingThreads } from './cpu.ts';
import { WorkerStartError } from './errors.ts';
import { tuneWorkerV8 } from './v8-tuning.ts';
import { Worker } from './worker.ts';

export interface WorkerProcessOptions {
  schedulerAddress: string;
  tokenFile?: string;
  /** Alternative to the token file (RECC_SCHEDULER_TOKEN). */
  token?: string;
  nthreads: number;
  memoryLimitGiB?: number;
  resources: Record<string, number>;
  name?: string;
  tlsCa?: string;
  /** Data port interface; default: 127.0.0.1 for a loopback scheduler, else 0.0.0.0. */
  host?: string;
  contactHost?: string;
  watchParent?: boolean;
  /** Stop once this lease goes stale (a detached local-backend cluster whose supervisor is gone: comm/supervisor-lease.ts). */
  supervisorLease?: SupervisorLease;
  connectTimeoutSeconds: number;
  /** After losing the scheduler, keep reconnecting this long (0: stop at once). Default DEFAULT_RECONNECT_TIMEOUT_MS. */
  reconnectTimeoutSeconds?: number;
  memoryTarget?: number;
  memorySpill?: number;
  memoryPause?: number;
  memoryTerminate?: number;
  /**
   * Written once the worker has registered with the scheduler and removed when
   * it stops: the pod's readiness probe (`test -f`), so a worker counts as
   * ready only after it has connected.
   */
  readyFile?: string;
}

/** Run a worker until SIGTERM/SIGINT or the scheduler goes away. Resolves with the exit code. */
export async function runWorkerProcess(opts: WorkerProcessOptions): Promise<number> {
  const name = opts.name ?? `${hostname()}-${process.pid}`;
  const logger = createLogger({ service: 'recc-worker' }, { worker: name });
  let worker: Worker;
  try {
    let token = opts.token;
    if (opts.tokenFile) {
      try {
        token = readFileSync(opts.tokenFile, 'utf8').trim();
      } catch (err) {
        throw new WorkerStartError(`cannot read the token file ${opts.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    }
    if (!token) throw new WorkerStartError('no token: pass --token-file (or set RECC_SCHEDULER_TOKEN)');
    const caPem = opts.tlsCa ? readFileSync(opts.tlsCa, 'utf8') : undefined;
    const thresholds = {
      ...(opts.memoryTarget !== undefined ? { target: opts.memoryTarget } : {}),
      ...(opts.memorySpill !== undefined ? { spill: opts.memorySpill } : {}),
      ...(opts.memoryPause !== undefined ? { pause: opts.memoryPause } : {}),
      ...(opts.memoryTerminate !== undefined ? { terminate: opts.memoryTerminate } : {}),
    };
    worker = new Worker({
      schedulerAddress: opts.schedulerAddress,
      token,
      nthreads: opts.nthreads,
      ...(opts.memoryLimitGiB !== undefined ? { memoryLimitBytes: Math.round(opts.memoryLimitGiB * 1024 ** 3) } : {}),
      thresholds,
      resources: opts.resources,
      name,
      host: opts.host ?? defaultDataHost(opts.schedulerAddress),
      ...(opts.contactHost ? { contactHost: opts.contactHost } : {}),
      ...(caPem ? { caPem } : {}),
      logger,
      connectTimeoutMs: opts.connectTimeoutSeconds * 1000,
      ...(opts.reconnectTimeoutSeconds !== undefined ? { reconnectTimeoutMs: opts.reconnectTimeoutSeconds * 1000 } : {}),
    });
    // V8 flags once the task threads are up: set before, each thread's isolate compiled Node's built-ins from scratch (v8-tuning.ts).
    void worker.threadsStarted().then(tuneWorkerV8);
    // Until registered there is nothing to drain: a signal (or a dead parent) just ends the process.
    let started = false;
    const early = () => {
      if (!started) process.exit(0);
    };
    if (opts.watchParent) watchParent(early);
    const unwatchEarly = opts.supervisorLease ? watchSupervisorLease(opts.supervisorLease, early) : undefined;
    onTerminate(early);
    await worker.start();
    started = true;
    unwatchEarly?.();
  } catch (err) {
    const rejected = err instanceof AuthenticationError;
    logger.error(rejected ? 'the scheduler rejected the token' : 'worker failed to start', {
      event: rejected ? 'worker.rejected' : 'worker.failed',
      error: (err as Error).message,
    });
    return 1;
  }
  const fitting = fittingThreads();
  if (opts.nthreads > fitting) {
    // More threads than CPUs only makes them take turns (and a cgroup quota throttles them every period).
    logger.warn('more task threads than this process has CPUs', { event: 'worker.oversubscribed', nthreads: opts.nthreads, cpus: fitting, cgroupQuota: cgroupCpuQuota() ?? null });
  }
  logger.info('worker ready', { event: 'worker.ready', address: worker.address, scheduler: opts.schedulerAddress, nthreads: opts.nthreads, pid: process.pid, memoryLimit: worker.memoryLimitBytes ?? null });
  const readyFile = opts.readyFile;
  if (readyFile) writeFileSync(readyFile, `${process.pid}\n`, { mode: 0o644 });
  const notReady = () => {
    if (readyFile) rmSync(readyFile, { force: true });
  };
  return new Promise<number>((resolve) => {
    let code = 0;
    const stop = (reason: string) => {
      notReady();
      logger.info('worker stopping', { event: 'worker.stopping', reason });
      worker.close().then(() => resolve(code), () => resolve(1));
    };
    onTerminate(stop);
    if (opts.watchParent) watchParent(stop);
    if (opts.supervisorLease) watchSupervisorLease(opts.supervisorLease, stop);
    worker.finished.then(({ reason, error }) => {
      notReady();
      if (reason === 'closed') return;
      if (reason !== 'scheduler asked to close') {
        code = 1;
        logger.error('lost the scheduler', { event: 'worker.scheduler-lost', error: error?.message ?? reason });
      }
      stop(reason);
    });
  });
}

/** Loopback scheduler → loopback data port; otherwise listen on all interfaces (pods). */
export function defaultDataHost(schedulerAddress: string): string {
  const host = /^\w+:\/\/\[?([^\]]+?)\]?:\d+$/.exec(schedulerAddress)?.[1] ?? '';
  return host === 'localhost' || host === '::1' || host.startsWith('127.') ? '127.0.0.1' : '0.0.0.0';
}
