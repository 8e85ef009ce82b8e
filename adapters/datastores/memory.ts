import { createHash } from 'node:crypto';
import { DatastoreNotFoundError, DatastoreWriteAbortedError } from '../../shared/datastores/errors.ts';
import { checkKey, checkPrefix, checkRange, type ByteRange, type Datastore, type ListPage, type ObjectStat, type WriteBody } from '../../shared/datastores/port.ts';

/** In-memory Datastore for tests and for single-process scratch data. */
export class MemoryDatastore implements Datastore {
  readonly location: string;
  private readonly objects = new Map<string, { bytes: Uint8Array; stat: ObjectStat }>();
  constructor(
    readonly name = 'MEMORY',
    private readonly now: () => number = Date.now,
  ) {
    this.location = `memory:${name}`;
  }

  async exists(key: string): Promise<boolean> {
    return this.objects.has(checkKey(this.name, key));
  }

  async stat(key: string): Promise<ObjectStat> {
    const o = this.objects.get(checkKey(this.name, key));
    if (!o) throw new DatastoreNotFoundError(this.name, key);
    return { ...o.stat };
  }

  async list(prefix: string, options: { token?: string; limit?: number } = {}): Promise<ListPage> {
    checkPrefix(this.name, prefix);
    const limit = Math.max(1, Math.min(options.limit ?? 1000, 1000));
    const keys = [...this.objects.keys()].filter((k) => k.startsWith(prefix) && (!options.token || k > options.token)).sort();
    const page = keys.slice(0, limit);
    return {
      entries: page.flatMap((k) => { const o = this.objects.get(k); return o ? [{ ...o.stat }] : []; }),
      ...(keys.length > limit ? { nextToken: page[page.length - 1] } : {}),
    };
  }

  async read(key: string, range?: ByteRange): Promise<Uint8Array> {
    checkRange(this.name, key, range);
    const o = this.objects.get(checkKey(this.name, key));
    if (!o) throw new DatastoreNotFoundError(this.name, key);
    if (!range) return o.bytes.slice();
    const end = range.length === undefined ? o.bytes.length : Math.min(o.bytes.length, range.offset + range.length);
    return o.bytes.slice(Math.min(range.offset, o.bytes.length), end);
  }

  async write(key: string, body: WriteBody, options: { signal?: AbortSignal } = {}): Promise<ObjectStat> {
    checkKey(this.name, key);
    const chunks: Uint8Array[] = [];
    try {
      if (body instanceof Uint8Array) chunks.push(body.slice());
      else for await (const c of body) { options.signal?.throwIfAborted(); chunks.push(c.slice()); }
      options.signal?.throwIfAborted();
    } catch (err) {
      throw new DatastoreWriteAbortedError(this.name, key, { cause: err });
    }
    const bytes = Buffer.concat(chunks);
    const stat: ObjectStat = { key, size: bytes.length, etag: createHash('md5').update(bytes).digest('hex'), mtimeMs: this.now() };
    this.objects.set(key, { bytes, stat });
    return { ...stat };
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(checkKey(this.name, key));
  }
}
