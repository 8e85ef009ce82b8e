import { mkdtemp, readFile, rm, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WriteBackCache } from '../../../adapters/datastores/cache.ts';
import { CACHE_INDEX_FILE, LocalDatastore } from '../../../adapters/datastores/local.ts';
import { S3Datastore } from '../../../adapters/datastores/s3.ts';
import { DatastoreAccessDeniedError, DatastoreNotFoundError } from '../../../shared/datastores/errors.ts';
import { FallThroughReader, FallThroughView, describeRead } from '../../../shared/datastores/fallthrough.ts';
import type { ByteRange, Datastore } from '../../../shared/datastores/port.ts';
import { startTestS3, type TestS3 } from '../../support/s3.ts';

/**
 * The write-back cache in front of S3 (fauxqs behind the counting proxy):
 * GETs are counted where S3 answers them, copies live in a real directory.
 */
const BUCKET = 'recc-cache-test';
let s3: TestS3;
const dirs: string[] = [];
let n = 0;

beforeAll(async () => {
  s3 = await startTestS3();
  await s3.createBucket(BUCKET);
});
afterAll(async () => {
  await s3?.stop();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function tmp(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'recc-cache-'));
  dirs.push(d);
  return d;
}

const bytes = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array) => new TextDecoder().decode(b);

/** A fresh S3 prefix and an empty FP_LOCAL directory. */
async function world() {
  const prefix = `t${++n}/`;
  const remote = new S3Datastore('S3', {
    bucket: BUCKET,
    prefix,
    endpoint: s3.endpoint,
    region: s3.region,
    credentials: s3.credentials,
    attempts: 2,
    backoff: { initialMs: 1, maxMs: 5, factor: 2, jitter: 'full' },
  });
  const root = join(await tmp(), 'fp');
  const fp = new LocalDatastore('FP_LOCAL', root);
  return { prefix, remote, fp, root };
}

