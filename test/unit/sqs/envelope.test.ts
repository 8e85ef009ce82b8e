import { Packr } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import {
  ENVELOPE_VERSION, EnvelopeError, EnvelopeRefusal, MAX_INLINE_MESSAGE_BYTES, decodeReplyBody, decodeRequestBody, encodeInline, encodePointer,
  isClusterReplyQueue, needsPointer, packBody, packToFit, readEnvelope, sqsBatches, type OutgoingHeader,
} from '../../../comm/sqs-envelope/index.ts';
import { PROTOCOL_VERSION } from '../../../comm/protocol.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });
const h = (over: Partial<OutgoingHeader> = {}): OutgoingHeader => ({
  id: 'e-1',
  cluster: 'c-1',
  session: 's-1',
  seq: 1,
  kind: 'submit',
  replyQueueUrl: 'http://127.0.0.1:9/000000000000/recc-c-1-reply-s-1',
  sentAt: 1,
  ...over,
});
const refusal = (fn: () => unknown): EnvelopeRefusal => {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvelopeRefusal) return err;
    throw err;
  }
  throw new Error('expected a refusal');
};
const envelopeError = (fn: () => unknown): EnvelopeError => {
  try {
    fn();
  } catch (err) {
    if (err instanceof EnvelopeError) return err;
    throw err;
  }
  throw new Error('expected an EnvelopeError');
};
const graph = { op: 'update-graph', tasks: [{ key: 'k', fn: 'f', args: new Uint8Array([1]), deps: [], resources: null, retries: 0 }], wants: ['k'], fns: [['f', { kind: 'inline', name: 'f', source: 'x => x' }]] };

