import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { receivePool } from '../../../comm/buffer-pool.ts';
import { decodeValue, encodeValue, KeyRef } from '../../../comm/payload.ts';
import { ThreadPool, type PoolResult } from '../../../worker/pool.ts';
import { waitFor } from '../../support/wait.ts';

const MiB = 1024 * 1024;

/** A real pool (one task thread) that records every result by key. */
class PoolHarness {
  readonly results = new Map<string, PoolResult>();
  readonly pool: ThreadPool;
  private n = 0;
  constructor() {
    this.pool = new ThreadPool(1, 'pool-test', (key, r) => this.results.set(key, r));
  }
  define(id: string, source: string): void {
    this.pool.defineFunctions([[id, { kind: 'inline', name: id, source }, undefined]]);
  }
  /** Run `f` on each argument; resolves with the decoded values (or the errors) in order. */
  async run(f: string, args: unknown[]): Promise<unknown[]> {
    const keys = args.map((a) => {
      const key = `t${++this.n}`;
      this.pool.run({ key, f, a: encodeValue([a]), deps: [] });
      return key;
    });
    await waitFor(() => keys.every((k) => this.results.has(k)), { what: 'pool results' });
    return keys.map((k) => {
      const r = this.results.get(k) as PoolResult;
      return r.ok ? decodeValue(r.data) : r.error;
    });
  }
  /** Submit batches until the pool runs `f` on the main thread (it must first prove tiny in the thread). */
  async promote(f: string, arg: (i: number) => unknown): Promise<void> {
    let i = 0;
    await waitFor(
      async () => {
        const before = this.pool.inlineRuns;
        await this.run(f, Array.from({ length: 40 }, () => arg(i++)));
        return this.pool.inlineRuns > before;
      },
      { what: `${f} to run on the main thread` },
    );
  }
}

let h: PoolHarness;
beforeEach(() => {
  h = new PoolHarness();
});
afterEach(async () => {
  await h.pool.close();
});

