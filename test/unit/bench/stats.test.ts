import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { mean, median, percentile } from '../../../bench/lib/stats.ts';

describe('Function: percentile', () => {
  it('returns the nearest-rank sample when given 500 latencies', () => {
    // Prepare: 1..500 in reverse order, so sorting matters
    const samples = Array.from({ length: 500 }, (_, i) => 500 - i);

    // Act
    const p50 = percentile(samples, 50);
    const p99 = percentile(samples, 99);

    // Assess: rank ceil(0.5·500)=250 and ceil(0.99·500)=495
    expect(p50).toBe(250);
    expect(p99).toBe(495);
  });

  it('returns the smallest sample for p0 and the largest for p100', () => {
    expect(percentile([3, 1, 2], 0)).toBe(1);
    expect(percentile([3, 1, 2], 100)).toBe(3);
  });

  it('returns NaN when there are no samples', () => {
    expect(percentile([], 50)).toBeNaN();
  });

  it('throws when p is outside 0..100', () => {
    expect(() => percentile([1], 101)).toThrow(RangeError);
    expect(() => percentile([1], -1)).toThrow(RangeError);
  });

  it('always returns one of the samples, monotone in p, without reordering the input', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 1, maxLength: 200 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), (xs, a, b) => {
        const copy = [...xs];
        const [lo, hi] = a <= b ? [a, b] : [b, a];
        const pl = percentile(xs, lo);
        const ph = percentile(xs, hi);
        expect(xs).toEqual(copy);
        expect(xs).toContain(pl);
        expect(pl).toBeLessThanOrEqual(ph);
      }),
    );
  });
});

describe('Function: median', () => {
  it('returns the middle sample when the count is odd', () => {
    expect(median([5, 1, 3])).toBe(3);
  });

  it('returns the mean of the two middle samples when the count is even', () => {
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });

  it('returns NaN when empty', () => {
    expect(median([])).toBeNaN();
  });
});

describe('Function: mean', () => {
  it('averages the samples', () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
  });

  it('returns NaN when empty', () => {
    expect(mean([])).toBeNaN();
  });
});
