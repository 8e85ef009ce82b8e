import type { Socket } from 'node:net';
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { receivePool } from './buffer-pool.ts';
import { CommClosedError, MalformedFrameError, ProtocolError } from './errors.ts';
import { FrameDecoder, PLAIN_PREFIX_BYTES, attachmentPads, encodePrefix, framePlain, parseBody } from './framing.ts';
import { soon } from '../shared/core/soon.ts';

/**
 * One message as it comes off the wire, before its direction's decoder
 * (comm/protocol) has checked it. `op` names the handler on the other side.
 * Typed messages for each direction live in comm/protocol.
 */
export interface Message {
  op: string;
  [field: string]: unknown;
}

export type MessageHandler = (msg: Message, buffers: Buffer[] | undefined) => void;

/** Buffers at or above this total size travel as raw frame attachments (never copied into msgpack). */
export const ATTACH_THRESHOLD = 64 * 1024;
/** Frames under load are at most this often per connection (like Dask's BatchedSend interval). */
export const COALESCE_MS = 1;
/** A connection counts as loaded when its last frame carried at least this many messages. */
export const COALESCE_MIN_MESSAGES = 4;
/** `needsDrain` turns true when this many bytes wait in the socket. */
export const HIGH_WATER_MARK = 8 * 1024 * 1024;
/**
 * A frame whose attachments reach this size is handed to the kernel in
 * `WRITE_SLICE` pieces, the next only once the last was written, instead of
 * one writev of everything. Linux loopback, 100 MiB between two processes
 * (`bench/micro-write-slices.ts`): 1 MiB writes moved 4,340-4,570 MB/s with
 * 23-24 ms of sender CPU per copy, 4 MiB writes 3,300 with 31 ms, one
 * 100 MiB write 2,800-3,040 with 32-34 ms (the kernel's send path costs
 * more once a write is larger than the socket buffer).
 */
export const PACED_WRITE_THRESHOLD = 2 * 1024 * 1024;
export const WRITE_SLICE = 1024 * 1024;
/** `close()` ends the connection gracefully for at most this long, then drops it. */
export const CLOSE_GRACE_MS = 2000;

interface OutPiece {
  buf: Buffer;
  /** Called once the last byte of `buf` was written, or when the connection closes first. */
  done?: () => void;
}

/**
 * The header of a frame received into pooled (shared) memory, copied out.
 * msgpackr's native string extraction (msgpackr-extract) refuses a
 * SharedArrayBuffer, and msgpackr then decodes every string of the source in
 * JavaScript, building each from an array of char codes: unpacking a
 * `finished` batch took 280 instead of 65 ns per task (84 with this copy,
 * `bench/micro-unpack-shared.ts`), and the scheduler's string decoding was
 * 38 % of everything it allocated during a no-op map (bench/FINDINGS.md §1b).
 * The attachments stay where they are.
 */
function unshared(header: Buffer): Buffer {
  return header.buffer instanceof SharedArrayBuffer ? Buffer.from(header) : header;
}

function unpinAll(bufs: readonly Buffer[]): void {
  for (const b of bufs) receivePool.unpin(b);
}

/** New msgpack codecs for one direction of one connection (records are defined in-band, once). */
export function newPackr(): Packr {
  return new Packr({ sequential: true, useRecords: true, moreTypes: false });
}
export function newUnpackr(): Unpackr {
  return new Unpackr({ sequential: true, useRecords: true });
}

/**
 * A framed, batched msgpack connection (after the handshake).
 *
 * Messages given to `send` within one turn of the event loop go out as one
 * frame (like Dask's BatchedSend): the batch is flushed on `setImmediate`.
 * Buffers passed alongside a message reach the receiver's handler as
 * `buffers`; large ones are written as attachments without copying.
 */
