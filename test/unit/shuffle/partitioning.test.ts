import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { frame, unframe } from '../../../shared/shuffle/frames.ts';
import { hashKey, hashPartition } from '../../../shared/shuffle/hash.ts';
import { compareValues, divisionsFromSamples, divisionsProblem, rangePartition } from '../../../shared/shuffle/ranges.ts';
import { receiverOf } from '../../../shared/shuffle/types.ts';
import { ShardBuffer } from '../../../worker/shuffle-buffer.ts';
import { waitFor } from '../../support/wait.ts';

const value = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true }), fc.string({ maxLength: 6 }), fc.constant(null), fc.boolean());

describe('Module: shared/shuffle', () => {
  it('hashKey: one logical value hashes alike in its Arrow JS forms (safe BigInt and number, -0 and 0, every NaN)', () => {
    fc.assert(fc.property(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), (n) => hashKey([n]) === hashKey([BigInt(n)])));
    expect(hashKey([-0])).toBe(hashKey([0]));
    expect(hashKey([Number.NaN])).toBe(hashKey([0 / 0]));
    expect(hashKey([new Date(5)])).toBe(hashKey([5]));
    // Types stay apart, and key order matters.
    expect(hashKey(['1'])).not.toBe(hashKey([1]));
    expect(hashKey(['a', 'b'])).not.toBe(hashKey(['b', 'a']));
    fc.assert(fc.property(fc.array(value, { maxLength: 3 }), fc.integer({ min: 1, max: 50 }), (k, m) => {
      const p = hashPartition(hashKey(k), m);
      return p >= 0 && p < m && Number.isInteger(p) && p === hashPartition(hashKey([...k]), m);
    }));
  });

  it('ranges: divisions are sorted and deduplicated, and range partitions are monotonic in the value', () => {
    fc.assert(
      fc.property(fc.array(fc.array(value, { maxLength: 30 }), { maxLength: 6 }), fc.integer({ min: 1, max: 10 }), (samples, n) => {
        const d = divisionsFromSamples(samples, n);
        if (samples.flat().every((v) => v === null)) return d.length === 0;
        expect(d.length).toBeGreaterThanOrEqual(2);
        expect(d.length).toBeLessThanOrEqual(n + 1);
        expect(divisionsProblem(d)).toBeUndefined();
        const values = samples.flat().sort(compareValues);
        let last = -1;
        for (const v of values) {
          const p = rangePartition(v, d);
          expect(p).toBeGreaterThanOrEqual(Math.max(0, last));
          expect(p).toBeLessThan(Math.max(1, d.length - 1));
          last = p;
        }
        return true;
      }),
    );
    expect(divisionsProblem([3, 1])).toMatch(/sorted ascending/);
    expect(divisionsProblem([1])).toMatch(/at least 2/);
    expect(rangePartition(null, [0, 5, 10])).toBe(0);
  });

  it('frames: any list of byte arrays round-trips; a truncated frame is refused', () => {
    fc.assert(fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (parts) => {
      const back = unframe(frame(parts));
      return back.length === parts.length && back.every((b, i) => Buffer.from(b).equals(Buffer.from(parts[i] as Uint8Array)));
    }));
    const f = frame([new Uint8Array([1, 2, 3])]);
    expect(() => unframe(f.subarray(0, f.length - 1))).toThrow(RangeError);
  });

  it('receiverOf: output j goes to participant j mod W', () => {
    expect([0, 1, 2, 3].map((j) => receiverOf(['a', 'b'], j))).toEqual(['a', 'b', 'a', 'b']);
    expect(() => receiverOf([], 0)).toThrow(RangeError);
  });
});

