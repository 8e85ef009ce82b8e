import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { processEntry } from '../../../comm/launch.ts';
import type { Comm, Message } from '../../../comm/comm.ts';
import { encodeFrame } from '../../../comm/framing.ts';
import { connect, listen, type Listener } from '../../../comm/handshake.ts';
import { encodeValue } from '../../../comm/payload.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { waitForExit } from '../../support/engine.ts';
import { isAlive, waitFor } from '../../support/wait.ts';

/**
 * A bad message (wrong type, missing field, unknown op, garbage) sent to a
 * real scheduler or worker process is answered with a ProtocolError naming
 * the op and the field path, logged, and the process keeps serving.
 */
type Answer = { op: string; id?: number; error?: { type: string; op: string; path: string; message: string } };

function collect(comm: Comm): Answer[] {
  const got: Answer[] = [];
  comm.onMessage((m) => got.push(m as Answer));
  return got;
}

/** Wait for the n-th error answer (an `error` message, or an error `reply`). */
async function errorAnswer(got: Answer[], n: number, what: string): Promise<NonNullable<Answer['error']>> {
  const errors = await waitFor(() => {
    const e = got.filter((a) => a.error);
    return e.length >= n ? e : undefined;
  }, { timeoutMs: 30_000, what });
  return errors[n - 1]!.error!;
}

/** The raw socket under a comm, to write a frame that is not msgpack at all. */
function writeGarbageFrame(comm: Comm): void {
  (comm as unknown as { socket: { write(b: Buffer): void } }).socket.write(encodeFrame(Buffer.from([0xc1, 0xc1, 0xc1])));
}

const comms: Comm[] = [];
afterEach(() => {
  for (const c of comms.splice(0)) c.destroy();
});

