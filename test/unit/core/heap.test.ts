import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryHeap } from '../../../shared/core/heap.ts';

describe('Class: BinaryHeap', () => {
  it('pops items in the order of its comparator, across any interleaving of pushes and pops', () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer({ min: -50, max: 50 }), fc.constant('pop' as const)), { maxLength: 200 }), (ops) => {
        const heap = new BinaryHeap<number>((x, y) => x < y);
        const model: number[] = [];
        for (const op of ops) {
          if (op === 'pop') {
            model.sort((a, b) => a - b);
            expect(heap.pop()).toBe(model.shift());
          } else {
            heap.push(op);
            model.push(op);
          }
          expect(heap.size).toBe(model.length);
          expect(heap.peek()).toBe(model.length === 0 ? undefined : Math.min(...model));
        }
        expect([...heap.values()].sort((a, b) => a - b)).toEqual(model.sort((a, b) => a - b));
      }),
      { numRuns: 200 },
    );
  });

  it('returns undefined from an empty heap', () => {
    const heap = new BinaryHeap<string>((x, y) => x < y);
    expect(heap.pop()).toBeUndefined();
    expect(heap.peek()).toBeUndefined();
    expect(heap.size).toBe(0);
  });
});
