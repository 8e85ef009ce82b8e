import type { Comm, Message } from './comm.ts';
import { CommClosedError } from './errors.ts';
import { connect } from './handshake.ts';

export interface GetDataResult {
  data: Map<string, Buffer>;
  missing: string[];
}

interface Pending {
  resolve: (r: GetDataResult) => void;
  reject: (e: Error) => void;
}

/**
 * Fetches stored results from workers' data ports (`get-data`), keeping one
 * connection per worker. Used by workers for dependencies and by clients for
 * large results.
 */
export class DataClient {
  private readonly conns = new Map<string, Promise<Comm>>();
  private readonly pending = new Map<number, Pending & { address: string }>();
  private nextId = 1;
  private closed = false;

  constructor(
    private readonly token: string,
    private readonly role: 'client' | 'peer',
    private readonly caPem?: string,
  ) {}

  async getData(address: string, keys: readonly string[]): Promise<GetDataResult> {
    const comm = await this.connection(address);
    const id = this.nextId++;
    return new Promise<GetDataResult>((resolve, reject) => {
      this.pending.set(id, { resolve, reject, address });
      comm.send({ op: 'get-data', id, keys: [...keys] });
    });
  }

  private connection(address: string): Promise<Comm> {
    if (this.closed) return Promise.reject(new CommClosedError('data client closed'));
    let p = this.conns.get(address);
    if (!p) {
      p = connect(address, { token: this.token, hello: { role: this.role }, ...(this.caPem ? { caPem: this.caPem } : {}) }).then(({ comm }) => {
        comm.onMessage((msg, bufs) => this.onMessage(msg, bufs));
        comm.onClose((err) => {
          this.conns.delete(address);
          for (const [id, pend] of [...this.pending]) {
            if (pend.address !== address) continue;
            this.pending.delete(id);
            pend.reject(err ?? new CommClosedError(`connection to ${address} closed`));
          }
        });
        return comm;
      });
      p.catch(() => this.conns.delete(address));
      this.conns.set(address, p);
    }
    return p;
  }

  private onMessage(msg: Message, bufs: Buffer[] | undefined): void {
    if (msg.op !== 'data') return;
    const pend = this.pending.get(msg.id as number);
    if (!pend) return;
    this.pending.delete(msg.id as number);
    const keys = msg.keys as string[];
    const data = new Map<string, Buffer>();
    keys.forEach((k, i) => data.set(k, (bufs ?? [])[i] as Buffer));
    pend.resolve({ data, missing: (msg.missing as string[]) ?? [] });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.close()).catch(() => undefined)));
  }
}

/** Serve `get-data` requests on a comm from a lookup (replies keep request order per connection). */
export function serveData(comm: Comm, lookup: (key: string) => Buffer | undefined | Promise<Buffer | undefined>): void {
  let chain: Promise<void> = Promise.resolve();
  comm.onMessage((msg) => {
    if (msg.op !== 'get-data') return;
    const keys = Array.isArray(msg.keys) ? (msg.keys as unknown[]).filter((k): k is string => typeof k === 'string') : [];
    chain = chain.then(async () => {
      const found: string[] = [];
      const bufs: Buffer[] = [];
      const missing: string[] = [];
      for (const k of keys) {
        const b = await lookup(k);
        if (b) {
          found.push(k);
          bufs.push(b);
        } else missing.push(k);
      }
      await comm.drained();
      comm.send({ op: 'data', id: msg.id, keys: found, missing }, bufs);
    }).catch(() => comm.destroy());
  });
}