describe('Class: ShardBuffer (worker side of a shuffle)', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const b = (s: string) => Buffer.from(s);
  const parts = (framed: Buffer) => unframe(framed.subarray(5)).map((x) => Buffer.from(x).toString());

  it('keeps shards per input (a transfer sent twice adds nothing), spills past its limit and returns every shard in input order', async () => {
    dir = mkdtempSync(join(tmpdir(), 'shards-'));
    const buf = new ShardBuffer(dir, 10);
    expect(await buf.put('s', 1, 2, [0, 1], [b('in2-p0'), b('in2-p1')])).toBe(true);
    expect(await buf.put('s', 1, 0, [0], [b('in0-p0-spilled')])).toBe(true);
    expect(await buf.put('s', 1, 0, [0], [b('in0-p0-again')])).toBe(true);
    expect(await buf.put('s', 1, 1, [], [])).toBe(true);
    expect(buf.spilledBytes).toBeGreaterThan(0);
    expect(readdirSync(dir).length).toBeGreaterThan(0);
    expect(parts(await buf.take('s', 1, 0, 3))).toEqual(['in0-p0-spilled', 'in2-p0']);
    expect(parts(await buf.take('s', 1, 1, 3))).toEqual(['in2-p1']);
  });

  it('under memory pressure moves the shards it holds to the run spill file (one file per run), and reads them back intact', async () => {
    dir = mkdtempSync(join(tmpdir(), 'shards-'));
    let pressed = false;
    const buf = new ShardBuffer(dir, 1 << 20, () => pressed);
    await buf.put('s', 3, 0, [0, 1], [b('a0'), b('a1')]);
    await buf.put('t', 1, 0, [0], [b('other shuffle')]);
    expect(buf.memBytes).toBe(17);
    expect(buf.partBytes('s', 3, 1)).toBe(2);
    pressed = true;
    const big = Buffer.alloc(70_000, 7);
    await buf.put('s', 3, 1, [0, 1], [b('b0'), big]);
    expect(buf.memBytes).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['s-3.arrows', 't-1.arrows']);
    expect(parts(await buf.take('s', 3, 0, 2))).toEqual(['a0', 'b0']);
    const p1 = unframe((await buf.take('s', 3, 1, 2)).subarray(5));
    expect(Buffer.from(p1[0] as Uint8Array).toString()).toBe('a1');
    expect(Buffer.from(p1[1] as Uint8Array).equals(big)).toBe(true);
    expect(parts(await buf.take('t', 1, 0, 1))).toEqual(['other shuffle']);
    buf.forget('s', 3);
    await waitFor(() => !readdirSync(dir).includes('s-3.arrows'), { what: 'the forgotten run spill file to be removed' });
    expect(readdirSync(dir)).toEqual(['t-1.arrows']);
  });

  it('hands out shards that start 8-aligned in their memory (Arrow copies unaligned IPC), for any number of inputs', async () => {
    dir = mkdtempSync(join(tmpdir(), 'shards-'));
    const buf = new ShardBuffer(dir, 1 << 20);
    for (const inputs of [1, 2, 3, 240]) {
      for (let i = 0; i < inputs; i++) await buf.put('a', inputs, i, [0], [Buffer.alloc(8 * ((i % 3) + 1), i % 256)]);
      const framed = await buf.take('a', inputs, 0, inputs);
      expect(framed[0]).toBe(0xc6);
      const shards = unframe(framed.subarray(5));
      expect(shards.length).toBe(inputs);
      expect(shards.map((x) => x.byteOffset % 8)).toEqual(shards.map(() => 0));
      expect(shards.map((x) => x[0])).toEqual(shards.map((_, i) => i % 256));
    }
  });

  it('refuses to hand out an output before every input pushed, and refuses shards of a forgotten run', async () => {
    dir = mkdtempSync(join(tmpdir(), 'shards-'));
    const buf = new ShardBuffer(dir, 1 << 20);
    await buf.put('s', 1, 0, [0], [b('x')]);
    await expect(buf.take('s', 1, 0, 2)).rejects.toMatchObject({ name: 'ShuffleIncompleteError' });
    buf.forget('s', 1);
    expect(buf.memBytes).toBe(0);
    expect(await buf.put('s', 1, 1, [0], [b('late')])).toBe(false);
    expect(await buf.put('s', 2, 1, [0], [b('new run')])).toBe(true);
  });
});

describe('Function: shuffleParts (the shuffle graph)', () => {
  it('is N transfers, one barrier and M unpacks: O(N + M) tasks, never N × M', async () => {
    const { opNode, shuffleParts } = await import('../../../client/tables/plan.ts');
    const inputs = Array.from({ length: 50 }, (_, i) => opNode('src', { k: 'chain', part: i, steps: [] }, []));
    const outputs = shuffleParts('group-apply', inputs, { hash: ['key'] }, 40, new Uint8Array(0), () => []);
    const nodes = new Set<string>();
    const walk = (n: { key: string; deps: readonly unknown[] }) => {
      if (nodes.has(n.key)) return;
      nodes.add(n.key);
      for (const d of n.deps) walk(d as typeof n);
    };
    for (const o of outputs) walk(o);
    expect(outputs).toHaveLength(40);
    expect(nodes.size).toBe(50 + 50 + 1 + 40);
    const barrier = outputs[0]?.deps[0] as { deps: readonly unknown[]; shuffle: unknown };
    expect(barrier.deps).toHaveLength(50);
    expect(barrier.shuffle).toMatchObject({ role: 'barrier', n: 50 });
    expect(outputs.every((o) => o.deps.length === 1 && o.deps[0] === barrier)).toBe(true);
  });
});
