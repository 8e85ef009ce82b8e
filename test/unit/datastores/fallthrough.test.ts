import { describe, expect, it } from 'vitest';
import { MemoryDatastore } from '../../../adapters/datastores/memory.ts';
import { DatastoreAccessDeniedError, DatastoreNotFoundError } from '../../../shared/datastores/errors.ts';
import { FallThroughReader } from '../../../shared/datastores/fallthrough.ts';

const b = (s: string) => new TextEncoder().encode(s);

describe('FallThroughReader', () => {
  it('serves each key from the first store that has it, reports where, and fills the cache', async () => {
    const fp = new MemoryDatastore('FP_LOCAL');
    const s3 = new MemoryDatastore('S3');
    await s3.write('prices/date=2024-01-02/part-0.parquet', b('p2'));
    await s3.write('prices/date=2024-01-03/part-0.parquet', b('p3'));
    await fp.write('prices/date=2024-01-03/part-0.parquet', b('p3-local'));
    let s3Reads = 0;
    const realRead = s3.read.bind(s3);
    s3.read = async (k, r) => { s3Reads++; return realRead(k, r); };
    const r = new FallThroughReader([fp, s3], { cache: fp, concurrency: 2 });
    const res = await r.readMany(['prices/date=2024-01-02/part-0.parquet', 'prices/date=2024-01-03/part-0.parquet']);
    expect(res.map((x) => x.from)).toEqual(['S3', 'FP_LOCAL']);
    expect(new TextDecoder().decode(res[1]!.bytes)).toBe('p3-local');
    expect(s3Reads).toBe(1);
    const again = new FallThroughReader([fp, s3], { cache: fp });
    expect((await again.read('prices/date=2024-01-02/part-0.parquet')).from).toBe('FP_LOCAL');
    expect(s3Reads).toBe(1);
    expect(again.report).toEqual([{ key: 'prices/date=2024-01-02/part-0.parquet', from: 'FP_LOCAL' }]);
  });

  it('a key in no store is NotFound naming every store; other errors are not skipped', async () => {
    const a = new MemoryDatastore('A');
    const c = new MemoryDatastore('C');
    await expect(new FallThroughReader([a, c]).read('x')).rejects.toThrow(/A,C: no object at "x"/);
    await c.write('x', b('1'));
    a.read = async () => { throw new DatastoreAccessDeniedError('A', 'x'); };
    await expect(new FallThroughReader([a, c]).read('x')).rejects.toBeInstanceOf(DatastoreAccessDeniedError);
    await expect(new FallThroughReader([c, a]).read('y')).rejects.not.toBeInstanceOf(DatastoreNotFoundError);
  });
});
