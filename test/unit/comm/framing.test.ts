import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../comm/errors.ts';
import { FrameDecoder, PLAIN_PREFIX_BYTES, encodeFrame, framePlain, parseBody } from '../../../comm/framing.ts';

describe('Class: FrameDecoder', () => {
  it('reads into a small buffer while only a hello may come, and a 256 KiB one once the limit is raised', () => {
    const d = new FrameDecoder(64 * 1024);
    expect(d.readTarget().length).toBe(4 * 1024);
    // A frame arriving over several small reads still decodes.
    const frame = encodeFrame(Buffer.alloc(10_000, 7));
    let bodies: Buffer[] = [];
    for (let at = 0; at < frame.length; ) {
      const target = d.readTarget();
      const n = Math.min(target.length, frame.length - at);
      frame.copy(target, 0, at, at + n);
      at += n;
      bodies = bodies.concat(d.onRead(n));
    }
    expect(bodies).toHaveLength(1);
    d.maxFrameBytes = 0xffffffff;
    expect(d.readTarget().length).toBe(256 * 1024);
  });

  describe('Method: onRead', () => {
    /** Deliver `wire` through readTarget/onRead in reads of the given sizes (cycled). */
    function readAll(d: FrameDecoder, wire: Buffer, sizes: readonly number[]): Buffer[] {
      const out: Buffer[] = [];
      for (let at = 0, i = 0; at < wire.length; i++) {
        const target = d.readTarget();
        const n = Math.min(target.length, wire.length - at, sizes[i % sizes.length] as number);
        wire.copy(target, 0, at, at + n);
        at += n;
        out.push(...d.onRead(n));
      }
      return out;
    }

    it('hands out each frame body as its own copy, whether frames arrive alone, together or split', () => {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ minLength: 0, maxLength: 300 }), { minLength: 1, maxLength: 5 }),
          fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 8 }),
          (headers, sizes) => {
            const d = new FrameDecoder();
            d.maxFrameBytes = 0xffffffff;
            const frames = headers.map((h) => encodeFrame(h));
            const bodies = readAll(d, Buffer.concat(frames), sizes);
            // The scratch buffer is overwritten by the next read: a body that aliased it would now differ.
            d.readTarget().fill(0xee);
            expect(bodies.map((b) => [...b])).toEqual(frames.map((f) => [...f.subarray(4)]));
          },
        ),
        { numRuns: 200 },
      );
    });

    it('rejects a lone whole frame that declares more than the limit or fewer bytes than a body has', () => {
      const d = new FrameDecoder(64);
      const over = encodeFrame(Buffer.alloc(100));
      over.copy(d.readTarget());
      expect(() => d.onRead(over.length)).toThrow(/exceeds the limit/);

      const e = new FrameDecoder();
      const short = Buffer.from([0, 0, 0, 2, 1, 1]);
      short.copy(e.readTarget());
      expect(() => e.onRead(short.length)).toThrow(/too short/);
    });

    it('holds only the first frame to the limit when asked, as a connecting side does for the handshake reply', () => {
      const reply = encodeFrame(Buffer.alloc(20, 1));
      const next = encodeFrame(Buffer.alloc(5_000, 2));
      const both = Buffer.concat([reply, next]);
      const read = (d: FrameDecoder) => {
        both.copy(d.readTarget());
        return d.onRead(both.length);
      };
      // Both in one read: the frame behind the reply is the listener's first message, not a hello.
      expect(read(new FrameDecoder(64, { liftLimitAfterFirstFrame: true })).map((b) => b.length)).toEqual([reply.length - 4, next.length - 4]);
      expect(() => read(new FrameDecoder(64))).toThrow(/exceeds the limit of 64/);
      // The reply itself is still held to it.
      const lifted = new FrameDecoder(64, { liftLimitAfterFirstFrame: true });
      expect(() => lifted.push(next)).toThrow(/exceeds the limit of 64/);
    });

    it('reads a length with the top bit set as the unsigned number it is', () => {
      const d = new FrameDecoder(1024);
      Buffer.from([0x80, 0, 0, 8, 1, 2, 3, 4, 5, 6, 7, 8]).copy(d.readTarget());
      expect(() => d.onRead(12)).toThrow(/frame of 2147483656 bytes exceeds the limit of 1024/);
    });
  });

  describe('Function: framePlain', () => {
    it('frames a header packed after the reserved prefix exactly as encodeFrame does', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 70_000 }), (header) => {
          const framed = Buffer.alloc(PLAIN_PREFIX_BYTES + header.length, 0xaa);
          framed.set(header, PLAIN_PREFIX_BYTES);
          framePlain(framed);
          expect(framed.equals(encodeFrame(header))).toBe(true);
        }),
        { numRuns: 50 },
      );
    });
  });

  describe('Method: push', () => {
    it('reassembles frames with attachments however the bytes are chunked', () => {
      fc.assert(
        fc.property(
          fc.array(fc.record({ header: fc.uint8Array({ maxLength: 50 }), atts: fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 3 }) }), { minLength: 1, maxLength: 6 }),
          fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 20 }),
          (frames, cuts) => {
            // Prepare
            const wire = Buffer.concat(frames.map((f) => encodeFrame(f.header, f.atts)));
            const decoder = new FrameDecoder();
            const bodies: Buffer[] = [];

            // Act
            let offset = 0;
            let i = 0;
            while (offset < wire.length) {
              const n = cuts[i++ % cuts.length] as number;
              bodies.push(...decoder.push(wire.subarray(offset, offset + n)));
              offset += n;
            }

            // Assess
            expect(bodies.map((b) => parseBody(b))).toEqual(
              frames.map((f) => ({ header: Buffer.from(f.header), attachments: f.atts.map((a) => Buffer.from(a)) })),
            );
          },
        ),
      );
    });

    it('assembles a multi-megabyte frame delivered in small chunks', () => {
      const big = Buffer.alloc(3 * 1024 * 1024, 7);
      const wire = encodeFrame(Buffer.from([1, 2]), [big]);
      const decoder = new FrameDecoder();
      const out: Buffer[] = [];
      for (let o = 0; o < wire.length; o += 65536) out.push(...decoder.push(wire.subarray(o, o + 65536)));
      expect(out).toHaveLength(1);
      expect(parseBody(out[0]!).attachments[0]!.equals(big)).toBe(true);
    });

    it('rejects a frame larger than the limit before buffering it', () => {
      const decoder = new FrameDecoder(1024);
      expect(() => decoder.push(Buffer.from([0, 1, 0, 0]))).toThrow(MalformedFrameError);
    });

    it('rejects bodies that are too short or inconsistent', () => {
      expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 2, 1, 1]))).toThrow(/too short/);
      const body = Buffer.alloc(8);
      body.writeUInt32BE(100, 0);
      expect(() => parseBody(body)).toThrow(/overruns/);
    });
  });

  describe('Function: parseBody', () => {
    it('places every attachment at a multiple of 8 bytes into the body, so a pooled receive buffer holds it aligned for Arrow', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 50 }), fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 5 }), (header, atts) => {
          // Prepare: a large frame arriving in pieces, as from a socket, so the decoder assembles it in pooled memory (body at offset 0)
          const wire = encodeFrame(header, [...atts, Buffer.alloc(300 * 1024, 9)]);
          const decoder = new FrameDecoder();
          expect(decoder.push(wire.subarray(0, 64))).toEqual([]);
          const [body] = decoder.push(wire.subarray(64));

          // Act
          const frame = parseBody(body!);

          // Assess
          expect(body!.byteOffset).toBe(0);
          for (const a of frame.attachments) expect(a.byteOffset % 8).toBe(0);
          expect(frame.attachments.slice(0, -1)).toEqual(atts.map((a) => Buffer.from(a)));
        }),
        { numRuns: 50 },
      );
    });

    it('rejects padding that is not zero (a misframed or hostile peer)', () => {
      // Prepare: header of 1 byte, one attachment of 4 bytes: 8 + 4 + 1 = 13, so 3 bytes of padding precede it
      const frame = encodeFrame(Buffer.from([0xc0]), [Buffer.from([1, 2, 3, 4])]);
      const body = Buffer.from(frame.subarray(4));
      expect(parseBody(body).attachments[0]).toEqual(Buffer.from([1, 2, 3, 4]));

      // Act
      body[13] = 7;

      // Assess
      expect(() => parseBody(body)).toThrow(/padding/);
    });
  });
});