describe('Class: ThreadPool', () => {
  describe('Method: started (the worker sets its V8 flags after it)', () => {
    it('resolves once every thread is online, and a task runs on them afterwards', async () => {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        h.pool.started(),
        new Promise((_, reject) => (timer = setTimeout(() => reject(new Error('the thread was not online within 30 s')), 30_000))),
      ]);
      clearTimeout(timer);
      h.define('double', '(x) => x * 2');
      expect(await h.run('double', [21])).toEqual([42]);
    });

    it('collectGarbage makes each thread run a full collection between tasks', async () => {
      h.define('collections', "() => globalThis[Symbol.for('recc.collections')] ?? 0");
      const [before] = (await h.run('collections', [0])) as [number];
      h.pool.collectGarbage();
      await waitFor(async () => ((await h.run('collections', [0])) as [number])[0] === before + 1, { what: 'the thread to collect once' });
    });

    it('resolves after a thread ended as well (a pool being closed does not hang it)', async () => {
      const pool = new ThreadPool(1, 'pool-closed', () => {});
      await pool.close();
      await expect(pool.started()).resolves.toBeUndefined();
    });
  });

  describe('Method: onQueue (which tasks wait for a thread)', () => {
    it('reports a task that has to wait for the busy thread, then its start; a task that starts at once is not reported', async () => {
      const events: Array<[string, boolean]> = [];
      h.pool.onQueue((key, started) => events.push([key, started]));
      h.define('slow', '(ms) => { const end = Date.now() + ms; while (Date.now() < end); return ms; }');
      const done = h.run('slow', [150, 1, 1]);
      // t1 goes to the idle thread; t2 and t3 wait behind it (a function not yet measured goes one at a time).
      expect(events).toEqual([
        ['t2', false],
        ['t3', false],
      ]);
      expect(await done).toEqual([150, 1, 1]);
      expect(events).toEqual([
        ['t2', false],
        ['t3', false],
        ['t2', true],
        ['t3', true],
      ]);
    });

    it('says nothing about a waiting task taken off the queue (stolen or released)', async () => {
      const events: Array<[string, boolean]> = [];
      h.pool.onQueue((key, started) => events.push([key, started]));
      h.define('slow', '(ms) => { const end = Date.now() + ms; while (Date.now() < end); return ms; }');
      const done = h.run('slow', [100]);
      h.pool.run({ key: 'waits', f: 'slow', a: encodeValue([1]), deps: [] });
      expect(h.pool.cancel('waits')).toBe(true);
      expect(await done).toEqual([100]);
      expect(events).toEqual([['waits', false]]);
    });
  });

  describe('Method: run (hand-out to threads)', () => {
    it('hands a function not yet measured as short to a thread one task at a time, so a later task of higher priority overtakes', async () => {
      // Prepare: tasks of 30 ms (never pipelined); the thread's first task of the function starts at once
      const order: string[] = [];
      const pool = new ThreadPool(1, 'pool-test', (key) => order.push(key));
      pool.defineFunctions([['slow', { kind: 'inline', name: 'slow', source: '(x) => { const until = Date.now() + 30; while (Date.now() < until) {} return x; }' }, undefined]]);
      try {
        // Act
        for (let i = 0; i < 5; i++) pool.run({ key: `low${i}`, f: 'slow', a: encodeValue([i]), deps: [], priority: 1 });
        pool.run({ key: 'high', f: 'slow', a: encodeValue([9]), deps: [], priority: 0 });
        await waitFor(() => order.length === 6, { what: 'six results' });
        // Assess: only low0 was in the thread when high arrived
        expect(order.indexOf('high')).toBeLessThanOrEqual(1);
      } finally {
        await pool.close();
      }
    });

    it('keeps a queued task’s pooled input from reuse when the store lets go of it before a thread takes the task', async () => {
      // Prepare: a busy thread, and a pooled body (as received from a peer) holding a stored result
      h.define('busy', '(x) => { const until = Date.now() + 100; while (Date.now() < until) {} return x; }');
      h.define('sum', '(b) => { let s = 0; for (const v of b) s += v; return s; }');
      const body = receivePool.acquire(2 * MiB);
      const value = encodeValue(new Uint8Array(2 * MiB - 16).fill(3));
      body.set(value);
      const input = body.subarray(0, value.byteLength);
      receivePool.store(input);
      const idleBefore = receivePool.idleBytes;
      h.pool.run({ key: 'busy', f: 'busy', a: encodeValue([1]), deps: [] });
      h.pool.run({ key: 'sum', f: 'sum', a: encodeValue([new KeyRef('dep')]), deps: [['dep', input]] });
      // Act: the store spills or frees the result while the task waits for the thread
      receivePool.unstore(input);
      const idleWhileQueued = receivePool.idleBytes;
      const taken = receivePool.acquire(2 * MiB);
      taken.fill(0xff);
      await waitFor(() => h.results.has('sum'), { what: 'the task that read the input' });
      // Assess: the body was not handed out again, so the task read its own bytes
      expect(idleWhileQueued).toBe(idleBefore);
      expect(taken.buffer).not.toBe(body.buffer);
      const r = h.results.get('sum') as PoolResult;
      expect(r.ok && decodeValue(r.data)).toBe(3 * (2 * MiB - 16));
    });
  });

  describe('Method: run (main-thread fast path)', () => {
    it('runs a tiny inline function on the main thread once it proved tiny in the thread, with the same results', async () => {
      // Prepare
      h.define('double', '(x) => x * 2');
      // Act
      await h.promote('double', (i) => i);
      const before = h.pool.inlineRuns;
      const out = await h.run('double', [1, 2, 3, 50, -7]);
      // Assess
      expect(out).toEqual([2, 4, 6, 100, -14]);
      expect(h.pool.inlineRuns).toBe(before + 5);
    });

    it('runs a promoted function in the thread when an input views pooled receive memory, so that memory is reused later', async () => {
      // Prepare: a function proved tiny (on the main thread now), and a pooled body as received from a peer
      h.define('size', '(b) => b.byteLength');
      await h.promote('size', () => new Uint8Array(4));
      const body = receivePool.acquire(2 * MiB);
      const value = encodeValue(new Uint8Array(2 * MiB - 16).fill(5));
      body.set(value);
      const input = body.subarray(0, value.byteLength);
      receivePool.store(input);
      const inlineBefore = h.pool.inlineRuns;
      const idleBefore = receivePool.idleBytes;
      // Act
      h.pool.run({ key: 'pooled', f: 'size', a: encodeValue([new KeyRef('dep')]), deps: [['dep', input]] });
      await waitFor(() => h.results.has('pooled'), { what: 'the task on pooled input' });
      receivePool.unstore(input);
      // Assess: it ran in the thread (user code on the main thread would pin the body for good), and once the
      // thread's view is collected the body goes back to the pool
      const r = h.results.get('pooled') as PoolResult;
      expect(r.ok && decodeValue(r.data)).toBe(2 * MiB - 16);
      expect(h.pool.inlineRuns).toBe(inlineBefore);
      await waitFor(() => receivePool.idleBytes > idleBefore, { what: 'the body back in the pool' });
      expect(receivePool.acquire(2 * MiB).buffer).toBe(body.buffer);
    });

    it('sends a function back to the thread for good when a main-thread run throws, and reports the thread error', async () => {
      // Prepare
      h.define('checked', '(x) => { if (x < 0) throw new RangeError("negative " + x); return x + 1; }');
      await h.promote('checked', (i) => i);
      // Act
      const [err] = await h.run('checked', [-5]);
      const after = h.pool.inlineRuns;
      const out = await h.run('checked', Array.from({ length: 100 }, (_, i) => i));
      // Assess
      expect(err).toMatchObject({ name: 'RangeError', message: 'negative -5' });
      expect(out).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
      expect(h.pool.inlineRuns).toBe(after);
    });

    it('resolves an async function promoted to the main thread, then keeps it in the thread', async () => {
      // Prepare
      h.define('later', 'async (x) => { await null; return [x, "done"]; }');
      // Act
      await h.promote('later', (i) => i);
      const after = h.pool.inlineRuns;
      const out = await h.run('later', [7, 8]);
      // Assess
      expect(out).toEqual([
        [7, 'done'],
        [8, 'done'],
      ]);
      expect(h.pool.inlineRuns).toBe(after);
    });

    it('keeps every task in the thread while a worker plugin is installed', async () => {
      // Prepare
      const dir = mkdtempSync(join(tmpdir(), 'recc-pool-'));
      try {
        const plugin = join(dir, 'plugin.mjs');
        writeFileSync(plugin, 'export function setup(ctx) { globalThis.reccPoolPlugin = ctx.workerName; }\n');
        h.pool.addPlugin(plugin, 'p');
        h.define('who', '(x) => [x, globalThis.reccPoolPlugin ?? null]');
        // Act
        const out = await h.run('who', Array.from({ length: 200 }, (_, i) => i));
        // Assess: every task saw the plugin's setup (so ran in the thread)
        expect(out).toEqual(Array.from({ length: 200 }, (_, i) => [i, 'pool-test']));
        expect(h.pool.inlineRuns).toBe(0);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
