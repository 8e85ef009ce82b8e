import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, rmdir, stat as fsStat } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { finished } from 'node:stream/promises';
import { DatastoreAccessDeniedError, DatastoreError, DatastoreNotFoundError, DatastoreWriteAbortedError } from '../../shared/datastores/errors.ts';
import { checkKey, checkPrefix, checkRange, type ByteRange, type Datastore, type ListPage, type ObjectStat, type WriteBody } from '../../shared/datastores/port.ts';

/** Temporary files live here (same filesystem as the root, so rename is atomic); `list` skips it. */
export const TMP_DIR = '.recc-tmp';
/** The write-back cache's index (adapters/datastores/cache.ts) when this store holds a cache; `list` skips it. */
export const CACHE_INDEX_FILE = '.recc-cache-index.json';

/** A directory as a Datastore; keys map to paths under `root`. */
export class LocalDatastore implements Datastore {
  readonly location: string;
  constructor(
    readonly name: string,
    readonly root: string,
  ) {
    this.location = `local:${root}`;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(this.name, key).split('/'));
  }

  private fail(err: unknown, key: string): never {
    if (err instanceof DatastoreError) throw err; // a bad key, already typed
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'EISDIR') throw new DatastoreNotFoundError(this.name, key, { cause: err });
    if (code === 'EACCES' || code === 'EPERM') throw new DatastoreAccessDeniedError(this.name, `"${key}" under ${this.root}`, { cause: err });
    throw new DatastoreError(`${this.name}: ${(err as Error).message}`, { store: this.name, key, cause: err });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await fsStat(this.path(key))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return false;
      return this.fail(err, key);
    }
  }

  async stat(key: string): Promise<ObjectStat> {
    try {
      const s = await fsStat(this.path(key));
      if (!s.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
      return { key, size: s.size, mtimeMs: s.mtimeMs };
    } catch (err) {
      return this.fail(err, key);
    }
  }

  async list(prefix: string, options: { token?: string; limit?: number } = {}): Promise<ListPage> {
    checkPrefix(this.name, prefix);
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 1000));
    // Walk only the directory that contains the prefix; sort keys like S3 does (by UTF-16 code units of the key).
    const slash = prefix.lastIndexOf('/');
    const baseDir = slash < 0 ? '' : prefix.slice(0, slash);
    const keys: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      let entries;
      try {
        entries = await readdir(join(this.root, dir), { withFileTypes: true });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'ENOENT' || code === 'ENOTDIR') return;
        return this.fail(err, dir);
      }
      for (const e of entries) {
        const key = dir ? `${dir}/${e.name}` : e.name;
        if (!dir && (e.name === TMP_DIR || e.name === CACHE_INDEX_FILE)) continue;
        if (e.isDirectory()) {
          if (prefix.startsWith(`${key}/`) || `${key}/`.startsWith(prefix) || key.startsWith(prefix)) await walk(key);
        } else if (e.isFile() && key.startsWith(prefix) && (!options.token || key > options.token)) keys.push(key);
      }
    };
    await walk(baseDir);
    keys.sort();
    const page = keys.slice(0, limit);
    const entries = await Promise.all(page.map((k) => this.stat(k)));
    return { entries, ...(keys.length > limit ? { nextToken: page[page.length - 1] } : {}) };
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    checkRange(this.name, key, range);
    const path = this.path(key);
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      return this.fail(err, key);
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.min(range?.offset ?? 0, size);
      const end = range?.length === undefined ? size : Math.min(size, start + range.length);
      const buf = Buffer.allocUnsafe(end - start);
      let done = 0;
      while (done < buf.length) {
        const { bytesRead } = await fh.read(buf, done, buf.length - done, start + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === buf.length ? buf : buf.subarray(0, done);
    } catch (err) {
      return this.fail(err, key);
    } finally {
      await fh.close();
    }
  }

  async write(key: string, body: WriteBody, options: { signal?: AbortSignal } = {}): Promise<ObjectStat> {
    const path = this.path(key);
    const tmp = join(this.root, TMP_DIR, `${randomUUID()}.part`);
    try {
      await mkdir(dirname(tmp), { recursive: true });
      await mkdir(dirname(path), { recursive: true });
    } catch (err) {
      return this.fail(err, key);
    }
    const out = createWriteStream(tmp, { flags: 'wx' });
    try {
      const chunks: AsyncIterable<Uint8Array> | Uint8Array[] = body instanceof Uint8Array ? [body] : body;
      for await (const c of chunks) {
        options.signal?.throwIfAborted();
        if (!out.write(c)) await new Promise<void>((resolve, reject) => { out.once('drain', resolve); out.once('error', reject); });
      }
      options.signal?.throwIfAborted();
      out.end();
      await finished(out);
      await rename(tmp, path);
    } catch (err) {
      out.destroy();
      await rm(tmp, { force: true });
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES' || code === 'EPERM') return this.fail(err, key);
      throw new DatastoreWriteAbortedError(this.name, key, { cause: err });
    }
    return this.stat(key);
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await rm(path, { force: true });
    // Prune now-empty parent directories so `list` and `ls` stay tidy.
    let dir = dirname(path);
    while (relative(this.root, dir) && !relative(this.root, dir).startsWith(`..${sep}`)) {
      try {
        await rmdir(dir);
      } catch {
        break;
      }
      dir = dirname(dir);
    }
  }
}
