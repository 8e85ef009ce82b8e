import type { Comm } from './comm.ts';
import { CommClosedError, ProtocolError } from './errors.ts';
import { connect } from './handshake.ts';
import { Channel, decodeDataReply, decodeDataRequest, protocolErrorFromNotice, type DataReply, type DataRequest } from './protocol.ts';

export interface GetDataResult {
  data: Map<string, Buffer>;
  missing: string[];
}

interface Pending {
  resolve: (r: GetDataResult) => void;
  reject: (e: Error) => void;
}

/** A shuffle push as the sender writes it (the client adds op and id). */
export type ShardPush = Omit<Extract<DataRequest, { op: 'shuffle-push' }>, 'op' | 'id'>;

/**
 * Fetches stored results from workers' data ports (`get-data`), keeping one
 * connection per worker. Used by workers for dependencies and by clients for
 * large results.
 */
export class DataClient {
  private readonly conns = new Map<string, Promise<Channel<DataReply, DataRequest>>>();
  private readonly pending = new Map<number, Pending & { address: string }>();
  /** Shuffle pushes awaiting their ack: resolve with the refusal reason, or undefined. */
  private readonly acks = new Map<number, { resolve: (refused: string | undefined) => void; reject: (e: Error) => void; address: string }>();
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

  /**
   * Push shuffle shards (buffer i is part i's) to a worker; resolves once it
   * stored them, with its refusal reason if it would not (a forgotten run).
   * Waits for the socket to drain first: the sender's backpressure.
   */
  async pushShards(address: string, push: ShardPush, bufs: readonly Buffer[]): Promise<string | undefined> {
    const channel = await this.connection(address);
    await channel.comm.drained();
    const id = this.nextId++;
    return new Promise<string | undefined>((resolve, reject) => {
      this.acks.set(id, { resolve, reject, address });
      channel.send({ op: 'shuffle-push', id, ...push }, bufs);
    });
  }

  private connection(address: string): Promise<Channel<DataReply, DataRequest>> {
    if (this.closed) return Promise.reject(new CommClosedError('data client closed'));
    let p = this.conns.get(address);
    if (!p) {
      p = connect(address, { token: this.token, hello: { role: this.role }, ...(this.caPem ? { caPem: this.caPem } : {}) }).then(({ comm }) => {
        // A peer whose replies cannot be read cannot be trusted for any pending request: drop it (they fail).
        const channel = new Channel<DataReply, DataRequest>(comm, decodeDataReply, { onProtocolError: (err) => comm.destroy(err) });
        channel.onMessage((msg, bufs) => this.onMessage(address, msg, bufs));
        comm.onClose((err) => {
          this.conns.delete(address);
          for (const [id, pend] of [...this.pending]) {
            if (pend.address !== address) continue;
            this.pending.delete(id);
            pend.reject(err ?? new CommClosedError(`connection to ${address} closed`));
          }
          for (const [id, ack] of [...this.acks]) {
            if (ack.address !== address) continue;
            this.acks.delete(id);
            ack.reject(err ?? new CommClosedError(`connection to ${address} closed`));
          }
        });
        return channel;
      });
      p.catch(() => this.conns.delete(address));
      this.conns.set(address, p);
    }
    return p;
  }

  private onMessage(address: string, msg: DataReply, bufs: Buffer[] | undefined): void {
    if (msg.op === 'error') {
      // The peer refused one of our requests: fail what is pending there rather than wait forever.
      for (const [id, pend] of [...this.pending]) {
        if (pend.address !== address) continue;
        this.pending.delete(id);
        pend.reject(protocolErrorFromNotice(msg.error));
      }
      for (const [id, ack] of [...this.acks]) {
        if (ack.address !== address) continue;
        this.acks.delete(id);
        ack.reject(protocolErrorFromNotice(msg.error));
      }
      return;
    }
    if (msg.op === 'shuffle-ack') {
      const ack = this.acks.get(msg.id);
      this.acks.delete(msg.id);
      ack?.resolve(msg.error);
      return;
    }
    const pend = this.pending.get(msg.id);
    if (!pend) return;
    if ((bufs?.length ?? 0) !== msg.keys.length) throw new ProtocolError('data', 'keys', `expected one buffer per key (${msg.keys.length}), got ${bufs?.length ?? 0}`);
    this.pending.delete(msg.id);
    const data = new Map<string, Buffer>();
    msg.keys.forEach((k, i) => data.set(k, (bufs as Buffer[])[i] as Buffer));
    pend.resolve({ data, missing: msg.missing });
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = [...this.conns.values()];
    this.conns.clear();
    await Promise.all(all.map((p) => p.then((c) => c.comm.close()).catch(() => undefined)));
  }
}

/**
 * Serve `get-data` requests on a comm from a lookup (replies keep request
 * order per connection). A bad request is answered with an `error` message
 * and reported to `onProtocolError`; the connection stays up.
 */
export function serveData(
  comm: Comm,
  lookup: (key: string) => Buffer | undefined | Promise<Buffer | undefined>,
  onProtocolError: (err: ProtocolError) => void = () => {},
  /** Store a shuffle push; resolves with a refusal reason or undefined (worker/shuffle.ts). */
  onShards?: (push: ShardPush, bufs: Buffer[]) => Promise<string | undefined>,
): void {
  let chain: Promise<void> = Promise.resolve();
  const channel = new Channel<DataRequest, DataReply>(comm, decodeDataRequest, { onProtocolError });
  channel.onMessage((msg, bufs) => {
    if (msg.op === 'error') {
      onProtocolError(protocolErrorFromNotice(msg.error));
      return;
    }
    if (msg.op === 'shuffle-push') {
      const { id, op: _op, ...push } = msg;
      const received = bufs ?? [];
      if (received.length !== push.parts.length) throw new ProtocolError('shuffle-push', 'parts', `expected one buffer per part (${push.parts.length}), got ${received.length}`);
      // Pushes are stored concurrently (not behind get-data replies); the ack is the sender's backpressure.
      const stored = onShards ? onShards(push, received) : Promise.resolve('this peer does not receive shuffle shards');
      stored.then(
        (refused) => channel.send({ op: 'shuffle-ack', id, ...(refused === undefined ? {} : { error: refused }) }),
        (err: Error) => channel.send({ op: 'shuffle-ack', id, error: `storing the shards failed: ${err.message}` }),
      );
      return;
    }
    const keys = msg.keys;
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
      channel.send({ op: 'data', id: msg.id, keys: found, missing }, bufs);
    }).catch(() => comm.destroy());
  });
}
