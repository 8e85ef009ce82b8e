import { describe, expect, it } from 'vitest';
import { pack, unpack } from 'msgpackr';
import { decodeValue, encodeValue, encodeValueView } from '../../../comm/payload.ts';
import { SerializationError } from '../../../comm/errors.ts';

/** The error encodeValue throws for `value`, or a failure if it encodes. */
function refusal(value: unknown, root?: string): SerializationError {
  try {
    encodeValue(value, root);
  } catch (err) {
    expect(err).toBeInstanceOf(SerializationError);
    return err as SerializationError;
  }
  throw new Error(`encoded without error: ${String(value)}`);
}

class Point {
  constructor(
    readonly x: number,
    readonly y: number,
  ) {}
  norm(): number {
    return Math.hypot(this.x, this.y);
  }
}

class Plain {
  a = 1;
  b = [2];
}

describe('Function: encodeValue', () => {
  describe('values that cannot travel', () => {
    it('names the path of a function at any depth (objects, arrays, Maps, Sets)', () => {
      expect(refusal(() => 1, 'result').details).toEqual([{ path: 'result', message: expect.stringMatching(/function/) }]);
      expect(refusal({ a: [1, 2, { fn: () => 1 }] }, 'result').details.map((d) => d.path)).toEqual(['result.a[2].fn']);
      expect(refusal(new Map<unknown, unknown>([['k', { f: () => 1 }]]), 'result').details.map((d) => d.path)).toEqual(['result.get("k").f']);
      expect(refusal(new Map([[() => 1, 1]]), 'result').details.map((d) => d.path)).toEqual(['result.keys()[0]']);
      expect(refusal(new Set([1, function named() {}]), 'result').details.map((d) => d.path)).toEqual(['result.values()[1]']);
      expect(refusal({ 'not an id': () => 1 }, 'result').details.map((d) => d.path)).toEqual(['result["not an id"]']);
    });

    it('says what the value is and the first path in the message', () => {
      const err = refusal({ a: [1, 2, { fn: function compute() {} }] }, 'result');
      expect(err.message).toMatch(/result\.a\[2\]\.fn/);
      expect(err.message).toMatch(/is a function \(compute\)/);
      expect(err.statusCode).toBe(400);
    });

    it('names every offending path, not only the first', () => {
      const err = refusal({ a: () => 1, b: [Symbol('s')], c: { d: new WeakMap() } }, 'args');
      expect(err.details.map((d) => d.path)).toEqual(['args.a', 'args.b[0]', 'args.c.d']);
    });

    it('refuses symbols, WeakMap, WeakSet, WeakRef, Promise, generators and boxed primitives', () => {
      const cases: Array<[unknown, RegExp]> = [
        [Symbol('s'), /symbol/],
        [new WeakMap(), /WeakMap/],
        [new WeakSet(), /WeakSet/],
        [new WeakRef({}), /WeakRef/],
        [Promise.resolve(1), /Promise.*await/],
        [(function* gen() {})(), /generator|Generator/],
        [new Number(3), /Number/],
      ];
      for (const [value, message] of cases) {
        const err = refusal({ v: value }, 'result');
        expect(err.details).toEqual([{ path: 'result.v', message: expect.stringMatching(message) }]);
      }
    });

    it('refuses class instances whose methods would be lost, naming the class and methods', () => {
      const err = refusal({ p: new Point(3, 4) }, 'result');
      expect(err.details).toEqual([{ path: 'result.p', message: expect.stringMatching(/Point.*norm/) }]);
    });

    it('walks cycles without looping', () => {
      const a: Record<string, unknown> = { n: 1 };
      a.self = a;
      a.f = () => 1;
      expect(refusal(a, 'result').details.map((d) => d.path)).toEqual(['result.f']);
    });

    it('reports a getter that throws at its path, and a value too deep to encode as a SerializationError', () => {
      const err = refusal({
        a: 1,
        get broken(): number {
          throw new RangeError('no');
        },
      }, 'result');
      expect(err.details).toEqual([{ path: 'result.broken', message: 'a property whose getter threw: RangeError: no' }]);
      let deep: unknown = 0;
      for (let i = 0; i < 200_000; i++) deep = [deep];
      expect(refusal(deep, 'result').message).toMatch(/^cannot send result: /);
    });

    it('refuses in encodeValueView too (the worker encodes results with it)', () => {
      expect(() => encodeValueView({ f: () => 1 }, 'result')).toThrow(SerializationError);
    });
  });

  describe('values that travel', () => {
    it('round-trips plain data, structured types, data-only class instances and toJSON objects', () => {
      const value = {
        n: [1, -2.5, 2n ** 70n, NaN, undefined, null, 'x'],
        m: new Map<unknown, unknown>([[1, new Set(['a'])]]),
        d: new Date(0),
        r: /a+/g,
        bytes: new Uint8Array([1, 2]),
        buf: Buffer.from('hi'),
        f64: new Float64Array([1.5]),
        nullProto: Object.assign(Object.create(null) as object, { k: 1 }),
      };
      expect(decodeValue(encodeValue(value))).toEqual(value);
      expect(decodeValue(encodeValue(new Plain()))).toEqual({ a: 1, b: [2] });
      expect(decodeValue(encodeValue({ u: new URL('http://example.com/x') }))).toEqual({ u: 'http://example.com/x' });
      const err = decodeValue(encodeValue(new RangeError('boom'))) as Error;
      expect(err.message).toBe('boom');
    });

    it('leaves other msgpackr users in the process alone', () => {
      // The guard is active only inside encodeValue: a plain msgpackr pack of a class instance behaves as before.
      expect(unpack(pack({ p: new Point(1, 2) }))).toEqual({ p: { x: 1, y: 2 } });
    });
  });
});
