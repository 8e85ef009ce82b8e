import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MalformedFrameError } from '../../../comm/errors.ts';
import { FrameDecoder, encodeFrame, parseBody } from '../../../comm/framing.ts';

describe('Class: FrameDecoder', () => {
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
});
