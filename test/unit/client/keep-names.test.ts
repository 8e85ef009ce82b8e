import { transformSync } from 'esbuild';
import { describe, expect, it } from 'vitest';
import { InlineFunctionError } from '../../../client/errors.ts';
import { inlineSource } from '../../../client/inline.ts';

/**
 * A function object whose source text is exactly `source` (what
 * Function.prototype.toString returns under tsx or in a bundle).
 */
function fromSource(source: string): (...args: never[]) => unknown {
  return new Function(`return (${source});`)() as (...args: never[]) => unknown;
}

/** What esbuild's keepNames (tsx's default) makes of a function's source. */
function keepNames(source: string): string {
  const out = transformSync(`const task = ${source};`, { keepNames: true, minifyWhitespace: true, loader: 'ts' }).code;
  const start = out.indexOf('__name(') === out.indexOf('task=') + 5 ? out.indexOf('__name(') + 7 : out.indexOf('task=') + 5;
  // The outer helper wraps the task itself (outside its own source): keep only the function.
  const body = out.slice(start).replace(/,"task"\);?\s*$/, '').replace(/;\s*$/, '');
  return body;
}

/** Run the shipped source the way a worker does. */
function runShipped(source: string, ...args: unknown[]): unknown {
  return (new Function(`"use strict"; return (${source});`)() as (...a: unknown[]) => unknown)(...args);
}

describe('Function: inlineSource under esbuild keepNames', () => {
  it('strips the __name helper from inner functions, classes and object members', () => {
    const src = keepNames('(x: number) => { const sq = (v: number) => v * v; function cube(v: number) { return v * v * v; } class K { static k = 1; m() { return K.k; } } const o = { g: () => 2 }; return [sq(x), cube(x), new K().m(), o.g(), sq.name, cube.name, K.name, o.g.name]; }');
    expect(src).toContain('__name(');
    const shipped = inlineSource(fromSource(src));
    expect(shipped).not.toContain('__name');
    expect(runShipped(shipped, 3)).toEqual([9, 27, 1, 2, 'sq', 'cube', 'K', 'g']);
  });

  it('strips nested helper calls (a named function inside a named function)', () => {
    const src = keepNames('(x: number) => { const outer = (y: number) => { const inner = (z: number) => z + 1; return inner(y) * 2; }; return outer(x); }');
    const shipped = inlineSource(fromSource(src));
    expect(shipped).not.toContain('__name');
    expect(runShipped(shipped, 4)).toBe(10);
  });

  it('accepts the numbered helper esbuild uses when the module has its own __name', () => {
    const shipped = inlineSource(fromSource('(x) => { const sq = __name2((v) => v * v, "sq"); return sq(x); }'));
    expect(runShipped(shipped, 5)).toBe(25);
  });

  it('still refuses real closures next to the helper', () => {
    const src = keepNames('(x: number) => { const sq = (v: number) => v * rate; return sq(x); }');
    expect(() => inlineSource(fromSource(src))).toThrow(expect.objectContaining({ outerVariables: ['rate'] }));
  });

  it('refuses a user variable named __name used any other way, even beside helper calls', () => {
    for (const src of [
      '(x) => __name + x',
      '(x) => __name(x)',
      '(x) => __name(x, name)',
      '(x) => __name(...x, "a")',
      '(x) => { const f = __name(() => 1, "f"); return __name.call(null, f, "g"); }',
      '(x) => { const f = __name(() => 1, "f"); return [f, __name]; }',
    ]) {
      let err: unknown;
      try {
        inlineSource(fromSource(src));
      } catch (e) {
        err = e;
      }
      expect(err, src).toBeInstanceOf(InlineFunctionError);
      expect((err as InlineFunctionError).outerVariables, src).toContain('__name');
    }
  });

  it('leaves a function alone that declares its own __name', () => {
    const src = '(x) => { const __name = (f, n) => n; return __name(() => 1, "local"); }';
    const shipped = inlineSource(fromSource(src));
    expect(shipped).toBe(src);
    expect(runShipped(shipped, 0)).toBe('local');
  });
});
