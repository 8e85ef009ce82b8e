import type { Comm } from '../comm/comm.ts';
import { AuthenticationError } from '../comm/errors.ts';
import { connect } from '../comm/handshake.ts';
import { CONNECT_BACKOFF, STARTUP_POLL_BACKOFF, STARTUP_POLL_MS, retry, type BackoffPolicy } from '../shared/core/retry.ts';
import { WorkerStartError } from './errors.ts';
import type { CompiledWorkerOptions } from './options.ts';
import type { WorkerState } from './state/machine.ts';

export interface SchedulerConnection {
  comm: Comm;
  /** The id the scheduler gave this worker (its data address). */
  workerId: string;
}

/** The data address peers use, or undefined when the scheduler should take the address we connect from. */
export function advertisedAddress(options: CompiledWorkerOptions, dataPort: number): string | undefined {
  const contact = options.contactHost;
  if (!contact) return undefined;
  return `${options.tls ? 'tls' : 'tcp'}://${contact.includes(':') ? `[${contact}]` : contact}:${dataPort}`;
}

export interface ConnectAttempts {
  /** Give up after this long (ms). */
  deadlineMs: number;
  policy: BackoffPolicy;
  /** First poll every STARTUP_POLL_BACKOFF for this long (ms), then `policy`: the scheduler is probably starting alongside. */
  startupPollMs?: number;
  /** Aborted when the worker closes meanwhile. */
  signal?: AbortSignal;
  /** What the retry log line says (first connect or reconnect). */
  event: string;
}

/**
 * Connect to the scheduler and register, retrying while it may still be
 * starting (workers start alongside it) or restarting, until the deadline (by
 * default `connectTimeoutMs`: a quick STARTUP_POLL_BACKOFF for the first
 * STARTUP_POLL_MS, then CONNECT_BACKOFF). A rejected token is permanent and
 * not retried.
 */
export async function connectToScheduler(
  options: CompiledWorkerOptions,
  dataPort: number,
  memoryLimitBytes: number | undefined,
  attempts: ConnectAttempts = { deadlineMs: options.connectTimeoutMs, policy: CONNECT_BACKOFF, startupPollMs: STARTUP_POLL_MS, event: 'worker.connect-retry' },
): Promise<SchedulerConnection> {
  const advertised = advertisedAddress(options, dataPort);
  const once = async (): Promise<SchedulerConnection> => {
    const { comm, welcome } = await connect(options.schedulerAddress, {
      token: options.token,
      ...(options.caPem ? { caPem: options.caPem } : {}),
      hello: {
        role: 'worker',
        name: options.name,
        nthreads: options.nthreads,
        resources: options.resources,
        memoryLimit: memoryLimitBytes ?? null,
        ...(advertised ? { address: advertised } : {}),
        dataPort,
        tls: Boolean(options.tls),
        pid: process.pid,
      },
    });
    if (attempts.signal?.aborted) {
      comm.destroy();
      throw attempts.signal.reason;
    }
    return { comm, workerId: String(welcome.workerId ?? advertised) };
  };
  const phase = (policy: BackoffPolicy, deadlineMs: number): Promise<SchedulerConnection> =>
    retry(once, {
      ...policy,
      deadlineMs,
      ...(attempts.signal ? { signal: attempts.signal } : {}),
      retryIf: (err) => !(err instanceof AuthenticationError),
      onRetry: (err, _attempt, delayMs) =>
        options.logger.debug('scheduler not reachable yet; retrying', { event: attempts.event, delayMs: Math.round(delayMs), error: (err as Error).message }),
    });
  const began = Date.now();
  try {
    const pollMs = Math.min(attempts.startupPollMs ?? 0, attempts.deadlineMs);
    if (pollMs > 0) {
      try {
        return await phase(STARTUP_POLL_BACKOFF, pollMs);
      } catch (err) {
        if (err instanceof AuthenticationError || attempts.signal?.aborted) throw err;
        if (Date.now() - began >= attempts.deadlineMs) throw err;
      }
    }
    return await phase(attempts.policy, Math.max(0, attempts.deadlineMs - (Date.now() - began)));
  } catch (err) {
    if (err instanceof AuthenticationError || attempts.signal?.aborted) throw err;
    throw new WorkerStartError(`cannot reach the scheduler at ${options.schedulerAddress}: ${(err as Error).message}`, { cause: err });
  }
}

/**
 * What a returning worker tells the scheduler it holds: the results of tasks
 * the scheduler gave it (owned) that are in memory. Replicas fetched for
 * local tasks are not offered; their owners re-register them.
 */
export function heldResults(machine: WorkerState): { k: string[]; n: number[] } {
  const k: string[] = [];
  const n: number[] = [];
  for (const t of machine.tasks.values()) {
    if (t.owned && t.state === 'memory') {
      k.push(t.key);
      n.push(t.nbytes);
    }
  }
  return { k, n };
}

/**
 * Tasks the lost scheduler gave this worker that have not started: nobody
 * will want their results under that assignment any more (a restarted
 * scheduler does not know them; a surviving one has rescheduled them), so
 * they are dropped. Running ones finish, and are offered by `heldResults`.
 */
export function unstartedTasks(machine: WorkerState): string[] {
  const keys: string[] = [];
  for (const t of machine.tasks.values()) {
    if (t.owned && (t.state === 'waiting' || t.state === 'ready' || t.state === 'fetch' || t.state === 'flight' || t.state === 'missing')) keys.push(t.key);
  }
  return keys;
}
