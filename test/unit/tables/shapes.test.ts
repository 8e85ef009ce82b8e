import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Bool, DateMillisecond, Dictionary, Int32, Int64, Int8, Struct, Field, Table, TimestampMillisecond, Uint16, Utf8, makeVector, vectorFromArray } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { pinLike, pinState } from '../../../client/tables/shapes.ts';

/**
 * Shape pins (client/tables/shapes.ts): one exemplar per table signature,
 * never a large table kept alive, never an exception; and the reason they
 * exist, checked in a child process: without them a full GC deoptimizes the
 * optimized key kernels ("weak objects"), with them it does not.
 */

const probe = fileURLToPath(new URL('../../fixtures/weak-deopt-probe.ts', import.meta.url));

function weakDeopts(mode: 'pinned' | 'unpinned'): string[] {
  const r = spawnSync(process.execPath, ['--expose-gc', '--trace-deopt', '--import', 'tsx', probe, mode], { encoding: 'utf8', timeout: 120_000, maxBuffer: 64 * 1024 * 1024 });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stdout).toContain('done');
  // Deopts after the first round: code optimized during a round, thrown away by the GC that follows it.
  const after = r.stdout.slice(r.stdout.indexOf('round 1'));
  return after.split('\n').filter((l) => l.includes('reason: weak objects')).map((l) => /SharedFunctionInfo ([^>]*)>/.exec(l)?.[1] ?? '?');
}

/** Our key kernels: methods of the per-task KeyDict / ByteIndex / ColumnDict, and the loop over a string column. */
const KERNELS = new Set(['find', 'findShort', 'codeOfString', 'stringCodes', 'place', 'rehash', 'add', 'combine', 'encode']);

describe('shape pins', () => {
  it('a full GC deoptimizes the key kernels without pins, and does not with them', () => {
    const unpinned = weakDeopts('unpinned').filter((f) => KERNELS.has(f));
    const pinned = weakDeopts('pinned').filter((f) => KERNELS.has(f));
    expect(unpinned.length).toBeGreaterThan(0);
    expect(pinned).toEqual([]);
  }, 120_000);

  it('pins once per signature (names, types, nulls in the first batch) and keeps only small tables as they are', () => {
    const before = pinState().schemas;
    const rows = 1000;
    const a = new Table({ k: vectorFromArray(Array.from({ length: rows }, (_, i) => `k${i}`), new Utf8()), v: makeVector(Float64Array.from({ length: rows }, (_, i) => i)) });
    pinLike(a);
    pinLike(a.slice(10, 20));
    expect(pinState().schemas).toBe(before + 1);
    // The same columns with nulls are another shape.
    pinLike(new Table({ k: vectorFromArray(['a', null], new Utf8()), v: makeVector(Float64Array.of(1, 2)) }));
    expect(pinState().schemas).toBe(before + 2);
    // Empty tables pin nothing.
    pinLike(new Table({ z: makeVector(new Int32Array(0)) }));
    expect(pinState().schemas).toBe(before + 2);
    expect(pinState().failure).toBeUndefined();
  });

  it('never throws, whatever the column types (odd names included)', () => {
    const n = 3;
    const t = new Table({
      ['__proto__']: vectorFromArray([1, null, 3], new Int8()),
      constructor: vectorFromArray(['x', 'y', null], new Dictionary(new Utf8(), new Int32())),
      b: vectorFromArray([true, false, null], new Bool()),
      l: vectorFromArray([1n, 2n, null], new Int64()),
      u: vectorFromArray([1, 2, 3], new Uint16()),
      d: vectorFromArray([new Date(0), null, new Date(1)], new DateMillisecond()),
      ts: vectorFromArray([1, 2, 3], new TimestampMillisecond()),
      s: vectorFromArray(Array.from({ length: n }, (_, i) => ({ a: i, b: `v${i}` })), new Struct([new Field('a', new Int32()), new Field('b', new Utf8())])),
      f: makeVector(Float64Array.of(1, 2, 3)),
    });
    expect(() => pinLike(t, { itself: true })).not.toThrow();
    expect(() => pinLike(t.slice(0, 0))).not.toThrow();
    // The kernels support these types, so the pins were made.
    expect(pinState().failure).toBeUndefined();
  });
});
