import { createHash } from 'node:crypto';
import { DatastoreError, DatastoreNotFoundError } from '../../shared/datastores/errors.ts';
import { listAll, type Datastore, type ObjectStat } from '../../shared/datastores/port.ts';

/**
 * Copies between stores (`recc data cp|sync`): streamed in chunks so a large
 * object never sits in memory whole, and change detection for sync by
 * size, then ETag (S3) or the MD5 an S3 ETag stands for (a local file), then
 * mtime when neither side has a content hash.
 */

/** Bytes per ranged read while copying; also lib-storage's part size in S3Datastore, so ETags of multipart copies can be recomputed. */
export const COPY_CHUNK_BYTES = 8 * 1024 * 1024;

/** The source's bytes as a stream of ranged reads. */
async function* chunks(src: Datastore, key: string, size: number, chunkBytes: number, onBytes?: (n: number) => void): AsyncGenerator<Uint8Array> {
  if (size === 0) {
    yield new Uint8Array(0);
    return;
  }
  for (let offset = 0; offset < size; offset += chunkBytes) {
    const part = await src.read(key, { offset, length: Math.min(chunkBytes, size - offset) });
    if (part.length === 0) break;
    onBytes?.(part.length);
    yield part;
  }
}

export interface CopyOptions {
  chunkBytes?: number;
  /** Called with each chunk's size as it is read. */
  onBytes?: (n: number) => void;
  signal?: AbortSignal;
}

/**
 * Copies one object; the destination sees the old object or the whole new
 * one (the port's atomic write). A source that changed size mid-copy is an
 * error, and the copy it made is removed.
 */
export async function copyObject(src: Datastore, dst: Datastore, key: string, options: CopyOptions & { stat?: ObjectStat; dstKey?: string } = {}): Promise<ObjectStat> {
  const stat = options.stat ?? (await src.stat(key));
  const dstKey = options.dstKey ?? key;
  const chunkBytes = options.chunkBytes ?? COPY_CHUNK_BYTES;
  const body = stat.size <= chunkBytes ? await src.read(key) : chunks(src, key, stat.size, chunkBytes, options.onBytes);
  if (body instanceof Uint8Array) options.onBytes?.(body.length);
  const written = await dst.write(dstKey, body, options.signal ? { signal: options.signal } : {});
  if (written.size !== stat.size) {
    await dst.delete(dstKey).catch(() => undefined);
    throw new DatastoreError(`${src.name}: "${key}" changed size while it was copied to ${dst.name} (${stat.size} → ${written.size} bytes); nothing was kept, copy again`, {
      store: src.name,
      key,
      statusCode: 409,
    });
  }
  return written;
}

/** Keys under `path`: the one object when `path` names one, else every object under `path` as a prefix. */
export async function objectsAt(store: Datastore, path: string): Promise<ObjectStat[]> {
  if (path !== '' && !path.endsWith('/')) {
    try {
      return [await store.stat(path)];
    } catch (err) {
      if (!(err instanceof DatastoreNotFoundError)) throw err;
    }
    const under: ObjectStat[] = [];
    for await (const o of listAll(store, `${path}/`)) under.push(o);
    if (under.length === 0) throw new DatastoreNotFoundError(store.name, path);
    return under;
  }
  const out: ObjectStat[] = [];
  for await (const o of listAll(store, path)) out.push(o);
  return out;
}

/** The ETag S3 gives an object of these bytes: MD5 for a single PUT, MD5 of the part MD5s plus `-N` for N parts. */
export async function s3EtagOf(store: Datastore, key: string, size: number, parts: number): Promise<string | undefined> {
  if (parts <= 1) {
    const md5 = createHash('md5');
    for await (const c of chunks(store, key, size, COPY_CHUNK_BYTES)) md5.update(c);
    return md5.digest('hex');
  }
  // lib-storage cuts equal parts of its part size; only ours (COPY_CHUNK_BYTES) can be recomputed.
  if (Math.ceil(size / COPY_CHUNK_BYTES) !== parts) return undefined;
  const whole = createHash('md5');
  for await (const c of chunks(store, key, size, COPY_CHUNK_BYTES)) whole.update(createHash('md5').update(c).digest());
  return `${whole.digest('hex')}-${parts}`;
}

export type SyncReason = 'new' | 'size' | 'content' | 'newer';

/**
 * Whether `src` must be copied over `dst` (a reason), or undefined when they
 * hold the same bytes. Content hashes decide when there are any; mtime only
 * when neither side has one (local to local: a copy is newer than its source).
 */
export async function syncReason(
  src: { store: Datastore; stat: ObjectStat },
  dst: { store: Datastore; stat: ObjectStat } | undefined,
): Promise<SyncReason | undefined> {
  if (!dst) return 'new';
  const s = src.stat;
  const d = dst.stat;
  if (s.size !== d.size) return 'size';
  if (s.etag && d.etag) {
    if (s.etag === d.etag) return undefined;
    if (partsOf(s.etag) === partsOf(d.etag)) return 'content';
    // Same bytes uploaded with different part sizes have different ETags: recompute the other side's form.
    const theirs = await s3EtagOf(src.store, s.key, s.size, partsOf(d.etag)).catch(() => undefined);
    return theirs === d.etag ? undefined : 'content';
  }
  const hashed = s.etag ? { etag: s.etag, local: dst } : d.etag ? { etag: d.etag, local: src } : undefined;
  if (hashed) {
    const computed = await s3EtagOf(hashed.local.store, hashed.local.stat.key, hashed.local.stat.size, partsOf(hashed.etag));
    if (computed !== undefined) return computed === hashed.etag ? undefined : 'content';
  }
  return d.mtimeMs >= s.mtimeMs ? undefined : 'newer';
}

function partsOf(etag: string): number {
  const m = /-(\d+)$/.exec(etag);
  return m ? Number(m[1]) : 1;
}
