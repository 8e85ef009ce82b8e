import { connect as netConnect } from 'node:net';
import { pack, unpack } from 'msgpackr';
import { describe, expect, it } from 'vitest';
import { Client, InlineFunctionError, LocalCluster, TaskError, asCompleted, command, delayed, progress } from '../../../client/index.ts';
import { encodeFrame, parseBody } from '../../../comm/framing.ts';
import { parseAddress } from '../../../comm/address.ts';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import { repoPath, useLocalCluster } from '../../support/engine.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The compute engine end to end: a real scheduler and two real worker
 * processes on loopback, driven through the public SDK.
 */
describe('Class: LocalCluster + Client (2 workers)', () => {
  let cluster: LocalCluster;
  let client: Client;
  useLocalCluster({ nWorkers: 2, threadsPerWorker: 1, dashboard: true }, (c, cl) => {
    cluster = c;
    client = cl;
  });

  describe('Method: map', () => {
    it('runs 1,000 inline tasks and returns every result in order', async () => {
      // Prepare
      const items = Array.from({ length: 1000 }, (_, i) => i);

      // Act
      const futures = client.map((x: number) => ({ x, square: x * x }), items);
      const results = await client.gather(futures);

      // Assess
      expect(results).toHaveLength(1000);
      expect(results.every((r, i) => r.x === i && r.square === i * i)).toBe(true);
      const info = await client.schedulerInfo();
      expect(info.workers).toHaveLength(2);
    });

    it("runs tiny tasks on the workers' main threads once measured, with the same results", async () => {
      // Prepare: a tiny function; each round uses new arguments (no cached results)
      let round = 0;
      const runRound = async () => {
        const items = Array.from({ length: 500 }, (_, i) => round * 1000 + i + 0.5);
        round++;
        const results = await client.gather(client.map((x: number) => x * 3, items));
        expect(results).toEqual(items.map((x) => x * 3));
      };

      // Act: rounds until a heartbeat reports main-thread runs (first runs are measured in the task threads)
      const inlineRuns = await waitFor(
        async () => {
          await runRound();
          const info = await client.schedulerInfo();
          const n = info.workers.reduce((sum, w) => sum + Number(w.metrics.inlineRuns ?? 0), 0);
          return n > 0 ? n : undefined;
        },
        { what: 'a worker heartbeat reporting main-thread runs' },
      );
      await runRound();

      // Assess
      expect(inlineRuns).toBeGreaterThan(0);
    });
  });

  describe('Method: compute', () => {
    it('runs a 3-stage delayed pipeline (load by date, transform, reduce) with deterministic keys', async () => {
      // Prepare
      const load = delayed((date: string) => ({ date, rows: Array.from({ length: 10 }, (_, i) => Number(date.slice(-2)) * 100 + i) }));
      const transform = delayed((part: { date: string; rows: number[] }) => ({ date: part.date, total: part.rows.reduce((a, b) => a + b, 0) }));
      const reduce = delayed((parts: Array<{ date: string; total: number }>) => ({ days: parts.length, total: parts.reduce((a, p) => a + p.total, 0), first: parts[0]?.date }));
      const dates = Array.from({ length: 7 }, (_, i) => `2024-03-${String(i + 1).padStart(2, '0')}`);
      const graph = reduce(dates.map((d) => transform(load(d))));
      const again = reduce(dates.map((d) => transform(load(d))));

      // Act
      const result = await client.get(graph);

      // Assess
      const expected = dates.reduce((acc, d) => acc + Array.from({ length: 10 }, (_, i) => Number(d.slice(-2)) * 100 + i).reduce((a, b) => a + b, 0), 0);
      expect(result).toEqual({ days: 7, total: expected, first: '2024-03-01' });
      expect(again.key).toBe(graph.key);
      expect(load('2024-03-01').key).not.toBe(load('2024-03-02').key);
    });

    it('passes futures into later submissions (serial steps on the client between parallel stages)', async () => {
      const parts = client.map((n: number) => Array.from({ length: n }, (_, i) => i), [3, 4, 5]);
      const total = client.submit((...arrays: number[][]) => arrays.flat().reduce((a, b) => a + b, 0), ...parts);
      expect(await total.result()).toBe(3 + 6 + 10);
    });
  });

  describe('Method: module', () => {
    it('bundles a module with its imports, uploads it once and runs an exported function', async () => {
      // Prepare
      const mod = await client.module(repoPath('test/e2e/engine/fixtures/tasks.ts'));
      const again = await client.module(repoPath('test/e2e/engine/fixtures/tasks.ts'));

      // Act
      const summary = await client.submit(mod.fn('summarise'), [1, 2, 3]).result();
      const squares = await client.gather(client.map(mod.fn('slowSquare'), [2, 3, 4]));

      // Assess
      expect(again.hash).toBe(mod.hash);
      expect(summary).toMatchObject({ n: 3, total: 18 });
      expect(squares).toEqual([4, 9, 16]);
    });

    it('fails clearly when the export does not exist', async () => {
      const mod = await client.module(repoPath('test/e2e/engine/fixtures/tasks.ts'));
      await expect(client.submit(mod.fn('nope'), 1).result()).rejects.toThrow(/no exported function "nope"/);
    });
  });

  describe('Function: command', () => {
    it('runs python3 with the task arguments appended and returns exit code and output', async () => {
      // Act
      const out = await client.submit(command(['python3', '-c', 'import sys; print(sum(int(a) for a in sys.argv[1:]))']), 2, 3, 4).result();

      // Assess
      expect(out).toEqual({ exitCode: 0, stdout: '9\n', stderr: '' });
    });

    it('turns a non-zero exit into a task error unless allowNonZero', async () => {
      const failing = command(['python3', '-c', 'import sys; sys.stderr.write("bad input\\n"); sys.exit(3)']);
      await expect(client.submit(failing).result()).rejects.toMatchObject({ name: 'CommandFailedError', message: expect.stringContaining('exited with code 3: bad input') });
      const allowed = await client.submit(command(['python3', '-c', 'import sys; sys.exit(3)'], { allowNonZero: true })).result();
      expect(allowed).toMatchObject({ exitCode: 3 });
    });
  });

  describe('Method: submit (errors)', () => {
    it('re-throws a task exception on the client with its name, message and remote stack', async () => {
      // Act
      const error = await client
        .submit((x: number) => {
          if (x > 1) throw new RangeError(`value ${x} is out of range`);
          return x;
        }, 7)
        .result()
        .catch((e: unknown) => e);

      // Assess
      expect(error).toBeInstanceOf(TaskError);
      expect((error as TaskError).name).toBe('RangeError');
      expect((error as TaskError).message).toBe('value 7 is out of range');
      expect((error as TaskError).stack).toContain('RangeError: value 7 is out of range');
    });

    it('errs dependents of a failed task, blaming the failed one', async () => {
      const bad = client.submit((x: number) => {
        throw new TypeError(`no ${x}`);
      }, 1);
      const dependent = client.submit((v: number) => v + 1, bad);
      await expect(dependent.result()).rejects.toMatchObject({ name: 'TypeError', message: 'no 1', blame: bad.key });
    });

    it('refuses an inline function that captures an outer variable, pointing to modules', () => {
      const offset = 10;
      expect(() => client.submit((x: number) => x + offset, 1)).toThrow(InlineFunctionError);
      expect(() => client.submit((x: number) => x + offset, 1)).toThrow(/outer variable "offset".*client\.module/);
    });

    it('retries a task that throws when retries are allowed', async () => {
      // Fails on the first attempt in each thread, then succeeds: state lives in the thread's globals.
      const flaky = (x: number) => {
        const g = globalThis as unknown as Record<string, number>;
        g.reccFlaky = (g.reccFlaky ?? 0) + 1;
        if (g.reccFlaky === 1) throw new Error('first attempt fails');
        return x * 2;
      };
      expect(await client.submitWith({ retries: 3, pure: false }, flaky, 21).result()).toBe(42);
    });
  });

  describe('Method: asCompleted / progress / scatter / cancel', () => {
    it('yields futures as they finish and reports progress', async () => {
      const futures = client.map(async (ms: number) => {
        await new Promise((r) => setTimeout(r, ms));
        return ms;
      }, [60, 1, 30]);
      const order: number[] = [];
      for await (const f of asCompleted(futures)) order.push(await f.result());
      expect(order.sort((a, b) => a - b)).toEqual([1, 30, 60]);
      const updates: number[] = [];
      const summary = await progress(futures, { onUpdate: (done) => updates.push(done) });
      expect(summary).toEqual({ done: 3, failed: 0 });
      expect(updates.at(-1)).toBe(3);
    });

    it('scatters data and uses it in tasks', async () => {
      const data = client.scatter({ weights: [1, 2, 3] });
      const result = await client.submit((d: { weights: number[] }, k: number) => d.weights.map((w) => w * k), data, 2).result();
      expect(result).toEqual([2, 4, 6]);
    });

    it('cancels a pending task', async () => {
      const slow = client.submitWith({ pure: false }, async () => {
        await new Promise((r) => setTimeout(r, 5000));
        return 1;
      });
      await slow.cancel();
      await expect(slow.result()).rejects.toThrow(/cancelled/);
    });
  });

  describe('Method: registerWorkerPlugin', () => {
    it('runs setup on every worker thread before tasks see it', async () => {
      await client.registerWorkerPlugin(repoPath('test/e2e/engine/fixtures/plugin.ts'));
      const names = await client.gather(
        client.map(() => (globalThis as Record<string, unknown>).reccPluginWorker as string, Array.from({ length: 20 }, (_, i) => i), { pure: false }),
      );
      expect(new Set(names).size).toBeGreaterThanOrEqual(1);
      expect(names.every((n) => typeof n === 'string' && n.startsWith('local-worker-'))).toBe(true);

      // A worker that joins later runs the plugin too.
      await cluster.addWorker({ name: 'late-joiner', resources: { LATE: 1 } });
      const late = await client.submitWith({ resources: { LATE: 1 }, pure: false }, () => (globalThis as Record<string, unknown>).reccPluginWorker).result();
      expect(late).toBe('late-joiner');
    });
  });

  describe('Security: handshake', () => {
    it('refuses unauthenticated peers and garbage bytes while a job runs, and the job finishes', async () => {
      // Prepare: a job that keeps the workers busy for a while
      const job = client.map(
        async (i: number) => {
          await new Promise((r) => setTimeout(r, 20));
          return i * 3;
        },
        Array.from({ length: 100 }, (_, i) => i),
        { pure: false },
      );
      const { host, port } = parseAddress(cluster.schedulerAddress);
      const exchange = (payload: Buffer) =>
        new Promise<{ closed: boolean; reply: unknown }>((resolve) => {
          const socket = netConnect({ host, port });
          const chunks: Buffer[] = [];
          socket.on('data', (c) => chunks.push(c));
          socket.on('error', () => {});
          socket.on('close', () => {
            const all = Buffer.concat(chunks);
            let reply: unknown;
            try {
              reply = all.length > 4 ? unpack(parseBody(all.subarray(4)).header) : undefined;
            } catch {}
            resolve({ closed: true, reply });
          });
          socket.write(payload);
        });

      // Act
      const wrongToken = await exchange(encodeFrame(pack({ token: 'not-the-token', role: 'client' })));
      const garbage = await exchange(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
      const huge = await exchange(Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]));
      const badMsgpack = await exchange(encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1])));
      const results = await client.gather(job);

      // Assess
      expect(wrongToken).toEqual({ closed: true, reply: { ok: false, error: 'authentication failed' } });
      expect(garbage.closed && huge.closed && badMsgpack.closed).toBe(true);
      expect(garbage.reply).toBeUndefined();
      expect(results).toEqual(Array.from({ length: 100 }, (_, i) => i * 3));
      const status = (await (await fetch(`${cluster.dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${cluster.token}` } })).json()) as Record<string, unknown>;
      expect(status).toMatchObject({ workers: cluster.workerProcesses.length, clientsConnected: 1 });
      expect(JSON.stringify(status)).not.toContain(cluster.token);
    });

    it('rejects a client with the wrong token', async () => {
      await expect(Client.connect(cluster.schedulerAddress, { token: 'wrong' })).rejects.toThrow(/rejected the token/);
    });
  });

  describe('Scale', () => {
    it('completes a 100,000-task graph correctly (map stage + tree reduction)', async () => {
      // Prepare
      const n = 100_000;
      const leaves = client.map((i: number) => i % 7, Array.from({ length: n }, (_, i) => i), { pure: false });

      // Act: sum in chunks of 1,000 on the cluster, then a final sum
      const chunks: Array<ReturnType<Client['submit']>> = [];
      for (let i = 0; i < n; i += 1000) chunks.push(client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...leaves.slice(i, i + 1000)));
      const total = client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...chunks);
      for (const f of leaves) f.release();

      // Assess
      let expected = 0;
      for (let i = 0; i < n; i++) expected += i % 7;
      expect(await total.result()).toBe(expected);
    });

    it('releases the keys of futures that are garbage-collected', async () => {
      // Prepare: a way to force garbage collection in this process
      v8.setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const submit = async (): Promise<string[]> => {
        const futures = client.map((i: number) => i * 2, Array.from({ length: 20 }, (_, i) => i + 2_000_000));
        await client.gather(futures);
        return futures.map((f) => f.key);
      };

      // Act: the futures go out of scope
      const keys = await submit();
      expect((await client.taskStates(keys)).every((s) => s === 'memory')).toBe(true);

      // Assess
      await waitFor(
        async () => {
          gc();
          return (await client.taskStates(keys)).every((s) => s === 'forgotten');
        },
        { timeoutMs: 30_000, intervalMs: 100, what: 'collected futures to release their keys' },
      );
    });

    it('releases results the client no longer holds', async () => {
      const futures = client.map((i: number) => i, Array.from({ length: 50 }, (_, i) => i + 1_000_000));
      await client.gather(futures);
      const keys = futures.map((f) => f.key);
      for (const f of futures) f.release();
      await expect.poll(async () => (await client.taskStates(keys)).every((s) => s === 'forgotten'), { timeout: 30_000 }).toBe(true);
    });
  });
});
