import type { Comm } from '../comm/comm.ts';
import { DataClient } from '../comm/data-client.ts';
import { ConnectionDroppedError, ProtocolError } from '../comm/errors.ts';
import { connect } from '../comm/handshake.ts';
import {
  Channel, decodeReply, decodeSchedulerToClient, errorNoticeOf, protocolErrorFromNotice,
  type ClientToScheduler, type Reply, type RequestBody, type RequestOp, type SchedulerToClientDecoded,
} from '../comm/protocol.ts';
import { CONNECT_BACKOFF, retry, sleep } from '../shared/core/retry.ts';
import { ClientClosedError } from './errors.ts';

/**
 * How long `connect` keeps retrying a scheduler that accepts the TCP connection
 * and then drops it (it sheds unauthenticated connections under a flood, see
 * comm/admission.ts). Unreachable schedulers and bad tokens fail at once.
 */
export const CLIENT_CONNECT_DEADLINE_MS = 30_000;
/** Asking `who-has` again for results whose worker went away: attempts, and the pause before each retry. */
export const FETCH_ATTEMPTS = 5;
/** Linear: 50, 100, 150, 200 ms (a recomputation on another worker usually lands within that). */
export const FETCH_RETRY_STEP_MS = 50;

/** Messages a client handles itself (replies are matched to their requests by the transport). */
export type SchedulerEvent = Exclude<SchedulerToClientDecoded, { op: 'reply' }>;

/**
 * How a Client talks to its scheduler. The TCP transport connects directly
 * and fetches large results from workers; another transport (for clients
 * outside the cluster network) can relay the same messages another way.
 */
export interface ClientTransport {
  /** Client id the scheduler assigned. */
  readonly clientId: string;
  /** `weight`: items the message carries (tasks in a graph), for batching decisions. */
  send(msg: ClientToScheduler, buffers?: readonly Buffer[], weight?: number): void;
  /** Send a request and wait for the `reply` with the same id (checked against what that request expects). */
  request<Op extends RequestOp>(msg: RequestBody<Op> & { op: Op }, buffers?: readonly Buffer[]): Promise<Reply<Op>>;
  onMessage(handler: (msg: SchedulerEvent, buffers: Buffer[] | undefined) => void): void;
  onClose(handler: (err?: Error) => void): void;
  /** Resolves when the outgoing buffer has room (backpressure). */
  drained(): Promise<void>;
  /** Fetch stored results by key (those that did not arrive inline). */
  fetch(keys: readonly string[]): Promise<Map<string, Buffer>>;
  close(): Promise<void>;
}

export class TcpTransport implements ClientTransport {
  private handler: (msg: SchedulerEvent, buffers: Buffer[] | undefined) => void = () => {};
  private readonly pending = new Map<number, { op: RequestOp; resolve: (m: { op: 'reply'; id: number }) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private readonly data: DataClient;
  private readonly channel: Channel<SchedulerToClientDecoded, ClientToScheduler>;

  private constructor(
    private readonly comm: Comm,
    readonly clientId: string,
    token: string,
    caPem: string | undefined,
  ) {
    this.data = new DataClient(token, 'client', caPem);
    // A scheduler that sends what this client cannot read is not one to wait on: fail every future loudly.
    this.channel = new Channel(comm, decodeSchedulerToClient, { onProtocolError: (err) => this.comm.destroy(err) });
    this.channel.onMessage((msg, bufs) => {
      if (msg.op !== 'reply') {
        this.handler(msg, bufs);
        return;
      }
      const p = this.pending.get(msg.id);
      if (!p) return;
      this.pending.delete(msg.id);
      if (msg.error) {
        p.reject(protocolErrorFromNotice(msg.error));
        return;
      }
      try {
        p.resolve(decodeReply(p.op, msg));
      } catch (err) {
        p.reject(err as Error);
        if (err instanceof ProtocolError) this.channel.send({ op: 'error', error: errorNoticeOf(err) });
      }
    });
    comm.onClose((err) => {
      for (const p of this.pending.values()) p.reject(new ClientClosedError('the scheduler connection closed', { cause: err }));
      this.pending.clear();
    });
  }

  /** `timeoutMs` bounds the whole attempt (an address that does not answer fails then, e.g. to fall back to SQS). */
  static async connect(address: string, token: string, caPem?: string, options: { timeoutMs?: number } = {}): Promise<TcpTransport> {
    const { comm, welcome } = await retry(() => connect(address, { token, hello: { role: 'client' }, ...(caPem ? { caPem } : {}), ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}) }), {
      ...CONNECT_BACKOFF,
      deadlineMs: options.timeoutMs ?? CLIENT_CONNECT_DEADLINE_MS,
      retryIf: (err) => err instanceof ConnectionDroppedError,
    });
    return new TcpTransport(comm, String(welcome.clientId), token, caPem);
  }

  send(msg: ClientToScheduler, buffers?: readonly Buffer[], weight = 1): void {
    this.channel.send(msg, buffers, weight);
  }

  readonly request: ClientTransport['request'] = (msg, buffers) => this.requestRaw(msg as RequestBody, buffers) as never;

  private requestRaw(msg: RequestBody, buffers?: readonly Buffer[]): Promise<{ op: 'reply'; id: number }> {
    if (this.comm.isClosed) return Promise.reject(new ClientClosedError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { op: msg.op, resolve, reject });
      this.channel.send({ ...msg, id } as ClientToScheduler, buffers);
    });
  }

  onMessage(handler: (msg: SchedulerEvent, buffers: Buffer[] | undefined) => void): void {
    this.handler = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    this.comm.onClose(handler);
  }

  drained(): Promise<void> {
    return this.comm.drained();
  }

  async fetch(keys: readonly string[]): Promise<Map<string, Buffer>> {
    const out = new Map<string, Buffer>();
    let remaining = [...keys];
    for (let attempt = 0; attempt < FETCH_ATTEMPTS && remaining.length > 0; attempt++) {
      const reply = await this.request({ op: 'who-has', keys: remaining });
      const byWorker = new Map<string, string[]>();
      for (const [key, who] of reply.who) {
        const w = who[attempt % Math.max(1, who.length)];
        if (!w) continue;
        let list = byWorker.get(w);
        if (!list) byWorker.set(w, (list = []));
        list.push(key);
      }
      await Promise.all(
        [...byWorker].map(async ([worker, ks]) => {
          try {
            const { data } = await this.data.getData(worker, ks);
            for (const [k, b] of data) out.set(k, b);
          } catch {
            // The worker went away; ask again (the data may be recomputed elsewhere).
          }
        }),
      );
      remaining = remaining.filter((k) => !out.has(k));
      if (remaining.length > 0) await sleep(FETCH_RETRY_STEP_MS * (attempt + 1));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.data.close();
    await this.comm.close();
  }
}
