/**
 * Reused receive memory for large frames (issue 19 #1).
 *
 * Why: the kernel's receive copy into a freshly allocated 100 MiB buffer
 * page-faults on every 4 KiB page (about 45 ms per 100 MiB here, more than
 * the copy itself; bench/FINDINGS.md §3). Memory that held an earlier frame
 * is already mapped. So large frame bodies are taken from this pool, sized
 * from the frame header (never grown by copying), and given back once nobody
 * can read them any more.
 *
 * When a body goes back. Only a body whose results entered the worker's
 * DataStore, or that its owner `release`d (a shuffle push whose shards were
 * stored), is ever reused (others, such as a client's results or a compute
 * batch, are left to the garbage collector), and only once all of:
 * - every result sliced from it has left the store (`unstore`: freed or spilled);
 * - no socket write of it is pending (`pin` on send, `unpin` when written);
 * - no task thread still holds a view of it: a thread pins it until its own
 *   copy of the SharedArrayBuffer object is garbage-collected (a
 *   FinalizationRegistry in worker/thread.ts reports that), so even a task
 *   that kept its input in a global never sees the memory reused;
 * - it was never handed to a task run on the main thread (`expose`): that
 *   memory is never reused, as the main thread cannot tell when user code
 *   lets go of it.
 * Idle memory is capped (`capBytes`); past the cap a body is dropped to the
 * garbage collector instead. The worker reports `idleBytes` and drops idle
 * memory (`trim`) when it must spill.
 */

/** Frames at least this large are received into pooled memory (smaller ones are cheap to copy). */
export const POOLED_FRAME_BYTES = 256 * 1024;
/** Default cap on idle pooled memory. */
export const DEFAULT_POOL_CAP_BYTES = 256 * 1024 * 1024;
/** Allocation granularity: bodies of similar size share entries. */
const GRANULE = 64 * 1024;

interface Body {
  readonly sab: SharedArrayBuffer;
  /** Results from it in the store now. */
  stored: number;
  everStored: boolean;
  /** Pending socket writes and thread views. */
  pins: number;
  exposed: boolean;
}

export interface BufferPoolStats {
  idleBytes: number;
  /** Bodies served from idle memory. */
  reused: number;
  /** Bodies that needed new memory. */
  allocated: number;
  /** Bodies given back for reuse. */
  recycled: number;
  /** Bodies left to the garbage collector because the pool was full. */
  dropped: number;
}

export class BufferPool {
  private readonly idle: SharedArrayBuffer[] = [];
  private readonly bodies = new WeakMap<ArrayBufferLike, Body>();
  private readonly threadPins = new Map<number, Body>();
  private nextPin = 1;
  readonly stats: BufferPoolStats = { idleBytes: 0, reused: 0, allocated: 0, recycled: 0, dropped: 0 };
  /** Called with the size of each new body (not one reused): the worker collects garbage by it (worker/memory.ts). */
  onAllocate: ((bytes: number) => void) | undefined;

  constructor(public capBytes = DEFAULT_POOL_CAP_BYTES) {}

  get idleBytes(): number {
    return this.stats.idleBytes;
  }

  /** A body of exactly `len` bytes: idle memory that fits (at most twice as large), else new memory. */
  acquire(len: number): Buffer {
    let best = -1;
    for (let i = 0; i < this.idle.length; i++) {
      const size = (this.idle[i] as SharedArrayBuffer).byteLength;
      if (size >= len && size <= 2 * len && (best < 0 || size < (this.idle[best] as SharedArrayBuffer).byteLength)) best = i;
    }
    let sab: SharedArrayBuffer;
    if (best >= 0) {
      sab = this.idle.splice(best, 1)[0] as SharedArrayBuffer;
      this.stats.idleBytes -= sab.byteLength;
      this.stats.reused++;
    } else {
      sab = new SharedArrayBuffer(Math.ceil(len / GRANULE) * GRANULE);
      this.stats.allocated++;
      this.onAllocate?.(sab.byteLength);
    }
    this.bodies.set(sab, { sab, stored: 0, everStored: false, pins: 0, exposed: false });
    return Buffer.from(sab, 0, len);
  }

  private bodyOf(buf: Uint8Array): Body | undefined {
    return buf.buffer instanceof SharedArrayBuffer ? this.bodies.get(buf.buffer) : undefined;
  }

  /** True when `buf` views pooled memory that may be reused later. */
  owns(buf: Uint8Array): boolean {
    return this.bodyOf(buf) !== undefined;
  }

  /** A result viewing `buf` entered the store. */
  store(buf: Uint8Array): void {
    const b = this.bodyOf(buf);
    if (!b) return;
    b.stored++;
    b.everStored = true;
  }

  /** A result viewing `buf` left the store (freed, or spilled to disk). */
  unstore(buf: Uint8Array): void {
    const b = this.bodyOf(buf);
    if (!b) return;
    b.stored--;
    this.settle(b);
  }

  /**
   * The owner of a body that never enters the store is done with it (a shuffle push, once its shards are
   * copied or written out): it is reused like a body whose results left the store, once nobody pins it.
   */
  release(buf: Uint8Array): void {
    const b = this.bodyOf(buf);
    if (!b) return;
    b.everStored = true;
    this.settle(b);
  }

  /** Someone (a socket write) reads `buf` until `unpin`. */
  pin(buf: Uint8Array): boolean {
    const b = this.bodyOf(buf);
    if (!b) return false;
    b.pins++;
    return true;
  }

  unpin(buf: Uint8Array): void {
    const b = this.bodyOf(buf);
    if (!b) return;
    b.pins--;
    this.settle(b);
  }

  /** A task thread gets a view of `buf`: pinned until the thread reports the id back (0: not pooled). */
  pinForThread(buf: Uint8Array): number {
    const b = this.bodyOf(buf);
    if (!b) return 0;
    b.pins++;
    const id = this.nextPin++;
    this.threadPins.set(id, b);
    return id;
  }

  /** A thread's views of these pins are gone (its SharedArrayBuffer objects were collected). */
  unpinThread(ids: readonly number[]): void {
    for (const id of ids) {
      const b = this.threadPins.get(id);
      if (!b) continue;
      this.threadPins.delete(id);
      b.pins--;
      this.settle(b);
    }
  }

  /** A thread died: every view it held is gone with it. */
  unpinAllThreadPins(ids: Iterable<number>): void {
    this.unpinThread([...ids]);
  }

  /** User code on the main thread saw `buf`: its memory is never reused. */
  expose(buf: Uint8Array): void {
    const b = this.bodyOf(buf);
    if (b) b.exposed = true;
  }

  /** Drop idle memory (memory pressure). Returns the bytes dropped. */
  trim(): number {
    const n = this.stats.idleBytes;
    this.idle.length = 0;
    this.stats.idleBytes = 0;
    return n;
  }

  private settle(b: Body): void {
    if (b.stored > 0 || b.pins > 0 || !b.everStored || b.exposed) return;
    this.bodies.delete(b.sab);
    if (this.stats.idleBytes + b.sab.byteLength > this.capBytes) {
      this.stats.dropped++;
      return;
    }
    this.idle.push(b.sab);
    this.stats.idleBytes += b.sab.byteLength;
    this.stats.recycled++;
  }
}

/** The process's pool: frame decoders take from it; the worker's store and comms give back. */
export const receivePool = new BufferPool();
