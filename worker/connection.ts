import type { Comm } from '../comm/comm.ts';
import { AuthenticationError } from '../comm/errors.ts';
import { connect } from '../comm/handshake.ts';
import { CONNECT_BACKOFF, retry } from '../shared/core/retry.ts';
import { WorkerStartError } from './errors.ts';
import type { CompiledWorkerOptions } from './options.ts';

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

/**
 * Connect to the scheduler and register, retrying with CONNECT_BACKOFF while
 * it may still be starting (workers start alongside it), until
 * `connectTimeoutMs`. A rejected token is permanent and not retried.
 */
export async function connectToScheduler(options: CompiledWorkerOptions, dataPort: number, memoryLimitBytes: number | undefined): Promise<SchedulerConnection> {
  const advertised = advertisedAddress(options, dataPort);
  try {
    return await retry(
      async () => {
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
        return { comm, workerId: String(welcome.workerId ?? advertised) };
      },
      {
        ...CONNECT_BACKOFF,
        deadlineMs: options.connectTimeoutMs,
        retryIf: (err) => !(err instanceof AuthenticationError),
        onRetry: (_err, _attempt, delayMs) => options.logger.debug('scheduler not reachable yet; retrying', { event: 'worker.connect-retry', delayMs: Math.round(delayMs) }),
      },
    );
  } catch (err) {
    if (err instanceof AuthenticationError) throw err;
    throw new WorkerStartError(`cannot reach the scheduler at ${options.schedulerAddress}: ${(err as Error).message}`, { cause: err });
  }
}
