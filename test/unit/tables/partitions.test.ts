import { describe, expect, it } from 'vitest';
import { CorruptDataError } from '../../../shared/datastores/errors.ts';
import { TableOptionsError } from '../../../shared/tables/errors.ts';
import { MANIFEST_FILE, parseManifest, serializeManifest, type Manifest } from '../../../shared/tables/manifest.ts';
import { checkPartitionKeys, NULL_PARTITION, parsePartitionKey, partitionDir } from '../../../shared/tables/partition-path.ts';
import { partitionFilter, partitionMatches } from '../../../shared/tables/prune.ts';
import { parseWhere } from '../../../shared/tables/where.ts';
import { schemaDifferences } from '../../../shared/tables/schema.ts';

describe('Hive partition paths', () => {
  it('writes and parses key=value segments, escaping what would break a path', () => {
    const dir = partitionDir([['date', '2024-01-02'], ['sid', 'A/B=C%..'], ['venue', null]]);
    expect(dir).toBe(`date=2024-01-02/sid=A%2FB%3DC%25../venue=${NULL_PARTITION}`);
    expect(parsePartitionKey(`${dir}/part-0.parquet`)).toEqual({ dir, file: 'part-0.parquet', values: [['date', '2024-01-02'], ['sid', 'A/B=C%..'], ['venue', null]] });
  });

  it('skips keys that are not data files of a Hive layout', () => {
    expect(parsePartitionKey('date=2024-01-02/_SUCCESS')).toBeUndefined();
    expect(parsePartitionKey('notapartition/part-0.parquet')).toBeUndefined();
    expect(parsePartitionKey('date=%E0%A4%A/part-0.parquet')).toBeUndefined();
    expect(parsePartitionKey('1bad=x/part-0.parquet')).toBeUndefined();
    expect(parsePartitionKey('part-0.parquet')).toEqual({ dir: '', values: [], file: 'part-0.parquet' });
  });

  it('rejects partition column names that are not identifiers', () => {
    expect(() => checkPartitionKeys(['date', 'a/b', 'date'])).toThrow(TableOptionsError);
  });
});

describe('partition pruning', () => {
  const columns = [{ name: 'date', kind: 'date' as const }, { name: 'n', kind: 'int' as const }];
  it('keeps partitions whose key values may match, by kind (dates by day, ints numerically)', () => {
    const f = partitionFilter(columns, parseWhere({ date: { gte: '2024-01-02', lt: new Date(Date.UTC(2024, 0, 4)) }, n: { gt: 9 }, other: 1 }));
    expect(partitionMatches(f, ['2024-01-02', '10'])).toBe(true);
    expect(partitionMatches(f, ['2024-01-04', '10'])).toBe(false);
    expect(partitionMatches(f, ['2024-01-03', '9'])).toBe(false);
    // "10" > "9" only numerically.
    expect(partitionMatches(f, ['2024-01-03', '100'])).toBe(true);
    expect(partitionMatches(f, [null, '100'])).toBe(false);
  });

  it('refuses a where value of the wrong kind for a partition column', () => {
    expect(() => partitionFilter(columns, parseWhere({ date: 'soon' }))).toThrow(/where\.date\.eq/);
  });
});

describe('manifest', () => {
  const m: Manifest = {
    recc: 'dataset', version: 1, format: 'parquet', partitionBy: [{ name: 'date', kind: 'date' }],
    schema: [{ name: 'px', type: 'Float64', nullable: false }, { name: 'date', type: 'Date32<DAY>', nullable: true }],
    partitions: [{ dir: 'date=2024-01-02', values: ['2024-01-02'], rows: 3, files: [{ key: 'date=2024-01-02/part-0.parquet', rows: 3, bytes: 100 }] }],
    updatedAt: '2026-12-05T00:00:00.000Z',
  };
  it('round-trips', () => {
    expect(parseManifest('S3', MANIFEST_FILE, serializeManifest(m))).toEqual(m);
  });
  it('is CorruptDataError naming the store, key and problem when it is not a manifest', () => {
    expect(() => parseManifest('S3', 'prices/_recc_dataset.json', new TextEncoder().encode('{"recc":"dataset"'))).toThrow(CorruptDataError);
    expect(() => parseManifest('S3', 'prices/_recc_dataset.json', new TextEncoder().encode(JSON.stringify({ ...m, partitions: [{ ...m.partitions[0], values: [] }] })))).toThrow(/S3: "prices\/_recc_dataset.json" is corrupt: .*partitions\.0\.values/);
  });
});

describe('schemaDifferences', () => {
  it('names missing, unexpected and retyped columns', () => {
    const d = schemaDifferences(
      [{ name: 'a', type: 'Float64', nullable: true }, { name: 'b', type: 'Utf8', nullable: true }],
      [{ name: 'a', type: 'Int64', nullable: true }, { name: 'c', type: 'Utf8', nullable: true }],
    );
    expect(d.map((x) => x.message)).toEqual(['column "a" is Int64, expected Float64', 'missing column "b" (expected Utf8)', 'unexpected column "c" (Utf8)']);
  });
});
