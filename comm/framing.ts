import { POOLED_FRAME_BYTES, receivePool } from './buffer-pool.ts';
import { MalformedFrameError } from './errors.ts';

/**
 * Wire format. Every frame is
 *
 *     u32 bodyLength | u32 headerLength | u32 attachmentCount | u32 attachmentLength × count | header | attachments
 *
 * (big-endian). Each attachment starts at a multiple of 8 bytes from the
 * start of the body (zero bytes pad the gap before it), so in a pooled receive
 * buffer an Arrow table's columns land 8-byte aligned and Arrow views them in
 * place (comm/table-codec.ts; unaligned, every buffer was copied first: 0.4 s
 * per 49 MB table here). A frame without attachments has no padding.
 * The header is one msgpack value (a batch of messages); the
 * attachments are raw byte ranges (large task results) written with `writev`
 * straight from the caller's Buffers, so big payloads are never copied into
 * the header. On receive a frame that arrived in one chunk is sliced without
 * copying; a frame spread over chunks is assembled once. A frame of
 * POOLED_FRAME_BYTES or more is received into memory from the receive pool
 * (buffer-pool.ts), sized from its length prefix, and on `onread` sockets the
 * kernel writes the rest of it there directly: no copy, no growth, and no
 * page faults when the memory held an earlier frame.
 */
export interface Frame {
  header: Buffer;
  attachments: Buffer[];
}

/*
 * The u32 fields read and written byte by byte: Buffer's readUInt32BE and
 * writeUInt32BE validate their arguments through four to six calls into
 * Node's internals, each interpreted on a fresh cluster, where a round trip
 * made a dozen such calls per message (bench/FINDINGS.md §2k).
 */
function getU32(b: Uint8Array, at: number): number {
  return (b[at] as number) * 0x1000000 + (((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number));
}
function putU32(b: Uint8Array, at: number, v: number): void {
  b[at] = v >>> 24;
  b[at + 1] = v >>> 16;
  b[at + 2] = v >>> 8;
  b[at + 3] = v;
}

/** Bytes before the header of a frame without attachments: body length, header length, attachment count 0. */
export const PLAIN_PREFIX_BYTES = 12;

/**
 * Fill in the prefix of a frame without attachments whose header was packed
 * after PLAIN_PREFIX_BYTES reserved bytes (msgpackr's RESERVE_START_SPACE):
 * one buffer, no copy, one write.
 */
export function framePlain(framed: Uint8Array): void {
  const headerLength = framed.byteLength - PLAIN_PREFIX_BYTES;
  if (headerLength + 8 > 0xffffffff) throw new MalformedFrameError(`frame of ${headerLength + 8} bytes exceeds the 4 GiB limit`);
  putU32(framed, 0, headerLength + 8);
  putU32(framed, 4, headerLength);
  putU32(framed, 8, 0);
}

/** Attachments start at body offsets that are multiples of this. */
export const ATTACHMENT_ALIGN = 8;
const ZEROS = Buffer.alloc(ATTACHMENT_ALIGN);

/** Zero bytes that bring body offset `at` to the next attachment boundary. */
function padAt(at: number): number {
  return (ATTACHMENT_ALIGN - (at % ATTACHMENT_ALIGN)) % ATTACHMENT_ALIGN;
}

/** The padding to write before each attachment (empty buffers where none is needed). */
export function attachmentPads(headerLength: number, attachments: readonly Uint8Array[]): Buffer[] {
  let at = 8 + 4 * attachments.length + headerLength;
  return attachments.map((a) => {
    const pad = padAt(at);
    at += pad + a.byteLength;
    return ZEROS.subarray(0, pad);
  });
}

/** Encode the prefix (lengths) of a frame; the caller writes header, then each attachment after its pad (attachmentPads). */
export function encodePrefix(headerLength: number, attachments: readonly Uint8Array[]): Buffer {
  const n = attachments.length;
  const prefix = Buffer.allocUnsafe(12 + 4 * n);
  let body = 8 + 4 * n + headerLength;
  for (const a of attachments) body += padAt(body) + a.byteLength;
  if (body > 0xffffffff) throw new MalformedFrameError(`frame of ${body} bytes exceeds the 4 GiB limit`);
  putU32(prefix, 0, body);
  putU32(prefix, 4, headerLength);
  putU32(prefix, 8, n);
  for (let i = 0; i < n; i++) putU32(prefix, 12 + 4 * i, (attachments[i] as Uint8Array).byteLength);
  return prefix;
}

/** One buffer holding a whole frame (tests and small control frames). */
export function encodeFrame(header: Uint8Array, attachments: readonly Uint8Array[] = []): Buffer {
  const pads = attachmentPads(header.byteLength, attachments);
  return Buffer.concat([encodePrefix(header.byteLength, attachments), header, ...attachments.flatMap((a, i) => [pads[i] as Buffer, a])]);
}

/** Split a frame body into header and attachments (zero-copy slices). */
export function parseBody(body: Buffer): Frame {
  if (body.length < 8) throw new MalformedFrameError('frame body shorter than its fixed fields');
  const headerLength = getU32(body, 0);
  const n = getU32(body, 4);
  if (8 + 4 * n > body.length) throw new MalformedFrameError('frame declares more attachments than it holds');
  let offset = 8 + 4 * n;
  if (offset + headerLength > body.length) throw new MalformedFrameError('frame header overruns the frame');
  const header = body.subarray(offset, offset + headerLength);
  offset += headerLength;
  const attachments: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const len = getU32(body, 8 + 4 * i);
    const pad = padAt(offset);
    for (let p = 0; p < pad; p++) if (body[offset + p] !== 0) throw new MalformedFrameError('frame padding before an attachment is not zero');
    offset += pad;
    if (offset + len > body.length) throw new MalformedFrameError('frame attachment overruns the frame');
    attachments.push(body.subarray(offset, offset + len));
    offset += len;
  }
  if (offset !== body.length) throw new MalformedFrameError('frame has trailing bytes');
  return { header, attachments };
}

