import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../comm/errors.ts';
import { FrameDecoder, encodeFrame, parseBody } from '../../../comm/framing.ts';

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
