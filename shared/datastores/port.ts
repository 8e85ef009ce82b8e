import { DatastoreKeyError } from './errors.ts';

/**
 * A named store of immutable-ish objects addressed by `/`-separated keys:
 * a local directory, an S3 bucket prefix, or memory. Adapters live in
 * adapters/datastores/; the contract is test/conformance/datastore.ts.
 */
export interface ObjectStat {
  key: string;
  size: number;
  /** Content hash as the backend reports it (S3 ETag, quotes removed); absent on local disks. */
  etag?: string;
  mtimeMs: number;
}

export interface ListPage {
  entries: ObjectStat[];
  /** Pass back to `list` for the next page; absent on the last page. */
  nextToken?: string;
}

export interface ByteRange {
  offset: number;
  /** Bytes to read; omitted = to the end. */
  length?: number;
}

export type WriteBody = Uint8Array | AsyncIterable<Uint8Array>;

export interface Datastore {
  readonly name: string;
  /** `local:/abs/root` or `s3://bucket/prefix`, for reports. */
  readonly location: string;
  exists(key: string): Promise<boolean>;
  /** Throws DatastoreNotFoundError. */
  stat(key: string): Promise<ObjectStat>;
  /** Keys under `prefix` in lexicographic order, at most `limit` (default 1000) per page. */
  list(prefix: string, options?: { token?: string; limit?: number }): Promise<ListPage>;
  /** The whole object or one byte range of it; throws DatastoreNotFoundError. */
  read(key: string, range?: ByteRange): Promise<Uint8Array>;
  /**
   * Atomic: readers see the old object or the whole new one, never a part.
   * If the body fails or `signal` aborts, nothing is stored.
   */
  write(key: string, body: WriteBody, options?: { signal?: AbortSignal }): Promise<ObjectStat>;
  /** Idempotent. */
  delete(key: string): Promise<void>;
}

/** Every key under `prefix`, across pages. */
export async function* listAll(store: Datastore, prefix: string, pageSize?: number): AsyncGenerator<ObjectStat> {
  let token: string | undefined;
  do {
    const page = await store.list(prefix, { token, limit: pageSize });
    yield* page.entries;
    token = page.nextToken;
  } while (token);
}

/** Rejects keys that could escape a root or mean different things on different backends. */
export function checkKey(store: string, key: string): string {
  if (typeof key !== 'string' || key.length === 0) throw new DatastoreKeyError(store, String(key), 'expected a non-empty string');
  if (key.startsWith('/')) throw new DatastoreKeyError(store, key, 'expected a relative key (no leading "/")');
  if (key.includes('\\')) throw new DatastoreKeyError(store, key, 'expected "/" as the separator, not "\\"');
  const parts = key.split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw new DatastoreKeyError(store, key, 'expected no "." or ".." segments');
  if (parts.some((p, i) => p === '' && i !== parts.length - 1)) throw new DatastoreKeyError(store, key, 'expected no empty segments ("//")');
  if (key.endsWith('/')) throw new DatastoreKeyError(store, key, 'expected an object key, not a prefix ending in "/"');
  return key;
}

export function checkPrefix(store: string, prefix: string): string {
  if (prefix === '') return prefix;
  checkKey(store, prefix.endsWith('/') ? `${prefix}x` : prefix);
  return prefix;
}

export function checkRange(store: string, key: string, range: ByteRange | undefined): void {
  if (!range) return;
  const ok = Number.isInteger(range.offset) && range.offset >= 0 && (range.length === undefined || (Number.isInteger(range.length) && range.length >= 0));
  if (!ok) throw new DatastoreKeyError(store, key, `expected a range with a non-negative integer offset and length, got ${JSON.stringify(range)}`);
}

export async function collect(body: WriteBody): Promise<Uint8Array> {
  if (body instanceof Uint8Array) return body;
  const chunks: Uint8Array[] = [];
  for await (const c of body) chunks.push(c);
  return Buffer.concat(chunks);
}
