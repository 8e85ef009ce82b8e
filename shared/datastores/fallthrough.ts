import { DatastoreError, DatastoreNotFoundError } from './errors.ts';
import { listAll, type ByteRange, type Datastore, type ListPage, type ObjectStat, type WriteBody } from './port.ts';

export interface ReadResult {
  key: string;
  bytes: Uint8Array;
  /** Name of the store that served the bytes. */
  from: string;
  /** Set when the bytes came from the write-back cache: the store the cached copy was taken from. */
  cachedFrom?: string;
}

/** What the cache knows about a key. */
export type CacheLookup =
  /** A copy whose source still has the same ETag (or size and mtime). */
  | { status: 'hit'; bytes: Uint8Array; source: string }
  /** The cache had a copy but its source changed or vanished; the copy was dropped. */
  | { status: 'stale'; source: string }
  /** The cache holds no copy of this key (a file the user put in the cache store is not a copy). */
  | { status: 'absent' };

/**
 * A write-back cache in front of the read order: copies of objects read from
 * later stores, kept in a local store, revalidated against their source.
 * The LRU implementation is adapters/datastores/cache.ts.
 */
export interface ReadCache {
  /** The store the copies live in (e.g. FP_LOCAL); it may also be in the read order. */
  readonly store: Datastore;
  /** A valid copy of `key` (or of `range` of it); `sources` resolves a source store by name for revalidation. */
  lookup(key: string, sources: (name: string) => Datastore | undefined, range?: ByteRange): Promise<CacheLookup>;
  /** Keep a copy of `bytes`, read from `source` whose stat (taken before the read) was `stat`. */
  admit(key: string, bytes: Uint8Array, source: Datastore, stat: ObjectStat): Promise<void>;
  /** The copy's stat, when valid (for `stat` through the reader). */
  statOf?(key: string): ObjectStat | undefined;
}

export interface FallThroughOptions {
  /** A write-back cache; a plain Datastore means "copy every object read from a later store into it". */
  cache?: ReadCache | Datastore;
  /** Reads in flight at once in `readMany`. @default 8 */
  concurrency?: number;
  /** Called after each whole read, e.g. to print "loaded KEY from S3". */
  onRead?: (result: { key: string; from: string; cachedFrom?: string; size: number }) => void;
}

function isReadCache(c: ReadCache | Datastore): c is ReadCache {
  return typeof (c as ReadCache).lookup === 'function' && typeof (c as ReadCache).admit === 'function';
}

/** A cache that is just a store: copies are never revalidated or evicted (what the first version did). */
function plainCopyCache(store: Datastore): ReadCache {
  return {
    store,
    lookup: async () => ({ status: 'absent' }),
    admit: async (key, bytes) => {
      await store.write(key, bytes);
    },
  };
}

/** "loaded prices/date=2024-01-02/part-0.parquet from FP_LOCAL (cached copy of S3)". */
export function describeRead(r: { key: string; from: string; cachedFrom?: string }): string {
  return `loaded ${r.key} from ${r.from}${r.cachedFrom ? ` (cached copy of ${r.cachedFrom})` : ''}`;
}

/**
 * Reads each key from the first store in `order` that has it ("loaded
 * prices/date=2024-01-02 from FP_LOCAL"). With a cache, a valid cached copy
 * is served first; an object served whole by a later store is copied into
 * the cache so the next read stays local. Ranged reads fetch only their
 * bytes and are not copied (a range is not the object).
 * Only "not found" falls through; any other error (access denied, throttled
 * after retries, corrupt) is raised, because skipping it would hide it.
 * Concurrent whole reads of one key share one fetch.
 */
export class FallThroughReader {
  readonly report: Array<{ key: string; from: string; cachedFrom?: string }> = [];
  /** Problems that did not fail a read (a cache copy that could not be written: full disk…). */
  readonly warnings: string[] = [];
  private readonly cache: ReadCache | undefined;
  private readonly inflight = new Map<string, Promise<ReadResult>>();
  private readonly rangesReported = new Set<string>();
  constructor(
    readonly order: readonly Datastore[],
    private readonly options: FallThroughOptions = {},
  ) {
    this.cache = options.cache ? (isReadCache(options.cache) ? options.cache : plainCopyCache(options.cache)) : undefined;
  }

