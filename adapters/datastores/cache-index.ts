import { z } from 'zod';
import type { ObjectStat } from '../../shared/datastores/port.ts';

/**
 * The bookkeeping of the write-back cache, kept apart from its I/O: which
 * keys the cache holds, where each copy came from and what its source looked
 * like then (ETag, size, mtime), when each was last used, and which copies
 * to evict (least recently used first) to stay within `maxBytes`.
 */
export const CacheEntrySchema = z.strictObject({
  /** Bytes of the copy. */
  size: z.number().int().nonnegative(),
  /** Name of the store the copy was read from. */
  source: z.string().min(1),
  sourceEtag: z.string().optional(),
  sourceSize: z.number().int().nonnegative(),
  sourceMtimeMs: z.number(),
  /** Last hit or admission (ms since the epoch). */
  lastUsedMs: z.number(),
});
export type CacheEntry = z.infer<typeof CacheEntrySchema>;

export const CacheIndexFileSchema = z.strictObject({
  version: z.literal(1),
  entries: z.record(z.string(), CacheEntrySchema),
});
export type CacheIndexFile = z.infer<typeof CacheIndexFileSchema>;

/**
 * Whether a copy still matches its source: by ETag when both sides have one
 * (S3), else by size and mtime (a local disk).
 */
export function isFresh(entry: CacheEntry, current: ObjectStat): boolean {
  if (entry.sourceEtag && current.etag) return entry.sourceEtag === current.etag && entry.sourceSize === current.size;
  return entry.sourceSize === current.size && entry.sourceMtimeMs === current.mtimeMs;
}

const CONFLICT = 'recc:conflict';

export class CacheIndex {
  /** Insertion order is not use order; `lastUsedMs` decides. Keys live in a Map so no key (`__proto__`) touches a prototype. */
  private readonly entries = new Map<string, CacheEntry>();
  private bytes = 0;
  constructor(readonly maxBytes: number) {}

  get totalBytes(): number {
    return this.bytes;
  }
  get size(): number {
    return this.entries.size;
  }
  get(key: string): CacheEntry | undefined {
    return this.entries.get(key);
  }
  keys(): string[] {
    return [...this.entries.keys()];
  }

  touch(key: string, nowMs: number): void {
    const e = this.entries.get(key);
    if (e) e.lastUsedMs = Math.max(e.lastUsedMs, nowMs);
  }

  /** Whether an object of `size` bytes can be cached at all (not bigger than the whole cache). */
  fits(size: number): boolean {
    return size <= this.maxBytes;
  }

  set(key: string, entry: CacheEntry): void {
    this.remove(key);
    this.entries.set(key, { ...entry });
    this.bytes += entry.size;
  }

  remove(key: string): CacheEntry | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    this.bytes -= e.size;
    return e;
  }

  /**
   * Keys to evict, least recently used first, so the total fits `maxBytes`;
   * `keep` (the key just admitted) goes last. Does not remove them.
   */
  evictionPlan(keep?: string): string[] {
    let over = this.bytes - this.maxBytes;
    if (over <= 0) return [];
    const byAge = [...this.entries.entries()]
      .filter(([k]) => k !== keep)
      .sort(([ka, a], [kb, b]) => a.lastUsedMs - b.lastUsedMs || (ka < kb ? -1 : 1));
    const out: string[] = [];
    for (const [k, e] of byAge) {
      if (over <= 0) break;
      out.push(k);
      over -= e.size;
    }
    if (over > 0 && keep && this.entries.has(keep)) out.push(keep);
    return out;
  }

  toFile(): CacheIndexFile {
    return { version: 1, entries: Object.fromEntries([...this.entries.entries()].map(([k, e]) => [k, { ...e }])) };
  }

  /**
   * Merges an index another process saved: entries it has and this one does
   * not are adopted (unless this process removed them), a key both have keeps
   * the newer copy and the later use.
   */
  merge(file: CacheIndexFile, removedHere: ReadonlySet<string>): void {
    for (const [k, theirs] of Object.entries(file.entries)) {
      if (removedHere.has(k)) continue;
      const mine = this.entries.get(k);
      if (!mine) this.set(k, theirs);
      else if (mine.sourceEtag === theirs.sourceEtag && mine.sourceMtimeMs === theirs.sourceMtimeMs && mine.size === theirs.size) {
        mine.lastUsedMs = Math.max(mine.lastUsedMs, theirs.lastUsedMs);
      } else {
        // Two processes copied different versions; which file won the rename is unknown,
        // so the copy is marked to fail its next revalidation and be fetched again.
        mine.sourceEtag = CONFLICT;
        mine.sourceMtimeMs = -1;
      }
    }
  }
}