describe('Protocol errors against real processes', () => {
  it('client → scheduler: each bad message gets a ProtocolError naming op and path, is logged, and the scheduler keeps serving', async () => {
    // Prepare
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    const { comm } = await connect(cluster.schedulerAddress, { token: cluster.token, hello: { role: 'client' } });
    comms.push(comm);
    const got = collect(comm);

    // Act + Assess: wrong type
    comm.send({ op: 'release-keys', keys: ['a', 7] });
    expect(await errorAnswer(got, 1, 'the answer to a wrong type')).toMatchObject({ type: 'ProtocolError', op: 'release-keys', path: 'keys[1]', message: expect.stringContaining('expected a string, got the number 7') });
    // a missing field in a request: the reply itself carries the error, so the requester does not hang
    comm.send({ op: 'who-has', id: 41 });
    await errorAnswer(got, 2, 'the answer to a missing field');
    expect(got.find((a) => a.id === 41)).toMatchObject({ op: 'reply', error: { op: 'who-has', path: 'keys', message: expect.stringContaining('got nothing') } });
    // an unknown op (the deleted single-task compute op among them)
    comm.send({ op: 'compute', k: 'x' });
    expect(await errorAnswer(got, 3, 'the answer to an unknown op')).toMatchObject({ op: 'compute', path: 'op' });
    // a message that is not an object with an op
    comm.send(42 as unknown as Message);
    expect(await errorAnswer(got, 4, 'the answer to a message without an op')).toMatchObject({ op: '?', path: 'op' });
    expect(comm.isClosed).toBe(false);
    // unrecoverable garbage: a frame that is not msgpack; told, then disconnected
    writeGarbageFrame(comm);
    expect(await errorAnswer(got, 5, 'the answer to a garbage frame')).toMatchObject({ op: '?', message: expect.stringMatching(/the frame is not (msgpack|a list of messages)/) });
    await waitFor(() => comm.isClosed || undefined, { what: 'the garbage connection to close' });

    // The scheduler process is up, logged every error, and still runs work
    expect(isAlive(pids[0]!)).toBe(true);
    await waitFor(() => cluster.logs('scheduler').filter((l) => l.includes('scheduler.protocol-error')).length >= 5 || undefined, { what: 'five protocol-error log lines' });
    expect(cluster.logs('scheduler').filter((l) => l.includes('scheduler.protocol-error')).join('\n')).toContain('"path":"keys[1]"');
    await using client = await Client.connect(cluster);
    expect(await client.gather(client.map((x: number) => x + 1, [1, 2, 3]))).toEqual([2, 3, 4]);
    await client.close();
    await cluster.close();
    await waitForExit(pids);
  });

  it('worker → scheduler: a worker connection sending bad results gets ProtocolErrors, stays registered, and the scheduler keeps serving', async () => {
    // Prepare: a real cluster, plus a raw connection that registers as a (silent) worker
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    const { comm } = await connect(cluster.schedulerAddress, {
      token: cluster.token,
      hello: { role: 'worker', name: 'raw-worker', nthreads: 1, address: 'tcp://127.0.0.1:9', pid: null },
    });
    comms.push(comm);
    const got = collect(comm);

    // Act + Assess
    comm.send({ op: 'finished', k: ['a'], n: ['three'], ms: [0], di: [-1] });
    expect(await errorAnswer(got, 1, 'the answer to a wrong type')).toMatchObject({ type: 'ProtocolError', op: 'finished', path: 'n[0]' });
    comm.send({ op: 'task-erred', key: 'a', error: { name: 'E' } });
    expect(await errorAnswer(got, 2, 'the answer to a missing field')).toMatchObject({ op: 'task-erred', path: 'error.message' });
    comm.send({ op: 'task-finished', key: 'a', nbytes: 1 });
    expect(await errorAnswer(got, 3, 'the answer to the deleted task-finished op')).toMatchObject({ op: 'task-finished', path: 'op' });
    comm.send({ op: 'finished', k: ['a', 'b'], n: [1], ms: [0, 0], di: [-1, -1] });
    expect(await errorAnswer(got, 4, 'the answer to mismatched lists')).toMatchObject({ op: 'finished', path: 'n' });
    expect(comm.isClosed).toBe(false);

    // Assess: still registered, logged, and work still runs (on the real worker, once the raw one leaves)
    await using client = await Client.connect(cluster);
    expect((await client.schedulerInfo()).workers.map((w) => w.name).sort()).toEqual(['local-worker-0', 'raw-worker']);
    expect(cluster.logs('scheduler').filter((l) => l.includes('scheduler.protocol-error') && l.includes('worker raw-worker')).length).toBeGreaterThanOrEqual(4);
    comm.destroy();
    expect(await client.gather(client.map((x: number) => x * 10, [1, 2]))).toEqual([10, 20]);
    await client.close();
    await cluster.close();
    await waitForExit(pids);
  });

  it('a peer → worker data port: a bad get-data gets a ProtocolError and the worker keeps serving', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    const pids = cluster.pids;
    await using client = await Client.connect(cluster);
    const workerAddress = (await client.schedulerInfo()).workers[0]!.address;
    const { comm } = await connect(workerAddress, { token: cluster.token, hello: { role: 'peer' } });
    comms.push(comm);
    const got = collect(comm);

    comm.send({ op: 'get-data', id: 1, keys: 'not-a-list' });
    expect(await errorAnswer(got, 1, 'the answer to a bad get-data')).toMatchObject({ type: 'ProtocolError', op: 'get-data', path: 'keys' });
    comm.send({ op: 'put-data', id: 2 });
    expect(await errorAnswer(got, 2, 'the answer to an unknown op')).toMatchObject({ op: 'put-data', path: 'op' });
    comm.send({ op: 'get-data', id: 3, keys: ['nothing-here'] });
    await waitFor(() => got.find((a) => a.op === 'data' && a.id === 3), { what: 'a good get-data answered on the same connection' });

    expect(isAlive(cluster.workerProcesses[0]!.pid)).toBe(true);
    await waitFor(() => cluster.logs(cluster.workerProcesses[0]!.name).some((l) => l.includes('worker.protocol-error') && l.includes('"path":"keys"')) || undefined, { what: 'the worker to log the error' });
    expect(await client.submit((x: number) => x - 1, 1).result()).toBe(0);
    await client.close();
    await cluster.close();
    await waitForExit(pids);
  });

  describe('scheduler → worker', () => {
    let listener: Listener | undefined;
    let worker: ChildProcess | undefined;
    let dir: string | undefined;
    afterEach(async () => {
      worker?.kill('SIGKILL');
      await listener?.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('a real worker answers bad scheduler messages with ProtocolErrors, logs them and still computes', async () => {
      // Prepare: a stand-in scheduler (the real handshake) and a real worker process connected to it
      const token = 'protocol-test-token';
      dir = mkdtempSync(join(tmpdir(), 'recc-protocol-'));
      writeFileSync(join(dir, 'token'), token);
      let schedulerSide: Comm | undefined;
      listener = await listen({
        host: '127.0.0.1',
        port: 0,
        token,
        logger: silentLogger,
        accept: (comm, hello) => {
          schedulerSide = comm;
          return { workerId: String(hello.address) };
        },
      });
      const entry = processEntry('worker');
      let logs = '';
      worker = spawn(process.execPath, [...entry.execArgv, entry.path, `tcp://127.0.0.1:${listener.port}`, '--token-file', join(dir, 'token'), '--name', 'w-proto'], { stdio: ['ignore', 'pipe', 'pipe'] });
      worker.stdout!.on('data', (c: Buffer) => (logs += c.toString()));
      worker.stderr!.on('data', (c: Buffer) => (logs += c.toString()));
      const comm = await waitFor(() => schedulerSide, { what: 'the worker to connect' });
      const got = collect(comm);
      const args = encodeValue([20]);

      // Act + Assess: wrong type, missing field, unknown op (the deleted single compute op), garbage
      comm.send({ op: 'compute-batch', k: [1], f: 'f', a: [args], d: 0, p: [0], s: 's-1' });
      expect(await errorAnswer(got, 1, 'the answer to a wrong type')).toMatchObject({ type: 'ProtocolError', op: 'compute-batch', path: 'k[0]' });
      comm.send({ op: 'free-keys', keys: ['a'] });
      expect(await errorAnswer(got, 2, 'the answer to a missing field')).toMatchObject({ op: 'free-keys', path: 's' });
      comm.send({ op: 'compute', k: 'a', f: 'f', a: args, d: [], p: 0 });
      expect(await errorAnswer(got, 3, 'the answer to an unknown op')).toMatchObject({ op: 'compute', path: 'op' });
      comm.send({ nope: true } as unknown as Message);
      expect(await errorAnswer(got, 4, 'the answer to a message without an op')).toMatchObject({ op: '?', path: 'op' });

      // The worker is up and still computes what a correct scheduler sends
      comm.send({ op: 'fns', defs: [['f', { kind: 'inline', name: 'double', source: '(x) => x * 2' }]] });
      comm.send({ op: 'compute-batch', k: ['double-1'], f: 'f', a: [args], d: 0, p: [0], s: 'update-graph-9' });
      const finished = await waitFor(() => got.find((a) => a.op === 'finished') as (Answer & { k: string[] }) | undefined, { what: 'the task to finish' });
      expect(finished.k).toEqual(['double-1']);
      expect(worker.exitCode).toBeNull();
      expect(logs.match(/worker\.protocol-error/g)?.length ?? 0).toBeGreaterThanOrEqual(4);
    });
  });
});
