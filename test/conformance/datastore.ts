import { describe, expect, it } from 'vitest';
import {
  DatastoreKeyError,
  DatastoreNotFoundError,
  DatastoreThrottledError,
  DatastoreWriteAbortedError,
} from '../../shared/datastores/errors.ts';
import { listAll, type Datastore } from '../../shared/datastores/port.ts';

/**
 * The Datastore contract (shared/datastores/port.ts), run against every
 * adapter. `make` returns a fresh, empty store.
 */
export interface DatastoreHarness {
  make(): Promise<Datastore>;
  /** Objects a failed upload might have left behind outside `list` (S3: open multipart uploads). */
  pendingUploads?(): Promise<number>;
  /** Make the next `n` backend requests fail with 503 SlowDown; absent when the backend cannot be throttled. */
  throttleNext?(n: number): void;
  /** Attempts the adapter makes before giving up on throttling. */
  attempts?: number;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

async function* failingBody(chunks: Uint8Array[], error: Error): AsyncGenerator<Uint8Array> {
  for (const c of chunks) yield c;
  throw error;
}

export function datastoreConformance(label: string, h: DatastoreHarness): void {
  describe(`Datastore conformance: ${label}`, () => {
    it('writes, reads back, stats and overwrites an object', async () => {
      const s = await h.make();
      const st = await s.write('a/b/c.txt', bytes('hello'));
      expect(st).toMatchObject({ key: 'a/b/c.txt', size: 5 });
      expect(text(await s.read('a/b/c.txt'))).toBe('hello');
      expect(await s.exists('a/b/c.txt')).toBe(true);
      const stat = await s.stat('a/b/c.txt');
      expect(stat.size).toBe(5);
      expect(stat.mtimeMs).toBeGreaterThan(0);
      await s.write('a/b/c.txt', bytes('bye'));
      expect(text(await s.read('a/b/c.txt'))).toBe('bye');
      expect((await s.stat('a/b/c.txt')).size).toBe(3);
      // A streamed body is stored whole.
      await s.write('streamed', (async function* () { yield bytes('ab'); yield bytes('cd'); })());
      expect(text(await s.read('streamed'))).toBe('abcd');
    });

    it('reports a missing object as DatastoreNotFoundError naming the store and key; delete is idempotent', async () => {
      const s = await h.make();
      expect(await s.exists('nope/x')).toBe(false);
      const err = await s.stat('nope/x').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreNotFoundError);
      expect((err as DatastoreNotFoundError).message).toContain(s.name);
      expect((err as DatastoreNotFoundError).message).toContain('nope/x');
      await expect(s.read('nope/x')).rejects.toBeInstanceOf(DatastoreNotFoundError);
      await s.write('gone', bytes('x'));
      await s.delete('gone');
      await s.delete('gone');
      expect(await s.exists('gone')).toBe(false);
      // A "directory" is not an object.
      await s.write('dir/file', bytes('x'));
      expect(await s.exists('dir')).toBe(false);
    });

    it('rejects keys that are empty, absolute or climb out of the store', async () => {
      const s = await h.make();
      for (const bad of ['', '/etc/passwd', '../x', 'a/../../b', 'a//b', 'a\\b', 'dir/']) {
        await expect(s.write(bad, bytes('x')), bad).rejects.toBeInstanceOf(DatastoreKeyError);
        await expect(s.read(bad), bad).rejects.toBeInstanceOf(DatastoreKeyError);
      }
      await expect(s.read('k', { offset: -1 })).rejects.toBeInstanceOf(DatastoreKeyError);
    });

    it('reads byte ranges: middle, to the end, a footer, past the end', async () => {
      const s = await h.make();
      const data = new Uint8Array(10_000).map((_, i) => i % 251);
      await s.write('r.bin', data);
      expect([...(await s.read('r.bin', { offset: 100, length: 50 }))]).toEqual([...data.subarray(100, 150)]);
      expect([...(await s.read('r.bin', { offset: 9_990 }))]).toEqual([...data.subarray(9_990)]);
      // Parquet readers fetch the 8-byte footer by offset.
      expect([...(await s.read('r.bin', { offset: data.length - 8, length: 8 }))]).toEqual([...data.subarray(data.length - 8)]);
      expect([...(await s.read('r.bin', { offset: 9_995, length: 100 }))]).toEqual([...data.subarray(9_995)]);
      expect((await s.read('r.bin', { offset: 20_000, length: 5 })).length).toBe(0);
      expect((await s.read('r.bin', { offset: 5, length: 0 })).length).toBe(0);
    });

    it('lists by prefix in key order, page by page, beyond 1,000 keys', async () => {
      const s = await h.make();
      const n = 1_005;
      const keys = Array.from({ length: n }, (_, i) => `many/k${String(i).padStart(5, '0')}`);
      for (let i = 0; i < keys.length; i += 25) {
        await Promise.all(keys.slice(i, i + 25).map((k) => s.write(k, bytes(k))));
      }
      await s.write('other/x', bytes('x'));
      await s.write('manyish', bytes('x'));
      const first = await s.list('many/');
      expect(first.entries).toHaveLength(1000);
      expect(first.nextToken).toBeTruthy();
      const second = await s.list('many/', { token: first.nextToken });
      expect(second.entries.map((e) => e.key)).toEqual(keys.slice(1000));
      expect(second.nextToken).toBeUndefined();
      const all: string[] = [];
      for await (const e of listAll(s, 'many/', 300)) all.push(e.key);
      expect(all).toEqual(keys);
      const withSibling: string[] = [];
      for await (const e of listAll(s, 'many')) withSibling.push(e.key);
      expect(withSibling).toEqual([...keys, 'manyish']);
      expect((await s.list('nothing/')).entries).toEqual([]);
      const other = await s.list('other/');
      expect(other.entries).toEqual([expect.objectContaining({ key: 'other/x', size: 1 })]);
    });

    it('an interrupted upload leaves no object, no partial object and the old version intact', async () => {
      const s = await h.make();
      await s.write('big.bin', bytes('old'));
      // Over 5 MiB so S3 starts a multipart upload before the source fails.
      const chunk = new Uint8Array(3 * 1024 * 1024).fill(7);
      const err = await s.write('big.bin', failingBody([chunk, chunk, chunk], new Error('source died'))).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreWriteAbortedError);
      expect(text(await s.read('big.bin'))).toBe('old');
      const err2 = await s.write('fresh.bin', failingBody([chunk, chunk], new Error('source died'))).catch((e: unknown) => e);
      expect(err2).toBeInstanceOf(DatastoreWriteAbortedError);
      expect(await s.exists('fresh.bin')).toBe(false);
      // Aborted by the caller.
      const ctl = new AbortController();
      const aborted = s.write('abort.bin', (async function* () { yield chunk; yield chunk; ctl.abort(); yield chunk; })(), { signal: ctl.signal });
      await expect(aborted).rejects.toBeInstanceOf(DatastoreWriteAbortedError);
      expect(await s.exists('abort.bin')).toBe(false);
      expect((await s.list('')).entries.map((e) => e.key)).toEqual(['big.bin']);
      if (h.pendingUploads) expect(await h.pendingUploads()).toBe(0);
    });

    it.skipIf(!h.throttleNext)('retries throttled requests with backoff, then raises DatastoreThrottledError', async () => {
      const s = await h.make();
      await s.write('t.txt', bytes('payload'));
      h.throttleNext!(2);
      expect(text(await s.read('t.txt'))).toBe('payload');
      h.throttleNext!(2);
      expect((await s.stat('t.txt')).size).toBe(7);
      h.throttleNext!(h.attempts! + 5);
      const err = await s.read('t.txt').catch((e: unknown) => e);
      h.throttleNext!(0);
      expect(err).toBeInstanceOf(DatastoreThrottledError);
      expect((err as Error).message).toContain(s.name);
    });
  });
}