/** What an `onread` socket reads into between large frames, once its peer authenticated. */
const SCRATCH_BYTES = 256 * 1024;
/** The same before (a hello is a few hundred bytes; a larger one arrives over several reads). */
const HELLO_SCRATCH_BYTES = 4 * 1024;

/**
 * Incremental frame decoder. `push` chunks as they arrive; complete frame
 * bodies are handed to `onFrame`. A body larger than `maxFrameBytes` is a
 * protocol violation (used to cap what an unauthenticated peer can make us buffer).
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** A large body being assembled in place. */
  private big: { body: Buffer; filled: number } | undefined;
  maxFrameBytes: number;
  /** Lift `maxFrameBytes` once a first frame was decoded (see the constructor). */
  private liftAfterFirst: boolean;

  /**
   * `liftLimitAfterFirstFrame`: the limit guards only the first frame, as on a
   * connecting side waiting for the listener's handshake reply. The listener
   * writes its first messages right behind the reply, and when both arrive in
   * one read they are decoded together, before the caller could raise the
   * limit: a worker whose registration was followed by a task module over
   * 64 KiB dropped its own connection, and the scheduler counted each drop as
   * a death against the tasks it had just assigned (KilledWorkerError in CI).
   */
  constructor(maxFrameBytes = 0xffffffff, options: { liftLimitAfterFirstFrame?: boolean } = {}) {
    this.maxFrameBytes = maxFrameBytes;
    this.liftAfterFirst = options.liftLimitAfterFirstFrame === true;
  }

  private decodedOne(): void {
    if (!this.liftAfterFirst) return;
    this.liftAfterFirst = false;
    this.maxFrameBytes = 0xffffffff;
  }

  /** Feed bytes; returns the complete frame bodies found (maybe none). */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let data: Buffer | undefined = chunk;
    while (data && data.length > 0) {
      if (this.big) {
        const need = this.big.body.length - this.big.filled;
        const take = Math.min(need, data.length);
        data.copy(this.big.body, this.big.filled, 0, take);
        this.big.filled += take;
        data = take < data.length ? data.subarray(take) : undefined;
        if (this.big.filled === this.big.body.length) {
          out.push(this.big.body);
          this.big = undefined;
        }
        continue;
      }
      this.chunks.push(data);
      this.buffered += data.length;
      data = undefined;
      while (this.buffered >= 4) {
        const first = this.chunks[0] as Buffer;
        const len = first.length >= 4 ? getU32(first, 0) : this.peekLength();
        if (len > this.maxFrameBytes) throw new MalformedFrameError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes}`);
        if (len < 8) throw new MalformedFrameError(`frame of ${len} bytes is too short`);
        if (this.buffered >= 4 + len) {
          out.push(this.take(4 + len).subarray(4));
          this.decodedOne();
          continue;
        }
        if (len >= POOLED_FRAME_BYTES) {
          // Assemble a large frame in one allocation, copying chunks in as they come.
          const have = this.take(this.buffered);
          // Shared memory from the pool: a large result reaches a task thread without another copy.
          const body = receivePool.acquire(len);
          have.copy(body, 0, 4);
          this.big = { body, filled: have.length - 4 };
        }
        break;
      }
    }
    return out;
  }

  private scratch: Buffer | undefined;
  private lastTargetWasBody = false;

  /**
   * For sockets created with `onread`: where the next read should land. While
   * a large frame is being assembled the kernel writes straight into its body
   * (no copy in JavaScript); otherwise into a reused scratch buffer.
   */
  readTarget(): Buffer {
    if (this.big) {
      this.lastTargetWasBody = true;
      return this.big.body.subarray(this.big.filled);
    }
    this.lastTargetWasBody = false;
    // Small while the peer may send only a hello (maxFrameBytes is raised once it authenticated): a flood of
    // connections that never authenticate must not cost 256 KiB of read buffer each.
    const size = this.maxFrameBytes > SCRATCH_BYTES ? SCRATCH_BYTES : HELLO_SCRATCH_BYTES;
    if (this.scratch?.length !== size) this.scratch = Buffer.allocUnsafeSlow(size);
    return this.scratch;
  }

  /** For `onread` sockets: `n` bytes landed in the buffer `readTarget()` returned. */
  onRead(n: number): Buffer[] {
    if (n <= 0) return [];
    if (this.lastTargetWasBody && this.big) {
      this.big.filled += n;
      if (this.big.filled < this.big.body.length) return [];
      const body = this.big.body;
      this.big = undefined;
      return [body];
    }
    const scratch = this.scratch as Buffer;
    if (this.buffered === 0 && n >= 4) {
      // The common case, a lone frame that arrived whole: copy out its body, and nothing else.
      const len = getU32(scratch, 0);
      if (len + 4 === n && len >= 8 && len <= this.maxFrameBytes) {
        const body = Buffer.allocUnsafe(len);
        scratch.copy(body, 0, 4, n);
        this.decodedOne();
        return [body];
      }
    }
    // The scratch buffer is reused: keep an owned copy of what arrived.
    const copy = Buffer.allocUnsafe(n);
    scratch.copy(copy, 0, 0, n);
    return this.push(copy);
  }

  private peekLength(): number {
    const head = Buffer.concat(this.chunks, Math.min(this.buffered, 4));
    return getU32(head, 0);
  }

  /** Remove n bytes from the front; zero-copy when they lie in the first chunk. */
  private take(n: number): Buffer {
    const first = this.chunks[0] as Buffer;
    let result: Buffer;
    if (first.length >= n) {
      result = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      result = Buffer.allocUnsafe(n);
      let filled = 0;
      while (filled < n) {
        const c = this.chunks[0] as Buffer;
        const t = Math.min(c.length, n - filled);
        c.copy(result, filled, 0, t);
        filled += t;
        if (t === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(t);
      }
    }
    this.buffered -= n;
    return result;
  }
}
