import type { Comm, Message } from '../comm/comm.ts';
import { DataClient } from '../comm/data-client.ts';
import { connect } from '../comm/handshake.ts';
import { ClientClosedError } from './errors.ts';

/**
 * How a Client talks to its scheduler. The TCP transport connects directly
 * and fetches large results from workers; another transport (for clients
 * outside the cluster network) can relay the same messages another way.
 */
export interface ClientTransport {
  /** Client id the scheduler assigned. */
  readonly clientId: string;
  /** `weight`: items the message carries (tasks in a graph), for batching decisions. */
  send(msg: Message, buffers?: readonly Buffer[], weight?: number): void;
  /** Send a request and wait for the `reply` with the same id. */
  request(msg: Message, buffers?: readonly Buffer[]): Promise<Message>;
  onMessage(handler: (msg: Message, buffers: Buffer[] | undefined) => void): void;
  onClose(handler: (err?: Error) => void): void;
  /** Resolves when the outgoing buffer has room (backpressure). */
  drained(): Promise<void>;
  /** Fetch stored results by key (those that did not arrive inline). */
  fetch(keys: readonly string[]): Promise<Map<string, Buffer>>;
  close(): Promise<void>;
}

export class TcpTransport implements ClientTransport {
  private handler: (msg: Message, buffers: Buffer[] | undefined) => void = () => {};
  private readonly pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private readonly data: DataClient;

  private constructor(
    private readonly comm: Comm,
    readonly clientId: string,
    token: string,
    caPem: string | undefined,
  ) {
    this.data = new DataClient(token, 'client', caPem);
    comm.onMessage((msg, bufs) => {
      if (msg.op === 'reply') {
        const p = this.pending.get(msg.id as number);
        if (p) {
          this.pending.delete(msg.id as number);
          p.resolve(msg);
        }
        return;
      }
      this.handler(msg, bufs);
    });
    comm.onClose((err) => {
      for (const p of this.pending.values()) p.reject(new ClientClosedError('the scheduler connection closed', { cause: err }));
      this.pending.clear();
    });
  }

  static async connect(address: string, token: string, caPem?: string): Promise<TcpTransport> {
    const { comm, welcome } = await connect(address, { token, hello: { role: 'client' }, ...(caPem ? { caPem } : {}) });
    return new TcpTransport(comm, String(welcome.clientId), token, caPem);
  }

  send(msg: Message, buffers?: readonly Buffer[], weight = 1): void {
    this.comm.send(msg, buffers, weight);
  }

  request(msg: Message, buffers?: readonly Buffer[]): Promise<Message> {
    if (this.comm.isClosed) return Promise.reject(new ClientClosedError());
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.comm.send({ ...msg, id }, buffers);
    });
  }

  onMessage(handler: (msg: Message, buffers: Buffer[] | undefined) => void): void {
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
    for (let attempt = 0; attempt < 5 && remaining.length > 0; attempt++) {
      const reply = await this.request({ op: 'who-has', keys: remaining });
      const byWorker = new Map<string, string[]>();
      for (const [key, who] of reply.who as Array<[string, string[]]>) {
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
      if (remaining.length > 0) await new Promise((r) => setTimeout(r, 50 * (attempt + 1)));
    }
    return out;
  }

  async close(): Promise<void> {
    await this.data.close();
    await this.comm.close();
  }
}