describe('Module: comm/sqs-envelope', () => {
  describe('Function: readEnvelope + decodeRequestBody', () => {
    it('round-trips a submit carrying comm/protocol messages', () => {
      // Act
      const env = readEnvelope(encodeInline(h(), packBody({ m: [[graph, null]] })));
      const body = decodeRequestBody('submit', env.b as Uint8Array);

      // Assess
      expect(env).toMatchObject({ v: ENVELOPE_VERSION, p: PROTOCOL_VERSION, id: 'e-1', s: 's-1', k: 'submit', q: 1 });
      expect(body.m[0]?.[0]).toMatchObject({ op: 'update-graph', wants: ['k'] });
      expect(body.m[0]?.[0].op === 'update-graph' && body.m[0][0].tasks[0]?.args).toBeInstanceOf(Uint8Array);
    });

    it('refuses what is not base64 or not msgpack as undecodable, with no sender to tell', () => {
      for (const text of ['not base64 at all!', Buffer.from([0xc1, 0xc1]).toString('base64'), '', Buffer.from(packr.pack([1, 2])).toString('base64')]) {
        const r = refusal(() => readEnvelope(text));
        expect(r.error.problem).toBe('undecodable');
        expect(r.from).toEqual({});
      }
    });

    it('refuses an unknown version naming both versions, and keeps the sender so it can be told', () => {
      // Prepare
      const text = packr.pack({ v: 99, p: PROTOCOL_VERSION, id: 'e-9', c: 'c-1', s: 's-1', q: 1, k: 'submit', t: 1, rq: 'http://q/recc-c-1-reply-s-1', b: new Uint8Array() }).toString('base64');

      // Act
      const r = refusal(() => readEnvelope(text));

      // Assess
      expect(r.error).toMatchObject({ problem: 'unsupported-version', path: 'v' });
      expect(r.error.message).toMatch(/envelope version the number 99 is not supported; this side speaks version 1/);
      expect(r.from).toEqual({ id: 'e-9', session: 's-1', cluster: 'c-1', replyQueueUrl: 'http://q/recc-c-1-reply-s-1' });
    });

    it('names the field path of a bad header and of a bad message inside the body', () => {
      const badHeader = packr.pack({ v: 1, p: PROTOCOL_VERSION, id: 7, c: 'c', s: 's', q: 1, k: 'submit', t: 1, rq: 'x', b: new Uint8Array() }).toString('base64');
      expect(refusal(() => readEnvelope(badHeader)).error).toMatchObject({ problem: 'invalid-field', path: 'id' });
      const badKind = packr.pack({ v: 1, p: PROTOCOL_VERSION, id: 'e', c: 'c', s: 's', q: 1, k: 'launch', t: 1, rq: 'x', b: new Uint8Array() }).toString('base64');
      expect(refusal(() => readEnvelope(badKind)).error.path).toBe('k');
      const both = packr.pack({ v: 1, p: PROTOCOL_VERSION, id: 'e', c: 'c', s: 's', q: 1, k: 'ping', t: 1, rq: 'x', b: new Uint8Array(), ptr: { bucket: 'b', key: 'k', size: 1 } }).toString('base64');
      expect(refusal(() => readEnvelope(both)).error.path).toBe('b');
      const noQueue = packr.pack({ v: 1, p: PROTOCOL_VERSION, id: 'e', c: 'c', s: 's', q: 1, k: 'ping', t: 1, b: new Uint8Array() }).toString('base64');
      expect(refusal(() => readEnvelope(noQueue)).error.path).toBe('rq');

      const badTask = { ...graph, tasks: [{ ...graph.tasks[0], deps: [3] }] };
      const err = envelopeError(() => decodeRequestBody('submit', packBody({ m: [[graph, null], [badTask, null]] })));
      expect(err).toMatchObject({ problem: 'invalid-field', path: 'b.m[1][0].tasks[0].deps[0]' });
      expect(err.message).toMatch(/expected a string, got the number 3/);
      expect(envelopeError(() => decodeRequestBody('submit', packBody({ m: [[{ op: 'who-has', id: 1, keys: [] }, null]] }))).path).toBe('b.m[0][0].op');
      expect(envelopeError(() => decodeRequestBody('status', packBody({ op: 'who-has' }))).path).toBe('b.keys');
      expect(envelopeError(() => decodeRequestBody('cancel', Buffer.from([0xc1]))).problem).toBe('undecodable');
    });

    it('does not let a __proto__ key reach an object prototype', () => {
      const text = Buffer.concat([Buffer.from([0x81, 0xa9]), Buffer.from('__proto__'), Buffer.from([0x81, 0xa4]), Buffer.from('keys'), Buffer.from([0x90])]);
      const body = decodeRequestBody('release', Buffer.from(packr.pack({ keys: ['a'] })));
      expect(body.keys).toEqual(['a']);
      expect(() => decodeRequestBody('release', text)).toThrow(EnvelopeError);
      expect(({} as Record<string, unknown>).keys).toBeUndefined();
    });

    it('checks reply bodies: scheduler events through their own decoder, replies kept apart', () => {
      const ok = decodeReplyBody('result', packBody({ m: [[{ op: 'in-memory', k: ['a'], n: [1], di: [0] }, [new Uint8Array([1])]]] }));
      expect(ok.m?.[0]?.[0].op).toBe('in-memory');
      expect(envelopeError(() => decodeReplyBody('result', packBody({ m: [[{ op: 'in-memory', k: ['a'], n: [1, 2], di: [0] }, null]] }))).path).toBe('b.m[0][0].n');
      expect(envelopeError(() => decodeReplyBody('result', packBody({ m: [[{ op: 'reply', id: 1 }, null]] }))).path).toBe('b.m[0][0].op');
    });
  });

  describe('Function: needsPointer / encodePointer', () => {
    it('sends a body through S3 when its base64 message would pass the inline limit', () => {
      expect(needsPointer(100_000, h())).toBe(false);
      expect(needsPointer(MAX_INLINE_MESSAGE_BYTES, h())).toBe(true);
      const text = encodeInline(h(), new Uint8Array(140_000));
      expect(text.length).toBeLessThanOrEqual(MAX_INLINE_MESSAGE_BYTES);
      const env = readEnvelope(encodePointer(h(), { bucket: 'b', key: 'clusters/c-1/envelopes/s-1/e-1', size: 5 }));
      expect(env.ptr).toEqual({ bucket: 'b', key: 'clusters/c-1/envelopes/s-1/e-1', size: 5 });
    });
  });

  describe('Function: packToFit / sqsBatches', () => {
    it('packs many items per body, splitting only what does not fit', () => {
      const items = Array.from({ length: 10_000 }, (_, i) => `key-${i}`);
      const parts = packToFit(items, (p) => packBody({ keys: p }), (n) => n <= 20_000);
      expect(parts.flatMap((p) => p.items)).toEqual(items);
      expect(parts.every((p) => p.body.length <= 20_000)).toBe(true);
      expect(parts.length).toBeLessThan(16);
      expect(packToFit(['x'.repeat(100)], (p) => packBody({ keys: p }), () => false)).toHaveLength(1);
    });

    it('groups SQS batch entries by 10 and by 256 KiB', () => {
      expect(sqsBatches(Array.from({ length: 25 }, () => 10), (n) => n).map((b) => b.length)).toEqual([10, 10, 5]);
      expect(sqsBatches([200_000, 100_000, 10], (n) => n).map((b) => b.length)).toEqual([1, 2]);
    });
  });

  describe('Function: isClusterReplyQueue', () => {
    it("accepts only this cluster's reply queues on the same account path", () => {
      const route = { requestQueueUrl: 'http://127.0.0.1:9/000000000000/recc-c-1-requests.fifo', replyQueuePrefix: 'recc-c-1-reply-' };
      expect(isClusterReplyQueue(route, 'http://127.0.0.1:9/000000000000/recc-c-1-reply-s1')).toBe(true);
      expect(isClusterReplyQueue(route, 'http://127.0.0.1:9/000000000000/recc-c-2-reply-s1')).toBe(false);
      expect(isClusterReplyQueue(route, 'http://evil:9/000000000000/recc-c-1-reply-s1')).toBe(false);
      expect(isClusterReplyQueue(route, 'http://127.0.0.1:9/111111111111/recc-c-1-reply-s1')).toBe(false);
    });
  });
});