export class Comm {
  readonly peer: string;
  /** The peer's IP address as this side sees it (IPv4-mapped IPv6 unwrapped). */
  readonly remoteHost: string;
  private readonly packr = newPackr();
  private readonly unpackr = newUnpackr();
  private queue: Message[] = [];
  private attachments: Buffer[] = [];
  /** Pooled buffers queued to be written: the pool must not reuse them until they are (buffer-pool.ts). */
  private pinned: Buffer[] = [];
  private scheduled = false;
  private closed = false;
  private handler: MessageHandler = () => {};
  private protocolErrorHandler: ((err: ProtocolError) => void) | undefined;
  private closeHandlers: Array<(err?: Error) => void> = [];
  private drainWaiters: Array<() => void> = [];
  /** Pieces of large frames not yet handed to the socket, in order (see PACED_WRITE_THRESHOLD). */
  private outbox: OutPiece[] = [];
  private outboxHead = 0;
  private outboxBytes = 0;
  private outboxEmptyWaiters: Array<() => void> = [];
  private lastFlushAt = 0;
  private lastFlushCount = 0;
  private queuedWeight = 0;
  /** Frames and messages received so far (observability and tests). */
  stats = { framesIn: 0, framesOut: 0, messagesIn: 0, messagesOut: 0 };