describe('WriteBackCache: copies from S3 into a local store', () => {
  it('a first read copies from S3; the next run (a new process, same directory) is served locally with 0 S3 GETs', async () => {
    const { remote, fp, root } = await world();
    await remote.write('prices/date=2024-01-02/part-0.parquet', bytes('day two'));
    await remote.write('prices/date=2024-01-03/part-0.parquet', bytes('day three'));
    const keys = ['prices/date=2024-01-02/part-0.parquet', 'prices/date=2024-01-03/part-0.parquet'];

    s3.resetCounts();
    const first = new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 20 }) });
    const r1 = await first.readMany(keys);
    expect(r1.map((r) => r.from)).toEqual(['S3', 'S3']);
    expect(r1.map(describeRead)).toEqual(keys.map((k) => `loaded ${k} from S3`));
    expect(s3.objectGets()).toBe(2);
    expect(text(await readFile(join(root, 'prices/date=2024-01-02/part-0.parquet')))).toBe('day two');

    s3.resetCounts();
    const cache2 = await WriteBackCache.open(fp, { maxBytes: 1 << 20 });
    expect(cache2.entries).toBe(2);
    const second = new FallThroughReader([fp, remote], { cache: cache2 });
    const r2 = await second.readMany(keys);
    expect(r2.map((r) => [r.from, r.cachedFrom, text(r.bytes)])).toEqual([
      ['FP_LOCAL', 'S3', 'day two'],
      ['FP_LOCAL', 'S3', 'day three'],
    ]);
    expect(describeRead(r2[0]!)).toBe(`loaded ${keys[0]} from FP_LOCAL (cached copy of S3)`);
    expect(s3.objectGets()).toBe(0);
    // Revalidation is a HEAD per copy, never a GET.
    expect(s3.counts.HEAD).toBe(2);
    // The index is not an object of the store.
    expect((await fp.list('')).entries.map((e) => e.key)).toEqual(keys);

    // Reading FP_LOCAL alone (offline) serves the copies as they are and keeps them.
    s3.resetCounts();
    const alone = new FallThroughReader([fp], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 20 }) });
    expect((await alone.read(keys[1]!)).from).toBe('FP_LOCAL');
    expect(Object.values(s3.counts).reduce((a, b) => a + b, 0)).toBe(0);
    expect((await WriteBackCache.open(fp, { maxBytes: 1 << 20 })).entries).toBe(2);

    // With revalidation off, no request reaches S3 at all.
    s3.resetCounts();
    const offline = new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 20, revalidate: false }) });
    expect((await offline.read(keys[0]!)).from).toBe('FP_LOCAL');
    expect(Object.values(s3.counts).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('detects a stale copy by ETag (same size, new content) and fetches the new version', async () => {
    const { prefix, remote, fp } = await world();
    await remote.write('k.bin', bytes('AAAA'));
    const open = () => WriteBackCache.open(fp, { maxBytes: 1 << 20 });
    expect((await new FallThroughReader([fp, remote], { cache: await open() }).read('k.bin')).from).toBe('S3');
    // Another writer replaces the object behind recc's back (directly at the emulator).
    await s3.client.send(new PutObjectCommand({ Bucket: BUCKET, Key: `${prefix}k.bin`, Body: 'BBBB' }));
    s3.resetCounts();
    const cache = await open();
    const r = await new FallThroughReader([fp, remote], { cache }).read('k.bin');
    expect([r.from, text(r.bytes)]).toEqual(['S3', 'BBBB']);
    expect(s3.objectGets()).toBe(1);
    expect(cache.entry('k.bin')?.sourceEtag).toBe((await remote.stat('k.bin')).etag);
    const again = await new FallThroughReader([fp, remote], { cache: await open() }).read('k.bin');
    expect([again.from, text(again.bytes)]).toEqual(['FP_LOCAL', 'BBBB']);
  });

  it('drops the copy when the source object was deleted: the read is NotFound, not a ghost', async () => {
    const { remote, fp, root } = await world();
    await remote.write('gone.txt', bytes('x'));
    await new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 100 }) }).read('gone.txt');
    await remote.delete('gone.txt');
    const cache = await WriteBackCache.open(fp, { maxBytes: 100 });
    await expect(new FallThroughReader([fp, remote], { cache }).read('gone.txt')).rejects.toBeInstanceOf(DatastoreNotFoundError);
    await expect(stat(join(root, 'gone.txt'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(cache.entries).toBe(0);
  });

  it('detects a stale copy of a local source by size and mtime', async () => {
    const base = await tmp();
    const local = new LocalDatastore('LOCAL', join(base, 'local'));
    const fp = new LocalDatastore('FP_LOCAL', join(base, 'fp'));
    await local.write('a.csv', bytes('1,2,3'));
    const open = () => WriteBackCache.open(fp, { maxBytes: 1 << 20 });
    expect((await new FallThroughReader([fp, local], { cache: await open() }).read('a.csv')).from).toBe('LOCAL');
    expect((await new FallThroughReader([fp, local], { cache: await open() }).read('a.csv')).from).toBe('FP_LOCAL');
    // Same size, new content, new mtime.
    await writeFile(join(base, 'local', 'a.csv'), '4,5,6');
    const later = new Date(Date.now() + 5_000);
    await utimes(join(base, 'local', 'a.csv'), later, later);
    const r = await new FallThroughReader([fp, local], { cache: await open() }).read('a.csv');
    expect([r.from, text(r.bytes)]).toEqual(['LOCAL', '4,5,6']);
  });

  it('stays within maxBytes, evicting the least recently used copy; an object larger than the cache is not copied', async () => {
    const { remote, fp, root } = await world();
    const hundred = (c: string) => bytes(c.repeat(100));
    for (const k of ['a', 'b', 'c']) await remote.write(k, hundred(k));
    await remote.write('huge', bytes('h'.repeat(400)));
    let clock = 1_000;
    const cache = await WriteBackCache.open(fp, { maxBytes: 250, now: () => clock });
    const r = new FallThroughReader([fp, remote], { cache });
    await r.read('a');
    clock += 1;
    await r.read('b');
    clock += 1;
    expect((await r.read('a')).from).toBe('FP_LOCAL'); // a is now more recent than b
    clock += 1;
    await r.read('c'); // 300 bytes > 250: b goes
    expect(cache.bytes).toBe(200);
    expect(cache.entry('b')).toBeUndefined();
    await expect(stat(join(root, 'b'))).rejects.toMatchObject({ code: 'ENOENT' });
    expect((await stat(join(root, 'a'))).size).toBe(100);
    expect((await r.read('huge')).from).toBe('S3');
    expect(await fp.exists('huge')).toBe(false);
    await cache.flush();
    // The bound holds across processes, and a lower bound on reopening evicts at once.
    const smaller = await WriteBackCache.open(fp, { maxBytes: 150, now: () => clock });
    expect(smaller.bytes).toBeLessThanOrEqual(150);
    expect(smaller.entry('a')).toBeUndefined(); // a (used at 1002) is older than c (1003)
    expect(smaller.entry('c')).toBeDefined();
    const index = JSON.parse(await readFile(join(root, CACHE_INDEX_FILE), 'utf8')) as { entries: Record<string, unknown> };
    expect(Object.keys(index.entries)).toEqual(['c']);
  });

  it('never serves a truncated or deleted copy', async () => {
    const { remote, fp, root } = await world();
    await remote.write('t.bin', bytes('0123456789'));
    const open = () => WriteBackCache.open(fp, { maxBytes: 1 << 20 });
    await new FallThroughReader([fp, remote], { cache: await open() }).read('t.bin');
    await truncate(join(root, 't.bin'), 4);
    const r = await new FallThroughReader([fp, remote], { cache: await open() }).read('t.bin');
    expect([r.from, text(r.bytes)]).toEqual(['S3', '0123456789']);
    await rm(join(root, 't.bin'));
    const r2 = await new FallThroughReader([fp, remote], { cache: await open() }).read('t.bin');
    expect([r2.from, text(r2.bytes)]).toEqual(['S3', '0123456789']);
    expect((await new FallThroughReader([fp, remote], { cache: await open() }).read('t.bin')).from).toBe('FP_LOCAL');
  });

  it('a corrupt index starts over with a warning instead of failing reads', async () => {
    const { remote, fp, root } = await world();
    await remote.write('x', bytes('x'));
    await new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 100 }) }).read('x');
    await writeFile(join(root, CACHE_INDEX_FILE), '{"version": 1, "entries": {"x": {"size": "big"}}');
    const cache = await WriteBackCache.open(fp, { maxBytes: 100 });
    expect(cache.warnings.join()).toMatch(/cache index .* is not JSON/);
    // FP_LOCAL has the file; without an index entry it is an ordinary FP_LOCAL object.
    expect((await new FallThroughReader([fp, remote], { cache }).read('x')).from).toBe('FP_LOCAL');
  });

  it('a cache that cannot be written (not a directory, full disk) does not fail the read; it is reported', async () => {
    const { remote } = await world();
    const base = await tmp();
    await writeFile(join(base, 'a-file'), 'not a directory');
    const fp = new LocalDatastore('FP_LOCAL', join(base, 'a-file', 'fp'));
    await remote.write('k', bytes('payload'));
    const r = new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 20 }) });
    const got = await r.read('k');
    expect([got.from, text(got.bytes)]).toEqual(['S3', 'payload']);
    expect(r.warnings.join()).toContain('could not keep a copy of k in FP_LOCAL');
  });

  it('a cache store outside the read order still sits in front of it', async () => {
    const { remote, fp } = await world();
    await remote.write('solo', bytes('s'));
    const open = () => WriteBackCache.open(fp, { maxBytes: 100 });
    expect((await new FallThroughReader([remote], { cache: await open() }).read('solo')).from).toBe('S3');
    s3.resetCounts();
    expect((await new FallThroughReader([remote], { cache: await open() }).read('solo')).from).toBe('FP_LOCAL');
    expect(s3.objectGets()).toBe(0);
  });
});

