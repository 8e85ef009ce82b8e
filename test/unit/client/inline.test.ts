import { describe, expect, it } from 'vitest';
import { decodeValue, KeyRef } from '../../../comm/payload.ts';
import { Delayed, delayed, encodeArgs } from '../../../client/delayed.ts';
import { InlineFunctionError } from '../../../client/errors.ts';
import { command, functionRef } from '../../../client/functions.ts';
import { inlineSource } from '../../../client/inline.ts';

describe('Function: inlineSource', () => {
  it('accepts self-contained functions of every syntax', () => {
    const fns = [
      (x: number) => x + 1,
      function named(a: number, { b, c = 2 }: { b: number; c?: number }, ...rest: number[]) {
        const [d] = rest;
        let e = 0;
        for (const v of [a, b, c, d ?? 0]) e += v;
        try {
          JSON.parse('x');
        } catch (err) {
          e += err instanceof SyntaxError ? 1 : 0;
        }
        class Local {
          m() {
            return Math.max(e, 0);
          }
        }
        return new Local().m();
      },
      async (xs: number[]) => Promise.all(xs.map(async (x) => x * 2)),
      (o: { k: number }) => ({ k: o.k, ['computed' + o.k]: true }),
    ];
    for (const f of fns) expect(() => inlineSource(f as (...args: never[]) => unknown)).not.toThrow();
  });

  it('accepts method shorthand', () => {
    const obj = {
      square(x: number) {
        return x * x;
      },
    };
    expect(new Function(`return (${inlineSource(obj.square)})`)()(4)).toBe(16);
  });

  it('names every outer variable a function captures and points to modules', () => {
    const rate = 2;
    const table = new Map<number, number>();
    const err = (() => {
      try {
        inlineSource((x: number) => x * rate + (table.get(x) ?? 0));
      } catch (e) {
        return e;
      }
    })() as InlineFunctionError;
    expect(err).toBeInstanceOf(InlineFunctionError);
    expect(err.outerVariables).toEqual(['rate', 'table']);
    expect(err.message).toMatch(/refers to outer variables "rate", "table".*client\.module\(path\)\.fn/);
    expect(err.details).toEqual([
      { path: 'rate', message: 'outer variable used by an inline function' },
      { path: 'table', message: 'outer variable used by an inline function' },
    ]);
  });

  it('refuses native and bound functions', () => {
    expect(() => inlineSource(Math.max)).toThrow(/native or bound/);
    expect(() => inlineSource(((x: number) => x).bind(null))).toThrow(/native or bound/);
  });
});

describe('Function: delayed', () => {
  it('gives the same key for the same function and arguments, and another for other arguments', () => {
    const load = delayed((date: string) => date.length);
    expect(load('2024-01-01').key).toBe(load('2024-01-01').key);
    expect(load('2024-01-01').key).not.toBe(load('2024-01-02').key);
    expect(load('2024-01-01').key).toMatch(/^lambda-[0-9a-f]{16}$/);
  });

  it('lists a graph dependencies-first, sharing repeated nodes', () => {
    const inc = delayed(function inc(x: number) {
      return x + 1;
    });
    const add = delayed(function add(a: number, b: number) {
      return a + b;
    });
    const shared = inc(1);
    const root = add(inc(shared), inc(shared));
    const order = root.graph().map((d) => d.key);
    expect(order).toHaveLength(3);
    expect(order[0]).toBe(shared.key);
    expect(order.at(-1)).toBe(root.key);
  });
});

describe('Function: encodeArgs', () => {
  it('replaces nested delayed values by key references and records the dependencies', () => {
    const d = new Delayed(functionRef((x: number) => x), [1]);
    const enc = encodeArgs([{ a: [d, 2] }, 'x']);
    expect(enc.deps).toEqual([d.key]);
    expect(decodeValue(enc.bytes)).toEqual([{ a: [new KeyRef(d.key), 2] }, 'x']);
    expect(decodeValue(enc.bytes, (k) => `value of ${k}`)).toEqual([{ a: [`value of ${d.key}`, 2] }, 'x']);
  });

  it('round-trips structured values', () => {
    const value = [new Map([[1, { s: new Set(['a']) }]]), new Date(0), new Float64Array([1.5]), 2n ** 70n, undefined];
    expect(decodeValue(encodeArgs(value).bytes)).toEqual(value);
  });
});

describe('Function: command', () => {
  it('identifies the same command by the same id and validates argv', () => {
    expect(command(['python3', '-c', 'print(1)']).id).toBe(command(['python3', '-c', 'print(1)']).id);
    expect(() => command([])).toThrow(expect.objectContaining({ details: [{ path: 'argv', message: 'expected a non-empty array of strings' }] }));
  });
});
