import { describe, expect, it } from 'vitest';
import { CacheIndex, isFresh, type CacheEntry } from '../../../adapters/datastores/cache-index.ts';

const entry = (size: number, lastUsedMs: number, extra: Partial<CacheEntry> = {}): CacheEntry => ({
  size,
  source: 'S3',
  sourceEtag: 'e1',
  sourceSize: size,
  sourceMtimeMs: 1,
  lastUsedMs,
  ...extra,
});

describe('CacheIndex', () => {
  it('plans evictions least recently used first, the newly admitted key last, until the total fits', () => {
    const idx = new CacheIndex(300);
    idx.set('a', entry(100, 3));
    idx.set('b', entry(100, 1));
    idx.set('c', entry(100, 2));
    expect(idx.evictionPlan()).toEqual([]);
    idx.set('new', entry(150, 4));
    expect(idx.totalBytes).toBe(450);
    expect(idx.evictionPlan('new')).toEqual(['b', 'c']);
    idx.touch('b', 10);
    expect(idx.evictionPlan('new')).toEqual(['c', 'a']);
    // Replacing a key replaces its size in the total.
    idx.set('new', entry(10, 5));
    expect(idx.totalBytes).toBe(310);
    expect(idx.fits(300)).toBe(true);
    expect(idx.fits(301)).toBe(false);
  });

  it('keys are map keys: __proto__ and constructor are ordinary entries', () => {
    const idx = new CacheIndex(1000);
    idx.set('__proto__', entry(1, 1));
    idx.set('constructor', entry(2, 2));
    expect(idx.keys().sort()).toEqual(['__proto__', 'constructor']);
    const file = idx.toFile();
    const back = new CacheIndex(1000);
    back.merge(JSON.parse(JSON.stringify(file)), new Set());
    expect(back.get('constructor')?.size).toBe(2);
  });

  it('merges another process\'s index: adopts new keys, respects local removals, marks conflicting versions stale', () => {
    const mine = new CacheIndex(1000);
    mine.set('same', entry(10, 5));
    mine.set('diff', entry(10, 5, { sourceEtag: 'mine' }));
    const theirs = new CacheIndex(1000);
    theirs.set('same', entry(10, 9));
    theirs.set('diff', entry(10, 6, { sourceEtag: 'theirs' }));
    theirs.set('adopt', entry(20, 1));
    theirs.set('removed', entry(20, 1));
    mine.merge(theirs.toFile(), new Set(['removed']));
    expect(mine.get('same')?.lastUsedMs).toBe(9);
    expect(mine.get('adopt')?.size).toBe(20);
    expect(mine.get('removed')).toBeUndefined();
    const diff = mine.get('diff') as CacheEntry;
    expect(isFresh(diff, { key: 'diff', size: 10, etag: 'mine', mtimeMs: 1 })).toBe(false);
    expect(isFresh(diff, { key: 'diff', size: 10, etag: 'theirs', mtimeMs: 1 })).toBe(false);
  });

  it('fresh by ETag when both sides have one, else by size and mtime', () => {
    expect(isFresh(entry(5, 0), { key: 'k', size: 5, etag: 'e1', mtimeMs: 99 })).toBe(true);
    expect(isFresh(entry(5, 0), { key: 'k', size: 5, etag: 'e2', mtimeMs: 1 })).toBe(false);
    const local = entry(5, 0, { sourceMtimeMs: 1000 });
    delete local.sourceEtag;
    expect(isFresh(local, { key: 'k', size: 5, mtimeMs: 1000 })).toBe(true);
    expect(isFresh(local, { key: 'k', size: 5, mtimeMs: 1001 })).toBe(false);
    expect(isFresh(local, { key: 'k', size: 6, mtimeMs: 1000 })).toBe(false);
  });
});
