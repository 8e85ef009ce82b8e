import { describe, expect, it } from 'vitest';
import { BufferPool, POOLED_FRAME_BYTES, receivePool } from '../../../comm/buffer-pool.ts';
import { FrameDecoder, encodeFrame, parseBody } from '../../../comm/framing.ts';

const MiB = 1024 * 1024;

describe('Class: BufferPool', () => {
  describe('Method: acquire', () => {
    it('reuses the memory of a body once its stored results left the store', () => {
      // Prepare
      const pool = new BufferPool(64 * MiB);
      const first = pool.acquire(3 * MiB);
      const a = first.subarray(0, MiB);
      const b = first.subarray(MiB, 3 * MiB);
      pool.store(a);
      pool.store(b);

      // Act
      pool.unstore(a);
      const whileOneStored = pool.acquire(3 * MiB);
      pool.unstore(b);
      const after = pool.acquire(3 * MiB - 100);

      // Assess
      expect(whileOneStored.buffer).not.toBe(first.buffer);
      expect(after.buffer).toBe(first.buffer);
      expect(after.byteLength).toBe(3 * MiB - 100);
      expect(pool.stats).toMatchObject({ reused: 1, recycled: 1 });
    });

    it('never reuses a body that was not stored, or that user code on the main thread saw', () => {
      const pool = new BufferPool(64 * MiB);
      const transient = pool.acquire(MiB);
      pool.pin(transient);
      pool.unpin(transient);
      const exposed = pool.acquire(MiB);
      pool.store(exposed);
      pool.expose(exposed);
      pool.unstore(exposed);
      expect(pool.idleBytes).toBe(0);
      expect(pool.acquire(MiB).buffer).not.toBe(exposed.buffer);
    });

    it('waits for pending writes and thread views before reusing', () => {
      const pool = new BufferPool(64 * MiB);
      const body = pool.acquire(2 * MiB);
      pool.store(body);
      expect(pool.pin(body)).toBe(true);
      const pin = pool.pinForThread(body);
      pool.unstore(body);
      expect(pool.idleBytes).toBe(0);
      pool.unpin(body);
      expect(pool.idleBytes).toBe(0);
      pool.unpinThread([pin, pin, 12345]);
      expect(pool.idleBytes).toBe(2 * MiB);
    });

    it('reuses a body its owner released (a stored shuffle push) once nobody pins it, and reports new bodies only', () => {
      const pool = new BufferPool(64 * MiB);
      const allocated: number[] = [];
      pool.onAllocate = (n) => allocated.push(n);
      const push = pool.acquire(2 * MiB);
      pool.pin(push);
      pool.release(push);
      expect(pool.idleBytes).toBe(0);
      pool.unpin(push);
      expect(pool.idleBytes).toBe(2 * MiB);
      expect(pool.acquire(2 * MiB).buffer).toBe(push.buffer);
      expect(allocated).toEqual([2 * MiB]);
    });

    it('does not hand out memory more than twice the size asked for, and keeps at most capBytes idle', () => {
      const pool = new BufferPool(5 * MiB);
      const big = pool.acquire(4 * MiB);
      pool.store(big);
      pool.unstore(big);
      expect(pool.acquire(MiB).buffer).not.toBe(big.buffer);
      const second = pool.acquire(4 * MiB);
      expect(second.buffer).toBe(big.buffer);
      const other = pool.acquire(4 * MiB);
      for (const x of [second, other]) {
        pool.store(x);
        pool.unstore(x);
      }
      expect(pool.idleBytes).toBe(4 * MiB);
      expect(pool.stats.dropped).toBe(1);
      expect(pool.trim()).toBe(4 * MiB);
      expect(pool.idleBytes).toBe(0);
    });

    it('ignores buffers it did not hand out', () => {
      const pool = new BufferPool();
      const plain = Buffer.alloc(10);
      expect(pool.owns(plain)).toBe(false);
      expect(pool.pin(plain)).toBe(false);
      expect(pool.pinForThread(Buffer.from(new SharedArrayBuffer(8)))).toBe(0);
      pool.store(plain);
      pool.unstore(plain);
      expect(pool.idleBytes).toBe(0);
    });
  });
});

describe('Class: FrameDecoder (pooled bodies)', () => {
  it('receives a large frame straight into pooled memory sized from its header, in reads of any size', () => {
    // Prepare: a 3 MiB attachment, fed through onread-style reads.
    const payload = Buffer.alloc(3 * MiB);
    for (let i = 0; i < payload.length; i += 4096) payload[i] = (i / 4096) & 255;
    const frame = encodeFrame(Buffer.from('hdr'), [payload]);
    const decoder = new FrameDecoder();
    const bodies: Buffer[] = [];
    let off = 0;

    // Act
    while (off < frame.length) {
      const target = decoder.readTarget();
      const n = Math.min(target.length, frame.length - off, 100_000 + (off % 7919));
      frame.copy(target, 0, off, off + n);
      off += n;
      bodies.push(...decoder.onRead(n));
    }

    // Assess
    expect(bodies).toHaveLength(1);
    const body = bodies[0] as Buffer;
    expect(body.length).toBeGreaterThanOrEqual(POOLED_FRAME_BYTES);
    expect(receivePool.owns(body)).toBe(true);
    const { header, attachments } = parseBody(body);
    expect(header.toString()).toBe('hdr');
    expect(Buffer.compare(attachments[0] as Buffer, payload)).toBe(0);
  });

  it('keeps small frames out of the pool', () => {
    const decoder = new FrameDecoder();
    const [body] = decoder.push(encodeFrame(Buffer.from('x'), [Buffer.alloc(1000)]));
    expect(receivePool.owns(body as Buffer)).toBe(false);
  });
});
