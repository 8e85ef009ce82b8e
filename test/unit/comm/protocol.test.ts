import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ProtocolError } from '../../../comm/errors.ts';
import {
  checkHelloVersion, computeBatch, decodeClientToScheduler, decodeDataReply, decodeDataRequest, decodeReply, decodeSchedulerToClient, decodeSchedulerToWorker,
  decodeWorkerHello, decodeWorkerToScheduler, PROTOCOL_VERSION,
  type ClientToScheduler, type SchedulerToWorker, type WorkerToScheduler,
} from '../../../comm/protocol.ts';

const args = new Uint8Array([0x91, 0x01]);
/** A module hash as clients compute it (sha256, first 32 hex digits). */
const H = '0123456789abcdef0123456789abcdef';
const task = (key: string, deps: string[] = []) => ({ key, fn: 'f1', args, deps, resources: null, retries: 0 });

/** One valid message per op and direction: the decoders must accept each as it is. */
const valid = {
  clientToScheduler: [
    { op: 'update-graph', tasks: [task('a'), task('b', ['a'])], wants: ['b'], fns: [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]] },
    { op: 'update-graph', tasks: [], wants: [], fns: [['c', { kind: 'command', name: 'c', argv: ['echo'], env: { A: '1' }, allowNonZero: true }]] },
    { op: 'upload-module', hash: H },
    { op: 'register-plugin', id: 1, hash: H, name: 'p' },
    { op: 'release-keys', keys: ['a'] },
    { op: 'cancel', keys: [] },
    { op: 'who-has', id: 2, keys: ['a'] },
    { op: 'info', id: 3 },
    { op: 'task-states', id: 4, keys: ['a'] },
    { op: 'story', id: 5, key: 'a' },
  ],
  schedulerToWorker: [
    { op: 'compute-batch', k: ['a', 'b'], f: 'f1', a: [args, args], d: 0, p: [1, 2], s: 'update-graph-1' },
    { op: 'compute-batch', k: ['a', 'b'], f: ['f1', 'f2'], a: [args, args], d: [0, [{ key: 'x', nbytes: 3, who: ['tcp://127.0.0.1:1'] }]], p: [1, 2], s: ['s1', 's2'] },
    { op: 'free-keys', keys: ['a'], s: 'client-releases-3' },
    { op: 'fns', defs: [['f1', { kind: 'module', name: 'm', hash: H, exportName: 'run' }]] },
    { op: 'module', hash: H },
    { op: 'plugin', hash: H, name: 'p' },
    { op: 'close' },
  ],
  workerToScheduler: [
    { op: 'finished', k: ['a'], n: [3], ms: [0.5], di: [-1] },
    { op: 'task-erred', key: 'a', error: { name: 'TypeError', message: 'boom', stack: 'at x' } },
    { op: 'missing-data', key: 'a', dep: 'b', from: 'tcp://127.0.0.1:1' },
    { op: 'status', status: 'paused' },
    { op: 'heartbeat', rss: 1, managed: 0, spilled: 0, executing: 0, ready: 0, paused: false },
    { op: 'error', error: { type: 'ProtocolError', message: 'm', op: 'compute-batch', path: 'k' } },
  ],
};

function protocolError(fn: () => unknown): ProtocolError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProtocolError) return err;
    throw new Error(`expected a ProtocolError, got ${String(err)}`, { cause: err });
  }
  throw new Error('expected a ProtocolError, got none');
}