  private byName = (name: string): Datastore | undefined => this.order.find((s) => s.name === name);

  /** Whether whole reads are copied into a cache. */
  get hasCache(): boolean {
    return this.cache !== undefined;
  }

  /** The stores to try in turn: the cache first when it is not in the read order itself. */
  private get stores(): readonly Datastore[] {
    const c = this.cache?.store;
    return c && !this.order.includes(c) ? [c, ...this.order] : this.order;
  }

  read(key: string, range?: ByteRange): Promise<ReadResult> {
    if (range) return this.fetch(key, range);
    let p = this.inflight.get(key);
    if (!p) {
      p = this.fetch(key).finally(() => this.inflight.delete(key));
      this.inflight.set(key, p);
    }
    return p;
  }

  private async fetch(key: string, range?: ByteRange): Promise<ReadResult> {
    const cache = this.cache;
    for (const store of this.stores) {
      if (cache && store === cache.store) {
        const found = await cache.lookup(key, this.byName, range);
        if (found.status === 'hit') return this.served({ key, bytes: found.bytes, from: store.name, cachedFrom: found.source }, range);
        // A stale copy was dropped; a key the cache never copied may still be a file of this store.
        if (found.status === 'stale' || !this.order.includes(store)) continue;
      }
      let bytes: Uint8Array;
      let stat: ObjectStat | undefined;
      try {
        // Stat before reading, so a copy is never recorded as newer than it is.
        if (cache && !range && store !== cache.store) stat = await store.stat(key);
        bytes = await store.read(key, range);
      } catch (err) {
        if (err instanceof DatastoreNotFoundError) continue;
        throw err;
      }
      if (cache && stat && store !== cache.store) {
        try {
          await cache.admit(key, bytes, store, stat);
        } catch (err) {
          this.warnings.push(`could not keep a copy of ${key} in ${cache.store.name}: ${(err as Error).message}`);
        }
      }
      return this.served({ key, bytes, from: store.name }, range);
    }
    throw new DatastoreNotFoundError(this.stores.map((s) => s.name).join(','), key);
  }

  /** Whole reads are reported each time; ranged reads once per key and store (a Parquet reader makes several). */
  private served(r: ReadResult, range: ByteRange | undefined): ReadResult {
    const seen = `${r.from}\u0000${r.key}`;
    if (!range || !this.rangesReported.has(seen)) {
      if (range) this.rangesReported.add(seen);
      this.report.push({ key: r.key, from: r.from, ...(r.cachedFrom ? { cachedFrom: r.cachedFrom } : {}) });
      this.options.onRead?.({ key: r.key, from: r.from, ...(r.cachedFrom ? { cachedFrom: r.cachedFrom } : {}), size: r.bytes.length });
    }
    return r;
  }

  /** The stat of `key` in the first store that has it (a valid cached copy counts), and that store's name. */
  async stat(key: string): Promise<ObjectStat & { from: string }> {
    const cache = this.cache;
    for (const store of this.stores) {
      if (cache && store === cache.store) {
        const known = cache.statOf?.(key);
        if (known) return { ...known, from: store.name };
        if (!this.order.includes(store)) continue;
      }
      try {
        return { ...(await store.stat(key)), from: store.name };
      } catch (err) {
        if (err instanceof DatastoreNotFoundError) continue;
        throw err;
      }
    }
    throw new DatastoreNotFoundError(this.stores.map((s) => s.name).join(','), key);
  }

  /** Reads `keys` with at most `concurrency` (default 8) in flight; results in input order. */
  async readMany(keys: readonly string[]): Promise<ReadResult[]> {
    return mapPool(keys, this.options.concurrency ?? 8, (k) => this.read(k));
  }
}

