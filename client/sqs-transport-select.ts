import { AuthenticationError } from '../comm/errors.ts';
import type { SqsRoute } from '../comm/sqs-envelope/route.ts';
import { ValidationError } from '../shared/core/errors.ts';
import type { Env } from '../shared/core/env.ts';
import { getOptionalString } from '../shared/core/env.ts';
import { TcpTransport, type ClientTransport } from './transport.ts';

/** How a client reaches its scheduler: directly over TCP, over SQS, or TCP with SQS as the fallback. */
export type TransportChoice = 'tcp' | 'sqs' | 'auto';
export const TRANSPORT_CHOICES: readonly TransportChoice[] = ['tcp', 'sqs', 'auto'];

/** How long `auto` waits for the scheduler's TCP address before taking the SQS route. */
export const DEFAULT_TCP_FALLBACK_MS = 5_000;

/** RECC_TRANSPORT (tcp, sqs, auto), or undefined when unset; throws ValidationError naming the variable. */
export function transportFromEnv(env: Env): TransportChoice | undefined {
  const raw = getOptionalString(env, 'RECC_TRANSPORT');
  if (raw === undefined) return undefined;
  const v = raw.toLowerCase();
  if ((TRANSPORT_CHOICES as readonly string[]).includes(v)) return v as TransportChoice;
  throw new ValidationError(`invalid RECC_TRANSPORT: "${raw}"`, [{ path: 'RECC_TRANSPORT', message: `expected one of ${TRANSPORT_CHOICES.join(', ')}, got "${raw}"` }]);
}

export interface TransportSelection {
  address: string;
  token: string | undefined;
  caPem: string | undefined;
  route: SqsRoute | undefined;
  /** Explicit choice; else RECC_TRANSPORT; else `auto` when there is an SQS route, `tcp` otherwise. */
  choice: TransportChoice | undefined;
  tcpTimeoutMs?: number;
  /** Where the route taken is told. @default a line on stderr */
  say?: (line: string) => void;
  env?: Env;
  /** Options for the SQS transport (session to resume, notices, connect timeout). */
  sqs?: { session?: string; connectTimeoutMs?: number; onNotice?: (line: string) => void };
}

/**
 * Connect over the chosen route. `auto` tries TCP for a few seconds and takes
 * SQS when the address does not answer (a rejected token is not a routing
 * problem and fails as it is). Says which route it took whenever there was a
 * choice to make.
 */
export async function connectTransport(sel: TransportSelection): Promise<{ transport: ClientTransport; route: 'tcp' | 'sqs' }> {
  const choice = sel.choice ?? transportFromEnv(sel.env ?? process.env) ?? (sel.route ? 'auto' : 'tcp');
  const say = sel.say ?? ((line: string) => process.stderr.write(`recc: ${line}\n`));
  const needToken = () => {
    if (!sel.token) throw new ValidationError('missing token', [{ path: 'token', message: 'pass { token } when connecting to an address' }]);
    return sel.token;
  };
  if (choice === 'tcp') return { transport: await TcpTransport.connect(sel.address, needToken(), sel.caPem), route: 'tcp' };
  if (!sel.route) {
    throw new ValidationError(`transport "${choice}" needs the cluster's SQS route`, [
      { path: 'transport', message: 'this cluster has no request queue (connect to a cluster from the API or pass { sqsRoute })' },
    ]);
  }
  const route = sel.route;
  const viaSqs = async (why: string) => {
    const { SqsTransport } = await import('./sqs-transport.ts');
    const transport = await SqsTransport.connect({
      route,
      ...(route.credentials ? { credentials: route.credentials } : {}),
      ...(sel.sqs?.session ? { session: sel.sqs.session } : {}),
      ...(sel.sqs?.connectTimeoutMs ? { connectTimeoutMs: sel.sqs.connectTimeoutMs } : {}),
      ...(sel.sqs?.onNotice ? { onNotice: sel.sqs.onNotice } : {}),
    });
    say(`connected to cluster ${route.clusterId} over SQS (${route.requestQueueUrl})${why}`);
    return { transport, route: 'sqs' as const };
  };
  if (choice === 'sqs') return viaSqs('');
  const timeoutMs = sel.tcpTimeoutMs ?? DEFAULT_TCP_FALLBACK_MS;
  try {
    const transport = await TcpTransport.connect(sel.address, needToken(), sel.caPem, { timeoutMs });
    say(`connected to cluster ${route.clusterId} over TCP (${sel.address})`);
    return { transport, route: 'tcp' };
  } catch (err) {
    if (err instanceof AuthenticationError || err instanceof ValidationError) throw err;
    return viaSqs(`; the scheduler's TCP address ${sel.address} did not answer within ${(timeoutMs / 1000).toFixed(0)} s (${(err as Error).message})`);
  }
}
