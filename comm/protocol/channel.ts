import type { Comm, Message } from '../comm.ts';
import { ProtocolError } from '../errors.ts';
import { errorNoticeOf } from './messages.ts';

export interface ChannelOptions {
  /** Told about every message the peer got wrong (after the peer was told); log it here. */
  onProtocolError(err: ProtocolError): void;
  /** A bad message carrying a numeric `id` is answered with an error `reply` (the requester's promise rejects). */
  repliesToRequests?: boolean;
}

/**
 * One connection seen through the protocol: messages in are decoded at the
 * boundary (a bad one is answered with an `error` message, reported to
 * `onProtocolError` and dropped; the connection stays up), messages out are
 * typed. Undecodable frames still close the connection (the stream cannot
 * be trusted past them), after the same report.
 */
export class Channel<In extends { op: string }, Out extends { op: string }> {
  constructor(
    readonly comm: Comm,
    private readonly decode: (raw: unknown) => In,
    private readonly options: ChannelOptions,
  ) {
    comm.onProtocolError((err) => this.refuse(undefined, err));
  }

  get isClosed(): boolean {
    return this.comm.isClosed;
  }

  send(msg: Out, buffers?: readonly Buffer[], weight?: number): void {
    this.comm.send(msg as unknown as Message, buffers, weight);
  }

  onMessage(handler: (msg: In, buffers: Buffer[] | undefined) => void): void {
    this.comm.onMessage((raw, buffers) => {
      let msg: In;
      try {
        msg = this.decode(raw);
      } catch (err) {
        if (!(err instanceof ProtocolError)) throw err;
        this.refuse(raw, err);
        return;
      }
      try {
        handler(msg, buffers);
      } catch (err) {
        // A handler may find a message well-formed but meaningless (an unknown function id): same treatment.
        if (!(err instanceof ProtocolError)) throw err;
        this.refuse(raw, err);
      }
    });
  }

  onClose(handler: (err?: Error) => void): void {
    this.comm.onClose(handler);
  }

  private refuse(raw: Message | undefined, err: ProtocolError): void {
    // Never answer an error with an error: two confused peers would ping-pong forever.
    if (raw?.op !== 'error') {
      const id = raw?.id;
      if (this.options.repliesToRequests && typeof id === 'number') this.comm.send({ op: 'reply', id, error: errorNoticeOf(err) });
      else this.comm.send({ op: 'error', error: errorNoticeOf(err) });
    }
    this.options.onProtocolError(err);
  }
}