/**
 * `fn` over `items` with at most `limit` calls in flight; results in input
 * order. The first failure stops new calls and is raised once the running
 * ones settle (nothing keeps running behind the caller's back).
 */
export async function mapPool<T, R>(items: readonly T[], limit: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failed: { err: unknown } | undefined;
  const worker = async () => {
    while (!failed && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i] as T, i);
      } catch (err) {
        failed ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failed) throw failed.err;
  return out;
}

export interface FallThroughViewOptions {
  /**
   * With a cache, an object at most this big is fetched whole on its first
   * ranged read (and so copied into the cache; a Parquet footer plus a few
   * column chunks cost as many round trips as the whole small file). Bigger
   * objects are read by range and not copied. @default 64 MiB
   */
  wholeBelowBytes?: number;
  /** Where `write` and `delete` go; absent, the view is read-only. */
  writeTarget?: Datastore;
}

/**
 * The read order as one Datastore, so anything that reads a store (readTable,
 * datasets) reads through the fall-through and the cache. `list` merges the
 * stores' listings (the first store with a key wins).
 */
export class FallThroughView implements Datastore {
  readonly name: string;
  readonly location: string;
  private readonly recent = new Map<string, Uint8Array>();
  constructor(
    readonly reader: FallThroughReader,
    private readonly options: FallThroughViewOptions = {},
  ) {
    this.name = reader.order.map((s) => s.name).join(',');
    this.location = `read:${this.name}`;
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.reader.stat(key);
      return true;
    } catch (err) {
      if (err instanceof DatastoreNotFoundError) return false;
      throw err;
    }
  }

  async stat(key: string): Promise<ObjectStat> {
    const { from: _from, ...stat } = await this.reader.stat(key);
    return stat;
  }

  async list(prefix: string, options: { token?: string; limit?: number } = {}): Promise<ListPage> {
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 1000));
    const merged = new Map<string, ObjectStat>();
    for (const store of this.reader.order) {
      for await (const o of listAll(store, prefix)) if (!merged.has(o.key) && (!options.token || o.key > options.token)) merged.set(o.key, o);
    }
    const keys = [...merged.keys()].sort();
    const page = keys.slice(0, limit);
    return { entries: page.map((k) => merged.get(k) as ObjectStat), ...(keys.length > limit ? { nextToken: page[page.length - 1] } : {}) };
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    if (!range) return this.remember(key, (await this.reader.read(key)).bytes);
    const held = this.recent.get(key);
    if (!held && this.reader.hasCache) {
      const size = (await this.reader.stat(key)).size;
      if (size <= (this.options.wholeBelowBytes ?? 64 * 1024 * 1024)) return slice(this.remember(key, (await this.reader.read(key)).bytes), range);
    }
    if (held) return slice(held, range);
    return (await this.reader.read(key, range)).bytes;
  }

  /** Keeps the last few whole objects, so the slices one reader asks for reuse one fetch. */
  private remember(key: string, bytes: Uint8Array): Uint8Array {
    this.recent.delete(key);
    this.recent.set(key, bytes);
    while (this.recent.size > 4) this.recent.delete(this.recent.keys().next().value as string);
    return bytes;
  }

  async write(key: string, body: WriteBody, options?: { signal?: AbortSignal }): Promise<ObjectStat> {
    if (!this.options.writeTarget) throw new DatastoreError(`${this.name}: this view of the read order is read-only; write to a named store`, { store: this.name, key, statusCode: 400 });
    this.recent.delete(key);
    return this.options.writeTarget.write(key, body, options);
  }

  async delete(key: string): Promise<void> {
    if (!this.options.writeTarget) throw new DatastoreError(`${this.name}: this view of the read order is read-only; delete from a named store`, { store: this.name, key, statusCode: 400 });
    this.recent.delete(key);
    await this.options.writeTarget.delete(key);
  }
}

function slice(bytes: Uint8Array, range: ByteRange): Uint8Array {
  const start = Math.min(range.offset, bytes.length);
  const end = range.length === undefined ? bytes.length : Math.min(bytes.length, start + range.length);
  return bytes.subarray(start, end);
}