describe('Module: comm/protocol', () => {
  describe('Function: decoders', () => {
    it('accept one valid message of every op in every direction, unchanged', () => {
      for (const m of valid.clientToScheduler) expect(decodeClientToScheduler(m)).toBe(m);
      for (const m of valid.schedulerToWorker) expect(decodeSchedulerToWorker(m)).toBe(m);
      for (const m of valid.workerToScheduler) expect(decodeWorkerToScheduler(m)).toBe(m);
      expect(decodeSchedulerToClient({ op: 'in-memory', k: ['a'], n: [1], di: [0] })).toBeTruthy();
      expect(decodeDataRequest({ op: 'get-data', id: 1, keys: ['a'] })).toBeTruthy();
      expect(decodeDataReply({ op: 'data', id: 1, keys: ['a'], missing: [] })).toBeTruthy();
    });

    it('name the op and the field path of a field of the wrong type', () => {
      const bad = { op: 'update-graph', tasks: [task('a'), { ...task('b'), deps: ['a', 5] }], wants: [], fns: [] };
      const err = protocolError(() => decodeClientToScheduler(bad));
      expect(err).toMatchObject({ op: 'update-graph', path: 'tasks[1].deps[1]', statusCode: 400 });
      expect(err.message).toBe('bad "update-graph" message: tasks[1].deps[1]: expected a string, got the number 5');
      expect(err.details).toEqual([{ path: 'tasks[1].deps[1]', message: 'expected a string, got the number 5' }]);
    });

    it('name a missing field', () => {
      const { p: _p, ...noPriorities } = valid.schedulerToWorker[0] as Record<string, unknown>;
      expect(protocolError(() => decodeSchedulerToWorker(noPriorities))).toMatchObject({ op: 'compute-batch', path: 'p', message: expect.stringContaining('got nothing') });
      expect(protocolError(() => decodeWorkerToScheduler({ op: 'task-erred', key: 'a', error: { name: 'E' } }))).toMatchObject({ path: 'error.message' });
    });

    it('refuse a module hash that is not 32 lowercase hex digits: workers name a file after it', () => {
      for (const bad of ['../../../tmp/evil', 'h', '0123456789ABCDEF0123456789ABCDEF', `${H}.mjs`, `${H}/`, '']) {
        expect(protocolError(() => decodeSchedulerToWorker({ op: 'module', hash: bad }))).toMatchObject({ op: 'module', path: 'hash', message: expect.stringContaining('a module hash (32 lowercase hex digits)') });
        expect(protocolError(() => decodeSchedulerToWorker({ op: 'fns', defs: [['f1', { kind: 'module', name: 'm', hash: bad, exportName: 'run' }]] })).op).toBe('fns');
        expect(protocolError(() => decodeClientToScheduler({ op: 'upload-module', hash: bad }))).toMatchObject({ path: 'hash' });
        expect(protocolError(() => decodeClientToScheduler({ op: 'register-plugin', id: 1, hash: bad, name: 'p' }))).toMatchObject({ path: 'hash' });
      }
    });

    it('refuse an unknown op, listing the known ones', () => {
      const err = protocolError(() => decodeSchedulerToWorker({ op: 'compute', k: 'a' }));
      expect(err).toMatchObject({ op: 'compute', path: 'op' });
      expect(err.message).toContain('unknown op for scheduler → worker messages (known: compute-batch, free-keys');
      // The deleted single-task result and inherited object keys are not ops either.
      expect(protocolError(() => decodeWorkerToScheduler({ op: 'task-finished', key: 'a', nbytes: 1 })).path).toBe('op');
      expect(protocolError(() => decodeWorkerToScheduler({ op: 'constructor' })).path).toBe('op');
    });

    it('refuse garbage that is not a message at all', () => {
      for (const g of [null, 3, 'compute-batch', [], { op: 7 }]) expect(protocolError(() => decodeClientToScheduler(g))).toMatchObject({ op: '?', path: 'op' });
    });

    it('refuse parallel arrays of different lengths, naming the short one', () => {
      const m = { ...(valid.schedulerToWorker[1] as Record<string, unknown>), s: ['only-one'] };
      expect(protocolError(() => decodeSchedulerToWorker(m))).toMatchObject({ op: 'compute-batch', path: 's', message: expect.stringContaining('a list of 2 (one per k)') });
      expect(protocolError(() => decodeWorkerToScheduler({ op: 'finished', k: ['a', 'b'], n: [1, 1], ms: [0], di: [-1, -1] }))).toMatchObject({ path: 'ms' });
    });

    it('never throw anything but a ProtocolError, whatever arrives (fast-check)', () => {
      const decoders = [decodeClientToScheduler, decodeSchedulerToClient, decodeSchedulerToWorker, decodeWorkerToScheduler, decodeDataRequest, decodeDataReply];
      const ops = ['update-graph', 'compute-batch', 'finished', 'in-memory', 'get-data', 'data', 'heartbeat', 'reply', 'error', 'story'];
      fc.assert(
        fc.property(fc.constantFrom(...decoders), fc.oneof(fc.anything(), fc.record({ op: fc.constantFrom(...ops) }, { noNullPrototype: true }).chain((m) => fc.dictionary(fc.string(), fc.anything()).map((d) => ({ ...d, ...m })))), (decode, raw) => {
          try {
            decode(raw);
          } catch (err) {
            if (!(err instanceof ProtocolError)) throw err;
            expect(err.message).toMatch(/^bad "/);
          }
        }),
        { numRuns: 2000, seed: 20 },
      );
    });

    it('check a reply against what its request expects', () => {
      expect(decodeReply('task-states', { op: 'reply', id: 1, states: ['memory'] } as { op: 'reply'; id: number })).toMatchObject({ states: ['memory'] });
      expect(protocolError(() => decodeReply('who-has', { op: 'reply', id: 1, who: [['a', 'w1']] } as { op: 'reply'; id: number }))).toMatchObject({ op: 'reply', path: 'who[0][1]' });
      expect(protocolError(() => decodeReply('info', { op: 'reply', id: 1, status: { workers: -1 }, workers: [] } as { op: 'reply'; id: number })).path).toBe('status.workers');
    });
  });

  describe('Function: decodeWorkerHello / checkHelloVersion', () => {
    it('refuses a worker hello without threads or with a non-numeric resource', () => {
      expect(protocolError(() => decodeWorkerHello({ role: 'worker', nthreads: 0, address: 'tcp://h:1' }))).toMatchObject({ op: 'hello', path: 'nthreads' });
      expect(protocolError(() => decodeWorkerHello({ role: 'worker', nthreads: 1, address: 'tcp://h:1', resources: { GPU: '1' } }))).toMatchObject({ path: 'resources.GPU' });
      expect(protocolError(() => decodeWorkerHello({ role: 'worker', nthreads: 1 }))).toMatchObject({ path: 'address' });
    });

    it('refuses a peer of another protocol version, naming both', () => {
      expect(() => checkHelloVersion({ protocol: PROTOCOL_VERSION })).not.toThrow();
      expect(protocolError(() => checkHelloVersion({ protocol: 1 })).message).toBe(`bad "hello" message: protocol: protocol version the number 1 is not supported; this peer speaks version ${PROTOCOL_VERSION}`);
      expect(protocolError(() => checkHelloVersion({})).path).toBe('protocol');
    });
  });

  describe('Function: computeBatch', () => {
    it('collapses a shared function id and stimulus id to one value and no dependencies to 0', () => {
      const m = computeBatch({ k: ['a', 'b'], f: ['f', 'f'], a: [args, args], d: [0, 0], p: [1, 2], s: ['s1', 's1'] });
      expect(m).toEqual({ op: 'compute-batch', k: ['a', 'b'], f: 'f', a: [args, args], d: 0, p: [1, 2], s: 's1' });
      expect(decodeSchedulerToWorker(m)).toBe(m);
      const mixed = computeBatch({ k: ['a', 'b'], f: ['f', 'g'], a: [args, args], d: [0, [{ key: 'x', nbytes: 1, who: ['w'] }]], p: [1, 2], s: ['s1', 's2'] });
      expect(mixed).toMatchObject({ f: ['f', 'g'], s: ['s1', 's2'], d: [0, [{ key: 'x', nbytes: 1, who: ['w'] }]] });
    });
  });

  describe('Types: a renamed field fails tsc', () => {
    it('rejects misnamed fields at compile time (the @ts-expect-error lines fail `tsc` if they ever compile)', () => {
      // @ts-expect-error `keys` renamed to `key`
      const renamed: ClientToScheduler = { op: 'release-keys', key: ['a'] };
      // @ts-expect-error the stimulus id `s` is required on free-keys
      const noStimulus: SchedulerToWorker = { op: 'free-keys', keys: ['a'] };
      // @ts-expect-error `nbytes` is not a field of `finished` (it is `n`)
      const wrongName: WorkerToScheduler = { op: 'finished', k: ['a'], nbytes: [1], ms: [0], di: [-1] };
      // And the receiving side refuses the same messages, naming the field.
      expect(protocolError(() => decodeClientToScheduler(renamed)).path).toBe('keys');
      expect(protocolError(() => decodeSchedulerToWorker(noStimulus)).path).toBe('s');
      expect(protocolError(() => decodeWorkerToScheduler(wrongName)).path).toBe('n');
    });
  });
});
