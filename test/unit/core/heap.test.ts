import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BinaryHeap, InOrderQueue } from '../../../shared/core/heap.ts';

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

describe('Class: InOrderQueue', () => {
  it('pops items in the order of its comparator, arrivals in order or not, across any interleaving of pushes and pops', () => {
    // Mostly rising values (the common case: the FIFO), with some out of order (the heap) and ties.
    const push = fc.oneof({ weight: 3, arbitrary: fc.integer({ min: 0, max: 3 }).map((d) => ({ rise: d })) }, { weight: 1, arbitrary: fc.integer({ min: -40, max: 40 }).map((v) => ({ at: v })) });
    fc.assert(
      fc.property(fc.array(fc.oneof(push, fc.constant('pop' as const)), { maxLength: 300 }), (ops) => {
        const q = new InOrderQueue<{ v: number; id: number }>((x, y) => x.v < y.v);
        const model: Array<{ v: number; id: number }> = [];
        let last = 0;
        let id = 0;
        for (const op of ops) {
          if (op === 'pop') {
            const got = q.pop();
            const min = model.length === 0 ? undefined : Math.min(...model.map((m) => m.v));
            expect(got?.v).toBe(min);
            if (got) model.splice(model.indexOf(got), 1);
          } else {
            const v = 'rise' in op ? (last += op.rise) : op.at;
            const item = { v, id: id++ };
            q.push(item);
            model.push(item);
          }
          expect(q.size).toBe(model.length);
        }
        expect([...q.values()].map((m) => m.id).sort((a, b) => a - b)).toEqual(model.map((m) => m.id).sort((a, b) => a - b));
      }),
      { numRuns: 300 },
    );
  });

  it('keeps in-order arrivals out of the heap: no comparison beyond the one with the last item', () => {
    let calls = 0;
    const q = new InOrderQueue<number>((x, y) => (calls++, x < y));
    for (let i = 0; i < 1000; i++) q.push(i);
    for (let i = 0; i < 1000; i++) expect(q.pop()).toBe(i);
    // One comparison per push (against the FIFO's tail), none per pop while the heap is empty.
    expect(calls).toBe(999);
  });
});

