import { Table, tableFromArrays } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../../comm/payload.ts';
import { headedBytes, headedFrame } from '../../../comm/raw-result.ts';
import { fromIPC, toHeadedIPC, toIPC } from '../../../client/tables/kernels.ts';
import { framedShards, split } from '../../../client/tables/ops.ts';
import { frame } from '../../../shared/shuffle/frames.ts';
import type { Partitioning } from '../../../client/tables/spec.ts';

/**
 * Partition results written once into the shared memory they leave the task
 * thread in (comm/raw-result.ts): the encoded bytes are exactly what copying
 * them would give, and only memory made by headedBytes is taken as is.
 */
const table = (n: number): Table =>
  tableFromArrays({
    k: Array.from({ length: n }, (_, i) => `key${i % 37}`),
    v: Float64Array.from({ length: n }, (_, i) => i * 0.5),
    q: Int32Array.from({ length: n }, (_, i) => i % 11),
  });

describe('headed task results', () => {
  it('toHeadedIPC is the same IPC as toIPC, and encodes to the same frame without a copy', () => {
    const t = table(20_000);
    const headed = toHeadedIPC(t);
    const plain = toIPC(t);
    expect(Buffer.from(headed).equals(Buffer.from(plain))).toBe(true);
    const encoded = encodeValue(headed);
    expect(encoded.buffer).toBe(headed.buffer);
    // The IPC starts 8-aligned, and so does what a task decodes from the encoded frame: Arrow reads it in place.
    expect(headed.byteOffset % 8).toBe(0);
    expect((decodeValue(encoded) as Uint8Array).byteOffset % 8).toBe(0);
    expect(encoded.equals(encodeValue(plain))).toBe(true);
    expect(fromIPC(decodeValue(encoded) as Uint8Array).toArray().map((r) => r.toJSON())).toEqual(t.toArray().map((r) => r.toJSON()));
  });

  it('framedShards is frame(split(…)) for hash and range partitioning, including empty outputs', () => {
    const t = table(5_000);
    const cases: Array<[Partitioning, number]> = [[{ hash: ['k'] }, 7], [{ range: 'q', divisions: [0, 3, 5, 100] }, 5], [{ hash: ['k'] }, 1]];
    for (const [by, m] of cases) {
      const framed = framedShards(t, by, m);
      expect(Buffer.from(framed).equals(Buffer.from(frame(split(t, by, m))))).toBe(true);
    }
  });

  it('takes only memory made by headedBytes, once; look-alike bytes are copied', () => {
    const n = 70_000;
    const mine = headedBytes(n);
    expect(headedFrame(mine)?.byteLength).toBe(n + 5);
    // A second encode of the same bytes copies (the first result owns the memory).
    expect(headedFrame(mine)).toBeUndefined();
    // Same layout, not made here (e.g. a received frame returned as is): copied.
    const alike = new Uint8Array(new SharedArrayBuffer(n + 8));
    alike[3] = 0xc6;
    new DataView(alike.buffer).setUint32(4, n, false);
    const view = alike.subarray(8);
    expect(headedFrame(view)).toBeUndefined();
    expect(encodeValue(view).buffer).not.toBe(alike.buffer);
    // A part of headed memory is not the whole result: copied.
    expect(headedFrame(headedBytes(n).subarray(0, n - 1))).toBeUndefined();
  });
});
