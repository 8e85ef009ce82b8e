import { describe, expect, it } from 'vitest';
import { Client, TaskError, delayed } from '../../../client/index.ts';
import { SerializationError } from '../../../comm/errors.ts';
import { useLocalCluster } from '../../support/engine.ts';

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(p: Promise<unknown>): Promise<TaskError> {
  try {
    const value = await p;
    throw new Error(`resolved with ${String(value)}`);
  } catch (err) {
    if (!(err instanceof TaskError)) throw err;
    return err;
  }
}

/** The error a synchronous call throws (fails the test if it returns). */
function thrown(fn: () => unknown): SerializationError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SerializationError);
    return err as SerializationError;
  }
  throw new Error('did not throw');
}

/**
 * Issue 18, defect 5a: a value that cannot travel fails loudly, naming its
 * path, instead of arriving as `undefined` or as a husk: results on the
 * worker, arguments on the client.
 */
describe('Payloads that cannot be sent (real LocalCluster)', () => {
  let client: Client;
  useLocalCluster({ nWorkers: 1, threadsPerWorker: 1 }, (_cluster, c) => {
    client = c;
  });

  describe('task results', () => {
    it('fails a task that returns a function with a SerializationError', async () => {
      const err = await rejection(client.submit((x: number) => () => x, 1).result());
      expect(err.name).toBe('SerializationError');
      expect(err.message).toMatch(/cannot send result: result is a function/);
    });

    it('names the path of a function nested in arrays, objects and Maps', async () => {
      const nested = await rejection(client.submit((x: number) => ({ a: [x, 2, { fn: () => x }] }), 1).result());
      expect(nested.name).toBe('SerializationError');
      expect(nested.message).toMatch(/result\.a\[2\]\.fn is a function/);

      const inMap = await rejection(client.submit((k: string) => new Map([[k, { handler: function onEvent() {} }]]), 'key').result());
      expect(inMap.message).toMatch(/result\.get\("key"\)\.handler is a function \(onEvent\)/);
    });

    it('fails results holding symbols, WeakMaps, Promises and class instances with methods, naming each path', async () => {
      const err = await rejection(
        client
          .submit(() => {
            class Account {
              constructor(readonly balance: number) {}
              deposit(n: number) {
                return n + this.balance;
              }
            }
            return { s: Symbol('id'), cache: new WeakMap(), later: Promise.resolve(1), acct: new Account(5) };
          })
          .result(),
      );
      expect(err.name).toBe('SerializationError');
      expect(err.message).toMatch(/result\.s is a symbol/);
      expect(err.message).toMatch(/and 3 more: result\.cache, result\.later, result\.acct/);
    });

    it('fails an async task whose awaited result holds a function', async () => {
      const err = await rejection(client.submit(async (x: number) => ({ cb: () => x }), 1).result());
      expect(err.message).toMatch(/result\.cb is a function/);
    });

    it('fails exactly the bad results of a large map, on task threads and on the main thread alike', async () => {
      // Prepare: enough tiny tasks that the worker may move them to its main thread
      const items = Array.from({ length: 600 }, (_, i) => i);

      // Act
      const settled = await Promise.allSettled(client.map((x: number) => (x % 100 === 99 ? { x, f: () => x } : { x }), items).map((f) => f.result()));

      // Assess
      const failed = settled.flatMap((s, i) => (s.status === 'rejected' ? [[i, (s.reason as Error).name, (s.reason as Error).message] as const] : []));
      expect(failed.map(([i]) => i)).toEqual([99, 199, 299, 399, 499, 599]);
      for (const [, name, message] of failed) {
        expect(name).toBe('SerializationError');
        expect(message).toMatch(/result\.f is a function/);
      }
      expect(settled.filter((s) => s.status === 'fulfilled').map((s) => (s as PromiseFulfilledResult<{ x: number }>).value.x)).toEqual(items.filter((x) => x % 100 !== 99));
    });

    it('still returns data-only class instances, Dates, Maps and Buffers', async () => {
      const value = await client
        .submit(() => {
          class Row {
            a = 1;
          }
          return { row: new Row(), when: new Date(0), m: new Map([[1, 'one']]), bytes: Buffer.from('hi') };
        })
        .result();
      expect(value).toEqual({ row: { a: 1 }, when: new Date(0), m: new Map([[1, 'one']]), bytes: Buffer.from('hi') });
    });
  });

  describe('task arguments', () => {
    it('refuses a function argument at submit, naming its path', () => {
      const err = thrown(() => client.submit((o: { n: number }) => o.n, { n: 1, cb: () => 2 }));
      expect(err.details).toEqual([{ path: 'args[0].cb', message: expect.stringMatching(/function/) }]);
      expect(err.message).toMatch(/cannot send args: args\[0\]\.cb is a function/);
    });

    it('refuses a bad map item, naming its index, and the client still works afterwards', async () => {
      const square = (x: unknown) => (typeof x === 'number' ? x * x : -1);
      const err = thrown(() => client.map(square, [1, 2, { cb: () => 3 }]));
      expect(err.details.map((d) => d.path)).toEqual(['items[2].cb']);
      // The refused map sent nothing, so the function must still be sent with the next use.
      await expect(client.gather(client.map(square, [4, 5]))).resolves.toEqual([16, 25]);
    });

    it('refuses a delayed call with a bad argument when it is built', () => {
      const err = thrown(() => delayed((a: unknown) => a)(new Set([Symbol('s')])));
      expect(err.details.map((d) => d.path)).toEqual(['args[0].values()[0]']);
    });
  });
});
