import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { Client, LocalCluster, TaskError, ValidationError, command, delayed, getClient, NoClientError, type Future } from '../../../client/index.ts';
import { repoPath, useLocalCluster } from '../../support/engine.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Dask habits that must work (or be refused clearly) at run time, not only
 * under tsc: awaitable futures, map over several iterables, scatter of a list,
 * exception(), addDoneCallback, persist, delayed(...).compute() with the
 * default client, and task errors that point at the user's code. A real
 * scheduler and one real worker process on loopback.
 */
describe('Dask parity (LocalCluster, 1 worker)', () => {
  let cluster: LocalCluster;
  let client: Client;
  useLocalCluster({ nWorkers: 1, threadsPerWorker: 2 }, (c, cl) => {
    cluster = c;
    client = cl;
  });

  describe('Future is awaitable', () => {
    it('await client.submit(...) gives the value, and a failure rejects with the TaskError', async () => {
      expect(await client.submit((x: number) => x * 2, 21)).toBe(42);
      await expect(client.submit((x: number) => { if (x) throw new TypeError('nope'); return x; }, 1)).rejects.toMatchObject({ name: 'TypeError', message: 'nope' });
    });

    it('an async function returning a Future resolves to its value; Promise.all unwraps futures', async () => {
      const viaAsync = async () => client.submit((x: number) => x + 1, 1);
      expect(await viaAsync()).toBe(2);
      expect(await Promise.all([client.submit((x: number) => x + 2, 1), client.submit((x: number) => x + 3, 1)])).toEqual([3, 4]);
    });

    it('asCompleted still yields Future objects (not their values)', async () => {
      const { asCompleted } = await import('../../../client/index.ts');
      const seen: unknown[] = [];
      for await (const f of asCompleted([client.submit((x: number) => x * 5, 5)])) seen.push(f);
      expect(seen).toHaveLength(1);
      expect(typeof (seen[0] as Future).key).toBe('string');
      expect(await (seen[0] as Future<number>).result()).toBe(25);
    });
  });

  describe('Method: map', () => {
    it('maps over three iterables element-wise, like Dask', async () => {
      const futures = client.map((a: number, b: number, c: number) => a + 10 * b + 100 * c, [1, 2, 3], [4, 5, 6], [7, 8, 9]);
      expect(await client.gather(futures)).toEqual([741, 852, 963]);
    });

    it('takes options only as a trailing plain object, and still maps one iterable with options', async () => {
      expect(await client.gather(client.map((x: number) => x + 1, new Set([1, 2]), { pure: false, retries: 1 }))).toEqual([2, 3]);
    });

    it('refuses unknown option keys, naming each with a suggestion', () => {
      const err = thrown(() => client.map((x: number) => x, [1, 2], { retires: 2, resource: { GPU: 1 } } as never));
      expect(err).toBeInstanceOf(ValidationError);
      expect(err.message).toMatch(/unknown option "retires"/);
      expect(err.message).toMatch(/did you mean "retries"/);
      expect((err as ValidationError).details.map((d) => d.path)).toEqual(['options.retires', 'options.resource']);
      expect((err as ValidationError).details[1]?.message).toMatch(/did you mean "resources"/);
    });

    it('refuses iterables of different lengths and arguments that are neither iterables nor options', () => {
      expect(thrown(() => client.map((a: number, b: number) => a + b, [1, 2, 3], [1, 2])).message).toMatch(/same length.*3.*2/);
      expect(thrown(() => client.map((a: number) => a, [1], 5 as never)).message).toMatch(/argument 3.*iterable/);
      expect(thrown(() => client.map((a: number) => a, [1], { retries: -1 })).message).toMatch(/retries/);
    });
  });

  describe('Method: scatter', () => {
    it('scatters an array as one future per element, as Dask does', async () => {
      const futures = client.scatter([{ a: 1 }, { a: 2 }]);
      expect(Array.isArray(futures)).toBe(true);
      expect(futures).toHaveLength(2);
      expect(await client.gather(futures)).toEqual([{ a: 1 }, { a: 2 }]);
      const one = client.scatter({ list: [1, 2] });
      expect(await one).toEqual({ list: [1, 2] });
      // An array as one value: wrap it, as in Dask.
      const [whole] = client.scatter([[1, 2, 3]]);
      expect(await whole).toEqual([1, 2, 3]);
    });
  });

  describe('Method: Future.exception', () => {
    it('resolves with the task error, or undefined when it finished', async () => {
      const bad = client.submitWith({ pure: false }, (x: number) => { throw new RangeError(`too big: ${x}`); }, 7);
      const good = client.submit((x: number) => x, 7);
      const err = await bad.exception();
      expect(err).toBeInstanceOf(TaskError);
      expect(err).toMatchObject({ name: 'RangeError', message: 'too big: 7' });
      expect(await good.exception()).toBeUndefined();
    });
  });

  describe('Method: Future.addDoneCallback', () => {
    it('calls back once the task is done, and at once for a future already done', async () => {
      const calls: string[] = [];
      const f = client.submitWith({ pure: false }, async (ms: number) => { await new Promise((r) => setTimeout(r, ms)); return ms; }, 50);
      f.addDoneCallback((g) => calls.push(`first:${g.status}`));
      await waitFor(() => calls.length === 1, { timeoutMs: 30_000, what: 'the callback' });
      f.addDoneCallback((g) => calls.push(`late:${g.status}`));
      await waitFor(() => calls.length === 2, { timeoutMs: 30_000, what: 'the late callback' });
      expect(calls).toEqual(['first:finished', 'late:finished']);
      const failed = client.submitWith({ pure: false }, () => { throw new Error('x'); });
      const statuses: string[] = [];
      failed.addDoneCallback((g) => statuses.push(g.status));
      await waitFor(() => statuses.length === 1, { timeoutMs: 30_000, what: 'the failed callback' });
      expect(statuses).toEqual(['error']);
    });
  });

  describe('Method: persist and delayed(...).compute()', () => {
    it('persist starts the graph now and gives a delayed value to build on', async () => {
      const inc = delayed((x: number) => x + 1);
      const double = delayed((x: number) => x * 2);
      const persisted = client.persist(inc(inc(1)));
      const key = persisted.args.futures[0]?.key as string;
      await waitFor(async () => (await client.taskStates([key]))[0] === 'memory', { timeoutMs: 30_000, what: 'the persisted key in memory' });
      expect(await client.get(double(persisted))).toBe(6);
      const [p1, p2] = client.persist([inc(10), inc(20)]);
      expect(await client.get(double(p1 as never))).toBe(22);
      expect(await p2?.compute()).toBe(21);
    });

    it('delayed(...).compute() uses the most recently connected open client, and says so when there is none', async () => {
      expect(getClient()).toBe(client);
      const add = delayed((a: number, b: number) => a + b);
      expect(await add(add(1, 2), 3).compute()).toBe(6);
      const second = await Client.connect(cluster);
      expect(getClient()).toBe(second);
      await second.close();
      expect(getClient()).toBe(client);
      expect(await add(5, 5).compute()).toBe(10);
    });
  });

  describe('Task errors', () => {
    it('a module task error stack names the .ts file and line', async () => {
      const mod = await client.module(repoPath('test/e2e/engine/fixtures/bad-module.ts'));
      const err = (await client.submit(mod.fn('explode'), 3).exception()) as TaskError;
      expect(err).toMatchObject({ name: 'RangeError', message: 'explode got 3' });
      expect(err.stack).toMatch(/bad-module\.ts:2:/);
      expect(err.stack).not.toMatch(/[0-9a-f]{16,}\.mjs/);
    });

    it('an inline task frame has a readable name', async () => {
      const parseRow = (row: string) => JSON.parse(row) as unknown;
      const err = (await client.submit(parseRow, '{bad').exception()) as TaskError;
      expect(err.stack).toMatch(/at parseRow \(recc-inline:\/\/parseRow/);
    });

    it('TaskError names the function and a short redacted repr of the arguments, without HTTP fields', async () => {
      const load = (cfg: { path: string; token: string }, rows: number[]) => {
        throw new Error(`cannot load ${cfg.path} (${rows.length} rows)`);
      };
      const err = (await client.submit(load, { path: '/data/x.csv', token: 'hunter2-secret' }, Array.from({ length: 500 }, (_, i) => i)).exception()) as TaskError;
      expect(err.functionName).toBe('load');
      expect(err.args).toContain("path: '/data/x.csv'");
      expect(err.args).not.toContain('hunter2');
      expect(err.args).toContain('[redacted]');
      expect(err.args.length).toBeLessThanOrEqual(200);
      expect(err.stack).toContain('load(');
      expect(Object.keys(err)).not.toContain('statusCode');
      expect(Object.keys(err)).not.toContain('details');
      expect(inspect(err)).not.toMatch(/statusCode|details/);
    });

    it('a missing executable is a CommandFailedError like a non-zero exit', async () => {
      const err = (await client.submitWith({ pure: false }, command(['python4-does-not-exist', '-c', 'print(1)'])).exception()) as TaskError;
      expect(err).toMatchObject({ name: 'CommandFailedError' });
      expect(err.message).toMatch(/python4-does-not-exist.*not found/);
    });
  });

  it('with no open client, delayed(...).compute() says how to get one', async () => {
    await client.close();
    expect(() => getClient()).toThrow(NoClientError);
    await expect(delayed((x: number) => x)(1).compute()).rejects.toThrow(/no open client.*Client\.connect/);
  });
});

function thrown(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected a throw');
}