  constructor(
    private readonly socket: Socket,
    private readonly decoder: FrameDecoder = new FrameDecoder(),
    pendingBodies: Buffer[] = [],
    /** The socket was created with `onread` and its reader calls `receive`; no 'data' listener. */
    externalReader = false,
  ) {
    this.peer = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    this.remoteHost = (socket.remoteAddress ?? '').replace(/^::ffff:/, '');
    this.decoder.maxFrameBytes = 0xffffffff;
    socket.setNoDelay(true);
    if (!externalReader) socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (err) => this.shutdown(err));
    socket.on('close', () => this.shutdown());
    if (pendingBodies.length > 0) {
      // Frames that arrived together with the handshake; deliver once a handler is set.
      setImmediate(() => {
        for (const body of pendingBodies) if (!this.closed) this.deliver(body);
      });
    }
  }

  /** Set the handler for incoming messages (one per connection). */
  onMessage(handler: MessageHandler): void {
    this.handler = handler;
  }

  /**
   * Report garbage (a frame that is not msgpack, a message without an op)
   * here instead of only dropping the connection; a message without an op
   * is then skipped and the connection stays up.
   */
  onProtocolError(handler: (err: ProtocolError) => void): void {
    this.protocolErrorHandler = handler;
  }

  onClose(handler: (err?: Error) => void): void {
    if (this.closed) soon(() => handler());
    else this.closeHandlers.push(handler);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Bytes accepted but not yet handed to the kernel. */
  get bufferedBytes(): number {
    return this.socket.writableLength + this.outboxBytes;
  }

  get needsDrain(): boolean {
    return this.bufferedBytes >= HIGH_WATER_MARK;
  }

  /** Resolves when the socket buffer is below the high-water mark (or the comm closed). */
  drained(): Promise<void> {
    if (!this.needsDrain || this.closed) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /**
   * Queue a message (and its buffers) for the next batch. `weight` is how many
   * items it carries (a batch of 500 results weighs 500), for the load check.
   */
  send(msg: Message, buffers?: readonly Buffer[], weight = 1): void {
    if (this.closed) return;
    this.queuedWeight += weight;
    if (buffers && buffers.length > 0) {
      let total = 0;
      for (const b of buffers) {
        total += b.byteLength;
        if (receivePool.pin(b)) this.pinned.push(b);
      }
      if (total >= ATTACH_THRESHOLD) {
        msg._a = [this.attachments.length, buffers.length];
        for (const b of buffers) this.attachments.push(b);
      } else {
        msg._i = buffers;
      }
    }
    this.queue.push(msg);
    this.stats.messagesOut++;
    if (!this.scheduled) {
      this.scheduled = true;
      // Under load (the last frame carried several messages less than COALESCE_MS ago) wait a
      // little so frames carry more messages; an idle connection sends on the next turn.
      if (this.lastFlushCount >= COALESCE_MIN_MESSAGES && performance.now() - this.lastFlushAt < COALESCE_MS) setTimeout(this.flushBound, COALESCE_MS);
      else soon(this.flushBound);
    }
  }

  private readonly flushBound = () => this.flush();

  /** Write the pending batch now. */
  flush(): void {
    this.scheduled = false;
    if (this.closed || this.queue.length === 0) return;
    const batch = this.queue;
    const atts = this.attachments;
    const pinned = this.pinned;
    this.pinned = [];
    this.lastFlushAt = performance.now();
    this.lastFlushCount = this.queuedWeight;
    this.queuedWeight = 0;
    this.queue = [];
    this.attachments = [];
    this.stats.framesOut++;
    const s = this.socket;
    if (atts.length === 0 && this.outboxHead === this.outbox.length) {
      // The usual frame: packed after room for its prefix, and handed to the socket as one buffer
      // (no prefix allocation, no concatenation, no cork). Inline buffers were copied into it.
      const framed = this.packr.pack(batch, RESERVE_START_SPACE | PLAIN_PREFIX_BYTES);
      framePlain(framed);
      s.write(framed);
      if (pinned.length > 0) unpinAll(pinned);
      return;
    }
    const header = this.packr.pack(batch);
    const prefix = encodePrefix(header.length, atts);
    let attBytes = 0;
    for (const a of atts) attBytes += a.byteLength;
    if (attBytes >= PACED_WRITE_THRESHOLD || this.outboxHead < this.outbox.length) {
      // Behind a paced frame, every later frame waits its turn in the outbox (frames stay in order).
      const pieces: OutPiece[] = [{ buf: prefix }, { buf: header }];
      const pads = attachmentPads(header.length, atts);
      for (let i = 0; i < atts.length; i++) {
        const pad = pads[i] as Buffer;
        if (pad.length > 0) pieces.push({ buf: pad });
        pieces.push({ buf: atts[i] as Buffer });
      }
      if (pinned.length > 0) (pieces[pieces.length - 1] as OutPiece).done = () => unpinAll(pinned);
      for (const p of pieces) {
        this.outbox.push(p);
        this.outboxBytes += p.buf.byteLength;
      }
      if (!s.writableNeedDrain) this.pump();
      return;
    }
    s.cork();
    s.write(prefix);
    s.write(header);
    // Pooled buffers are released once the socket has written the last attachment (writes complete in order).
    const pads = attachmentPads(header.length, atts);
    const last = atts.length - 1;
    for (let i = 0; i <= last; i++) {
      const pad = pads[i] as Buffer;
      if (pad.length > 0) s.write(pad);
      s.write(atts[i] as Buffer, i === last && pinned.length > 0 ? () => unpinAll(pinned) : undefined);
    }
    s.uncork();
  }

  /**
   * Hand the socket the outbox's next WRITE_SLICE bytes (small pieces ride
   * along in one writev), and stop once the socket holds a slice it has not
   * written yet: 'drain' resumes.
   */
  private pump(): void {
    const s = this.socket;
    while (!this.closed && this.outboxHead < this.outbox.length && !s.writableNeedDrain) {
      s.cork();
      let room = WRITE_SLICE;
      while (room > 0 && this.outboxHead < this.outbox.length) {
        const piece = this.outbox[this.outboxHead] as OutPiece;
        if (piece.buf.byteLength > room) {
          s.write(piece.buf.subarray(0, room));
          piece.buf = piece.buf.subarray(room);
          this.outboxBytes -= room;
          room = 0;
        } else {
          this.outbox[this.outboxHead++] = undefined as unknown as OutPiece;
          s.write(piece.buf, piece.done);
          this.outboxBytes -= piece.buf.byteLength;
          room -= piece.buf.byteLength;
        }
      }
      s.uncork();
    }
    if (this.outboxHead === this.outbox.length && this.outbox.length > 0) {
      this.outbox = [];
      this.outboxHead = 0;
      const waiters = this.outboxEmptyWaiters;
      this.outboxEmptyWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Flush, then end the connection gracefully. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.flush();
    const closed = new Promise<void>((resolve) => this.socket.once('close', () => resolve()));
    // Whatever a peer has not read after the grace period is dropped with the connection (the outbox included).
    const grace = setTimeout(() => this.socket.destroy(), CLOSE_GRACE_MS);
    grace.unref();
    if (this.outboxHead < this.outbox.length) await new Promise<void>((resolve) => this.outboxEmptyWaiters.push(resolve));
    if (!this.socket.destroyed) this.socket.end();
    await closed;
    clearTimeout(grace);
  }

  /** Drop the connection at once. */
  destroy(err?: Error): void {
    this.socket.destroy();
    this.shutdown(err);
  }

  /** Frame bodies from an external (`onread`) reader. */
  receive(bodies: Buffer[]): void {
    for (const body of bodies) {
      if (this.closed) return;
      this.deliver(body);
    }
  }

  private onData(chunk: Buffer): void {
    let bodies: Buffer[];
    try {
      bodies = this.decoder.push(chunk);
    } catch (err) {
      this.destroy(err as Error);
      return;
    }
    for (const body of bodies) {
      if (this.closed) return;
      this.deliver(body);
    }
  }

  private deliver(body: Buffer): void {
    let msgs: unknown;
    let attachments: Buffer[];
    try {
      const frame = parseBody(body);
      attachments = frame.attachments;
      msgs = this.unpackr.unpack(unshared(frame.header));
    } catch (err) {
      this.garbage(err instanceof MalformedFrameError ? err : new MalformedFrameError('undecodable frame', { cause: err }), 'the frame is not msgpack');
      return;
    }
    if (!Array.isArray(msgs)) {
      this.garbage(new MalformedFrameError('frame header is not a message batch'), 'the frame is not a list of messages');
      return;
    }
    this.stats.framesIn++;
    for (const m of msgs) {
      if (this.closed) return;
      if (m === null || typeof m !== 'object' || typeof (m as Message).op !== 'string') {
        if (!this.protocolErrorHandler) {
          this.destroy(new MalformedFrameError('message without an op'));
          return;
        }
        this.protocolErrorHandler(new ProtocolError('?', 'op', 'expected a message object with a string op'));
        continue;
      }
      const msg = m as Message;
      let bufs: Buffer[] | undefined;
      if (msg._a !== undefined) {
        const a = msg._a as [number, number];
        bufs = attachments.slice(a[0], a[0] + a[1]);
        delete msg._a;
      } else if (msg._i !== undefined) {
        bufs = msg._i as Buffer[];
        delete msg._i;
      }
      this.stats.messagesIn++;
      try {
        this.handler(msg, bufs);
      } catch (err) {
        this.destroy(new MalformedFrameError(`message "${msg.op}" could not be handled`, { cause: err }));
        return;
      }
    }
  }

  /** An undecodable frame: report it (the peer is told when possible), then end the connection. */
  private garbage(err: MalformedFrameError, problem: string): void {
    if (!this.protocolErrorHandler) {
      this.destroy(err);
      return;
    }
    this.protocolErrorHandler(new ProtocolError('?', '', problem, { cause: err }));
    this.flush();
    this.socket.end();
    this.shutdown(err);
    setTimeout(() => this.socket.destroy(), 2000).unref();
  }

  private onDrain(): void {
    if (this.outboxHead < this.outbox.length) this.pump();
    if (this.needsDrain) return;
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  private shutdown(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    this.attachments = [];
    unpinAll(this.pinned);
    this.pinned = [];
    // Pieces never handed to the socket: release what their writes would have.
    for (let i = this.outboxHead; i < this.outbox.length; i++) this.outbox[i]?.done?.();
    this.outbox = [];
    this.outboxHead = 0;
    this.outboxBytes = 0;
    for (const w of this.outboxEmptyWaiters) w();
    this.outboxEmptyWaiters = [];
    for (const w of this.drainWaiters) w();
    this.drainWaiters = [];
    const handlers = this.closeHandlers;
    this.closeHandlers = [];
    const reason = err ?? new CommClosedError(`connection to ${this.peer} closed`);
    for (const h of handlers) h(reason);
  }
}
