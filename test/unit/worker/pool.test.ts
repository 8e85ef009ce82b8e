import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeValue, encodeValue } from '../../../comm/payload.ts';
import { ThreadPool, type PoolResult } from '../../../worker/pool.ts';
import { waitFor } from '../../support/wait.ts';

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
