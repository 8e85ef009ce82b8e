import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DatastoreNotFoundError } from '../../shared/datastores/errors.ts';
import type { CacheLookup, ReadCache } from '../../shared/datastores/fallthrough.ts';
import type { ByteRange, Datastore, ObjectStat } from '../../shared/datastores/port.ts';
import { CacheIndex, CacheIndexFileSchema, isFresh, type CacheEntry } from './cache-index.ts';
import { CACHE_INDEX_FILE, LocalDatastore, TMP_DIR } from './local.ts';

export interface WriteBackCacheOptions {
  /** Most bytes of copies kept; the least recently used go first. */
  maxBytes: number;
  /**
   * Check each copy against its source (a HEAD on S3, a stat on disk) before
   * serving it. Off, copies are served until evicted, with no request to the
   * source at all. @default true
   */
  revalidate?: boolean;
  /** @default Date.now */
  now?: () => number;
}

/**
 * The write-back cache: copies of objects read from later stores (S3) kept
 * in a local store, bounded by `maxBytes` with LRU eviction. A copy is
 * served only while its source still has the ETag (or size and mtime) it had
 * when copied; otherwise it is dropped and the read falls through.
 *
 * The index (`.recc-cache-index.json` in the store's root, hidden from
 * `list`) records each copy's source and use. Crash order: an evicted copy's
 * file is deleted before the index forgets it, and a new copy is recorded
 * before its file is written, so the index never vouches for a file it does
 * not describe (a recorded copy with no file is simply a miss). Several
 * processes may share one cache: each save merges the index on disk.
 */
export class WriteBackCache implements ReadCache {
  private readonly index: CacheIndex;
  private readonly removed = new Set<string>();
  private readonly now: () => number;
  private readonly indexPath: string;
  private saving: Promise<void> = Promise.resolve();
  private queued: Promise<void> | undefined;
  private dirty = false;
  /** Index problems found on load (a corrupt file is replaced, not fatal). */
  readonly warnings: string[] = [];

  private constructor(
    readonly store: LocalDatastore,
    private readonly options: WriteBackCacheOptions,
  ) {
    this.index = new CacheIndex(options.maxBytes);
    this.now = options.now ?? Date.now;
    this.indexPath = join(store.root, CACHE_INDEX_FILE);
  }

  /** Opens the cache in `store` (a local store), reading its index. */
  static async open(store: Datastore, options: WriteBackCacheOptions): Promise<WriteBackCache> {
    if (!(store instanceof LocalDatastore)) {
      throw new TypeError(`the write-back cache needs a local store; ${store.name} is ${store.location}`);
    }
    const cache = new WriteBackCache(store, options);
    const file = await cache.readIndexFile();
    if (file) cache.index.merge(file, new Set());
    // Loaded over the bound (maxBytes lowered since): evict now.
    const over = cache.index.evictionPlan();
    for (const k of over) await cache.drop(k, false);
    if (over.length) await cache.save();
    return cache;
  }

  get bytes(): number {
    return this.index.totalBytes;
  }
  get entries(): number {
    return this.index.size;
  }
  /** The cache's record of `key` (tests and `recc data stat`). */
  entry(key: string): CacheEntry | undefined {
    const e = this.index.get(key);
    return e ? { ...e } : undefined;
  }

  statOf(key: string): ObjectStat | undefined {
    const e = this.index.get(key);
    return e && this.options.revalidate === false ? { key, size: e.size, mtimeMs: e.lastUsedMs } : undefined;
  }

  async lookup(key: string, sources: (name: string) => Datastore | undefined, range?: ByteRange): Promise<CacheLookup> {
    const e = this.index.get(key);
    if (!e) return { status: 'absent' };
    // A source outside this read order (reading FP_LOCAL alone, offline) cannot be asked: the copy is served as it is.
    const source = sources(e.source);
    if ((this.options.revalidate ?? true) && source) {
      let current: ObjectStat | undefined;
      try {
        current = await source.stat(key);
      } catch (err) {
        if (!(err instanceof DatastoreNotFoundError)) throw err;
      }
      // The source changed or vanished: the copy cannot be vouched for.
      if (!current || !isFresh(e, current)) {
        await this.drop(key, true);
        return { status: 'stale', source: e.source };
      }
    }
    let bytes: Uint8Array;
    try {
      if (range) {
        const st = await this.store.stat(key);
        if (st.size !== e.size) throw new DatastoreNotFoundError(this.store.name, key);
      }
      bytes = await this.store.read(key, range);
    } catch (err) {
      if (!(err instanceof DatastoreNotFoundError)) throw err;
      await this.drop(key, true);
      return { status: 'stale', source: e.source };
    }
    if (!range && bytes.length !== e.size) {
      // A truncated copy (a full disk, someone editing the cache directory): never serve it.
      await this.drop(key, true);
      return { status: 'stale', source: e.source };
    }
    this.index.touch(key, this.now());
    this.dirty = true;
    return { status: 'hit', bytes, source: e.source };
  }

  async admit(key: string, bytes: Uint8Array, source: Datastore, stat: ObjectStat): Promise<void> {
    if (!this.index.fits(bytes.length)) return;
    this.index.set(key, {
      size: bytes.length,
      source: source.name,
      ...(stat.etag ? { sourceEtag: stat.etag } : {}),
      sourceSize: stat.size,
      sourceMtimeMs: stat.mtimeMs,
      lastUsedMs: this.now(),
    });
    this.removed.delete(key);
    for (const k of this.index.evictionPlan(key)) await this.drop(k, false);
    if (!this.index.get(key)) {
      await this.save();
      return;
    }
    await this.save();
    try {
      await this.store.write(key, bytes);
    } catch (err) {
      this.index.remove(key);
      this.removed.add(key);
      await this.save().catch(() => undefined);
      throw err;
    }
  }

  /** Delete the copy's file first, then forget it (see the class comment for why in that order). */
  private async drop(key: string, save: boolean): Promise<void> {
    await this.store.delete(key).catch(() => undefined);
    this.index.remove(key);
    this.removed.add(key);
    if (save) await this.save();
  }

  /** Writes the index if hits changed the use order since the last save. */
  async flush(): Promise<void> {
    if (this.dirty) await this.save();
    await this.saving;
  }

  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const q = this.saving.then(async () => {
      this.queued = undefined;
      this.dirty = false;
      await this.writeIndex();
    });
    this.queued = q;
    this.saving = q.catch(() => undefined);
    return q;
  }

  private async readIndexFile() {
    let text: string;
    try {
      text = await readFile(this.indexPath, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    try {
      const parsed = CacheIndexFileSchema.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
      this.warnings.push(`cache index ${this.indexPath} is not valid (${parsed.error.issues[0]?.message}); starting a new one`);
    } catch (err) {
      this.warnings.push(`cache index ${this.indexPath} is not JSON (${(err as Error).message}); starting a new one`);
    }
    return undefined;
  }

  private async writeIndex(): Promise<void> {
    // Merge what other processes saved since, then stay within the bound.
    const theirs = await this.readIndexFile();
    if (theirs) this.index.merge(theirs, this.removed);
    for (const k of this.index.evictionPlan()) {
      await this.store.delete(k).catch(() => undefined);
      this.index.remove(k);
      this.removed.add(k);
    }
    const tmp = join(this.store.root, TMP_DIR, `${randomUUID()}.index`);
    try {
      await mkdir(join(this.store.root, TMP_DIR), { recursive: true });
      await writeFile(tmp, JSON.stringify(this.index.toFile()));
      await rename(tmp, this.indexPath);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