describe('FallThroughReader: bounded concurrency and partial reads', () => {
  /** Delegates to a real store and records how many reads are in flight at once. */
  function gauge(store: Datastore) {
    let now = 0;
    const g = { max: 0, reads: 0 };
    const wrapped: Datastore = Object.create(store) as Datastore;
    wrapped.read = async (key: string, range?: ByteRange) => {
      now++;
      g.reads++;
      g.max = Math.max(g.max, now);
      try {
        return await store.read(key, range);
      } finally {
        now--;
      }
    };
    return { store: wrapped, g };
  }

  it('reads many keys with at most `concurrency` in flight; concurrent reads of one key share one GET', async () => {
    const { remote, fp } = await world();
    const keys = Array.from({ length: 24 }, (_, i) => `many/k${String(i).padStart(2, '0')}`);
    await Promise.all(keys.map((k) => remote.write(k, bytes(k))));
    const { store, g } = gauge(remote);
    const r = new FallThroughReader([fp, store], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 20 }), concurrency: 3 });
    const out = await r.readMany(keys);
    expect(out.map((x) => text(x.bytes))).toEqual(keys);
    expect(g.max).toBeLessThanOrEqual(3);
    expect(g.max).toBeGreaterThan(1);
    await remote.write('shared', bytes('one'));
    s3.resetCounts();
    const same = await Promise.all(Array.from({ length: 5 }, () => r.read('shared')));
    expect(same.every((x) => text(x.bytes) === 'one')).toBe(true);
    expect(s3.objectGets()).toBe(1);
  });

  it('a ranged read fetches only its bytes from S3 and does not copy a part into the cache', async () => {
    const { remote, fp } = await world();
    const big = new Uint8Array(2 * 1024 * 1024).map((_, i) => i % 253);
    await remote.write('big.parquet', big);
    const cache = await WriteBackCache.open(fp, { maxBytes: 1 << 30 });
    const r = new FallThroughReader([fp, remote], { cache });
    s3.resetCounts();
    const footer = await r.read('big.parquet', { offset: big.length - 8, length: 8 });
    expect([...footer.bytes]).toEqual([...big.subarray(big.length - 8)]);
    const chunk = await r.read('big.parquet', { offset: 1000, length: 4096 });
    expect([...chunk.bytes]).toEqual([...big.subarray(1000, 5096)]);
    expect(s3.objectGets()).toBe(2);
    expect(s3.getBytes()).toBe(8 + 4096);
    expect(await fp.exists('big.parquet')).toBe(false);
    // Once the whole object is cached, ranges come from the copy.
    await r.read('big.parquet');
    s3.resetCounts();
    const again = await r.read('big.parquet', { offset: 10, length: 20 });
    expect([again.from, [...again.bytes]]).toEqual(['FP_LOCAL', [...big.subarray(10, 30)]]);
    expect(s3.objectGets()).toBe(0);
  });

  it('the read order as one Datastore: a small object is fetched whole on its first slice and cached; a big one by range', async () => {
    const { remote, fp } = await world();
    const small = new Uint8Array(50_000).map((_, i) => i % 7);
    const big = new Uint8Array(300_000).map((_, i) => i % 11);
    await remote.write('small.parquet', small);
    await remote.write('big.parquet', big);
    const open = async () => new FallThroughView(new FallThroughReader([fp, remote], { cache: await WriteBackCache.open(fp, { maxBytes: 1 << 30 }) }), { wholeBelowBytes: 100_000 });
    const view = await open();
    s3.resetCounts();
    // As a Parquet reader does: size, footer, then a column chunk.
    expect((await view.stat('small.parquet')).size).toBe(50_000);
    expect([...(await view.read('small.parquet', { offset: 49_992, length: 8 }))]).toEqual([...small.subarray(49_992)]);
    expect([...(await view.read('small.parquet', { offset: 100, length: 10 }))]).toEqual([...small.subarray(100, 110)]);
    expect(s3.objectGets()).toBe(1);
    expect(view.reader.report).toEqual([{ key: 'small.parquet', from: 'S3' }]);
    expect([...(await view.read('big.parquet', { offset: 10, length: 10 }))]).toEqual([...big.subarray(10, 20)]);
    expect(s3.getBytes()).toBe(50_000 + 10);
    expect(await fp.exists('big.parquet')).toBe(false);
    // The next process reads the small one from FP_LOCAL with no GET.
    s3.resetCounts();
    const next = await open();
    expect([...(await next.read('small.parquet', { offset: 0, length: 4 }))]).toEqual([...small.subarray(0, 4)]);
    expect(next.reader.report).toEqual([{ key: 'small.parquet', from: 'FP_LOCAL', cachedFrom: 'S3' }]);
    expect(s3.objectGets()).toBe(0);
    expect((await next.list('')).entries.map((e) => e.key)).toEqual(['big.parquet', 'small.parquet']);
    await expect(next.write('x', bytes('x'))).rejects.toThrow(/read-only/);
  });

  it('an endpoint nothing listens on is an error naming the store and the endpoint, without retries', async () => {
    const { createServer } = await import('node:net');
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as { port: number }).port;
    await new Promise((r) => closed.close(r));
    const nowhere = new S3Datastore('S3', { bucket: BUCKET, endpoint: `http://127.0.0.1:${port}`, region: s3.region, credentials: s3.credentials, attempts: 3 });
    const err = await nowhere.read('k').catch((e: unknown) => e);
    expect((err as Error).message).toBe(`S3: cannot reach S3 at http://127.0.0.1:${port} (ECONNREFUSED); expected a reachable endpoint for bucket "${BUCKET}"`);
  });

  it('a bucket without permission is an access-denied error naming the store and what was expected, not a fall-through', async () => {
    const { remote, fp } = await world();
    await remote.write('secret', bytes('s'));
    s3.forbidBucket(BUCKET);
    try {
      const err = await new FallThroughReader([fp, remote]).read('secret').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatastoreAccessDeniedError);
      expect((err as Error).message).toMatch(/^S3: access denied to s3:\/\/recc-cache-test\/t\d+\/secret; expected read and write permission/);
    } finally {
      s3.forbidBucket(undefined);
    }
  });
});
