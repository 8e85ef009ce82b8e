import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { WorkerState } from '../../../worker/state/machine.ts';
import type { DepSpec, WorkerEvent, WorkerInstruction } from '../../../worker/state/types.ts';
import { validateWorkerState } from '../../../worker/state/validate.ts';

type Ev = WorkerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

class Harness {
  readonly s: WorkerState;
  private n = 0;
  constructor(nthreads = 1, maxExecuting = nthreads) {
    this.s = new WorkerState({ nthreads, maxExecuting });
  }
  step(...events: Ev[]): WorkerInstruction[] {
    const out = this.s.handle(events.map((e) => ({ ...e, stimulusId: `s${++this.n}` }) as WorkerEvent));
    expect(validateWorkerState(this.s)).toEqual([]);
    return out;
  }
}

const computeTask = (key: string, priority = 0, deps: DepSpec[] = []): Ev => ({ type: 'compute-task', key, run: `run:${key}`, priority, deps });
// The priority is checked by the ordering tests (which key runs first), not per instruction.
const exec = (key: string, stimulusId: string, deps: string[] = []) => ({ type: 'execute' as const, key, run: `run:${key}`, deps, priority: expect.any(Number) as number, stimulusId });

let h: Harness;
afterEach(() => {
  expect(validateWorkerState(h.s)).toEqual([]);
});

describe('Class: WorkerState', () => {
  describe('Method: handle', () => {
    it('executes a task without dependencies, reports it and drops the data when the scheduler frees it', () => {
      h = new Harness();
      expect(h.step(computeTask('a'))).toEqual([exec('a', 's1')]);
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 12 })).toEqual([{ type: 'send', msg: { op: 'task-finished', key: 'a', nbytes: 12 }, stimulusId: 's2' }]);
      expect(h.step({ type: 'free-keys', keys: ['a'] })).toEqual([{ type: 'release-data', key: 'a', stimulusId: 's3' }]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('runs no more than maxExecuting tasks at once, highest priority first', () => {
      h = new Harness(1);
      expect(h.step(computeTask('late', 5), computeTask('early', 1), computeTask('mid', 3))).toEqual([exec('early', 's3')]);
      const out = h.step({ type: 'execute-success', key: 'early', nbytes: 1 });
      expect(out).toEqual([{ type: 'send', msg: { op: 'task-finished', key: 'early', nbytes: 1 }, stimulusId: 's4' }, exec('mid', 's4')]);
    });

    it('fetches dependencies from a peer in one batch, runs, then drops the replicas', () => {
      h = new Harness();
      const deps = [
        { key: 'x', nbytes: 10, who: ['tcp://p1:1'] },
        { key: 'y', nbytes: 20, who: ['tcp://p1:1'] },
      ];
      expect(h.step(computeTask('z', 0, deps))).toEqual([{ type: 'gather-dep', peer: 'tcp://p1:1', keys: ['x', 'y'], stimulusId: 's1' }]);
      expect(h.step({ type: 'gather-dep-done', peer: 'tcp://p1:1', received: [['x', 10], ['y', 20]], missing: [] })).toEqual([exec('z', 's2', ['x', 'y'])]);
      expect(h.step({ type: 'execute-success', key: 'z', nbytes: 1 })).toEqual([
        { type: 'release-data', key: 'x', stimulusId: 's3' },
        { type: 'release-data', key: 'y', stimulusId: 's3' },
        { type: 'send', msg: { op: 'task-finished', key: 'z', nbytes: 1 }, stimulusId: 's3' },
      ]);
      expect([...h.s.tasks.keys()]).toEqual(['z']);
    });

    it('uses a local result as a dependency without fetching it', () => {
      h = new Harness();
      h.step(computeTask('a'));
      h.step({ type: 'execute-success', key: 'a', nbytes: 4 });
      expect(h.step(computeTask('b', 1, [{ key: 'a', nbytes: 4, who: ['tcp://me:1'] }]))).toEqual([exec('b', 's3', ['a'])]);
    });

    it('tries another peer when one lacks a dependency, and tells the scheduler when none has it', () => {
      h = new Harness();
      h.step(computeTask('z', 0, [{ key: 'x', nbytes: 1, who: ['tcp://p1:1', 'tcp://p2:1'] }]));
      expect(h.step({ type: 'gather-dep-done', peer: 'tcp://p1:1', received: [], missing: ['x'] })).toEqual([
        { type: 'gather-dep', peer: 'tcp://p2:1', keys: ['x'], stimulusId: 's2' },
      ]);
      expect(h.step({ type: 'gather-dep-failed', peer: 'tcp://p2:1', keys: ['x'] })).toEqual([
        { type: 'send', msg: { op: 'missing-data', key: 'z', dep: 'x', from: 'tcp://p2:1' }, stimulusId: 's3' },
      ]);
      // The scheduler reschedules z elsewhere: the worker forgets both.
      expect(h.step({ type: 'free-keys', keys: ['z'] })).toEqual([]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('discards the result of a task freed while it was executing', () => {
      h = new Harness();
      h.step(computeTask('a'));
      expect(h.step({ type: 'free-keys', keys: ['a'] })).toEqual([]);
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 1 })).toEqual([{ type: 'release-data', key: 'a', stimulusId: 's3' }]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('reports a failure with the original error', () => {
      h = new Harness();
      h.step(computeTask('a'));
      const error = { name: 'TypeError', message: 'x is not a function', stack: 'TypeError: …' };
      expect(h.step({ type: 'execute-failure', key: 'a', error })).toEqual([{ type: 'send', msg: { op: 'task-erred', key: 'a', error }, stimulusId: 's2' }]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('starts nothing new while paused and resumes on unpause', () => {
      h = new Harness();
      h.step({ type: 'pause' });
      expect(h.step(computeTask('a'))).toEqual([]);
      expect(h.step({ type: 'unpause' })).toEqual([exec('a', 's3')]);
    });

    it('reports at once when asked to compute a key it already holds', () => {
      h = new Harness();
      h.step(computeTask('a'));
      h.step({ type: 'execute-success', key: 'a', nbytes: 2 });
      expect(h.step(computeTask('a'))).toEqual([{ type: 'send', msg: { op: 'task-finished', key: 'a', nbytes: 2 }, stimulusId: 's3' }]);
    });

    it('keeps the result of a cancelled run that a task sent here since needs, and runs that task', () => {
      /* d runs here, is freed (cancelled) and computed again elsewhere; then t arrives
         needing d from p1. The discarded run ends: t must not wait forever on a dropped record. */
      h = new Harness(2);
      h.step(computeTask('d'));
      h.step({ type: 'free-keys', keys: ['d'] });
      h.step(computeTask('t', 0, [{ key: 'd', nbytes: 1, who: ['p1'] }]));
      expect(h.step({ type: 'execute-success', key: 'd', nbytes: 1 })).toEqual([exec('t', 's4', ['d'])]);
      expect(h.s.tasks.get('d')).toMatchObject({ state: 'memory', owned: false });
      // Once t has run, the replica goes.
      expect(h.step({ type: 'execute-success', key: 't', nbytes: 1 })).toEqual([
        { type: 'release-data', key: 'd', stimulusId: 's5' },
        { type: 'send', msg: { op: 'task-finished', key: 't', nbytes: 1 }, stimulusId: 's5' },
      ]);
    });

    it('fetches the input from its holder when a cancelled run of it fails while a task here needs it', () => {
      h = new Harness(2);
      h.step(computeTask('d'));
      h.step({ type: 'free-keys', keys: ['d'] });
      h.step(computeTask('t', 0, [{ key: 'd', nbytes: 1, who: ['p1'] }]));
      expect(h.step({ type: 'execute-failure', key: 'd', error: { name: 'E', message: 'x' } })).toEqual([{ type: 'gather-dep', peer: 'p1', keys: ['d'], stimulusId: 's4' }]);
      expect(h.s.tasks.get('t')?.state).toBe('waiting');
    });
  });

  describe('Method: handle (a key freed and computed again in one scheduler step)', () => {
    // The scheduler frees a task and gives it back to this worker in the same step (a key released and
    // resubmitted, a steal undone); the shell sends free-keys before compute-batch (scheduler/outbox.ts),
    // and the pump turns both into events of one handle call. The worker must end up running the task.
    const finished = (key: string, nbytes: number, stimulusId: string) => ({ type: 'send', msg: { op: 'task-finished', key, nbytes }, stimulusId });

    it('keeps running a task freed and recomputed while it executes, and reports its result', () => {
      h = new Harness();
      h.step(computeTask('a'));
      expect(h.step({ type: 'free-keys', keys: ['a'] }, computeTask('a'))).toEqual([]);
      expect(h.s.tasks.get('a')?.state).toBe('executing');
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 3 })).toEqual([finished('a', 3, 's4')]);
    });

    it('runs it again when the pump took the run out of the thread queue between the free and the compute', () => {
      h = new Harness();
      h.step(computeTask('a'));
      const out = h.step({ type: 'free-keys', keys: ['a'] }, { type: 'execute-failure', key: 'a', error: { name: 'CancelledError', message: 'released' } }, computeTask('a'));
      expect(out).toEqual([exec('a', 's4')]);
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 3 })).toEqual([finished('a', 3, 's5')]);
    });

    it('keeps a ready task ready and runs it when a thread frees up', () => {
      h = new Harness(1);
      h.step(computeTask('busy', 0), computeTask('b', 1));
      expect(h.step({ type: 'free-keys', keys: ['b'] }, computeTask('b', 1))).toEqual([]);
      expect(h.step({ type: 'execute-success', key: 'busy', nbytes: 1 })).toEqual([finished('busy', 1, 's5'), exec('b', 's5')]);
      expect(h.step({ type: 'execute-success', key: 'b', nbytes: 2 })).toEqual([finished('b', 2, 's6')]);
    });

    it('keeps a waiting task waiting on its dependency in flight, then runs it', () => {
      h = new Harness();
      const deps = [{ key: 'x', nbytes: 4, who: ['tcp://p1:1'] }];
      h.step(computeTask('c', 0, deps));
      expect(h.step({ type: 'free-keys', keys: ['c'] }, computeTask('c', 0, deps))).toEqual([]);
      expect(h.s.tasks.get('c')?.state).toBe('waiting');
      expect(h.step({ type: 'gather-dep-done', peer: 'tcp://p1:1', received: [['x', 4]], missing: [] })).toEqual([exec('c', 's4', ['x'])]);
      const out = h.step({ type: 'execute-success', key: 'c', nbytes: 1 });
      expect(out).toContainEqual(finished('c', 1, 's5'));
    });

    it('recomputes a result it dropped on the free (nothing here needed it) and reports it', () => {
      h = new Harness();
      h.step(computeTask('a'));
      h.step({ type: 'execute-success', key: 'a', nbytes: 3 });
      expect(h.step({ type: 'free-keys', keys: ['a'] }, computeTask('a'))).toEqual([{ type: 'release-data', key: 'a', stimulusId: 's3' }, exec('a', 's4')]);
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 3 })).toEqual([finished('a', 3, 's5')]);
    });

    it('reports at once a result it kept on the free because a local task needs it', () => {
      h = new Harness(1);
      h.step(computeTask('a', 0));
      h.step({ type: 'execute-success', key: 'a', nbytes: 3 });
      // `b` needs `a` and waits behind `busy` for the thread.
      h.step(computeTask('busy', 0), computeTask('b', 1, [{ key: 'a', nbytes: 3, who: [] }]));
      expect(h.step({ type: 'free-keys', keys: ['a'] }, computeTask('a', 0))).toEqual([finished('a', 3, 's6')]);
    });

    it('drops the run when the order is compute, then free (why the scheduler must not reorder them)', () => {
      h = new Harness();
      h.step(computeTask('a'));
      expect(h.step(computeTask('a'), { type: 'free-keys', keys: ['a'] })).toEqual([]);
      expect(h.step({ type: 'execute-success', key: 'a', nbytes: 3 })).toEqual([{ type: 'release-data', key: 'a', stimulusId: 's4' }]);
      expect(h.s.tasks.has('a')).toBe(false);
    });
  });

  describe('Method: handle (acquire-replicas: another worker retires)', () => {
    it('fetches a replica, keeps it without a local dependent and reports it as finished', () => {
      h = new Harness();
      expect(h.step({ type: 'acquire-replicas', keys: [{ key: 'r', nbytes: 5, who: ['tcp://old:1'] }] })).toEqual([{ type: 'gather-dep', peer: 'tcp://old:1', keys: ['r'], stimulusId: 's1' }]);
      expect(h.step({ type: 'gather-dep-done', peer: 'tcp://old:1', received: [['r', 5]], missing: [] })).toEqual([{ type: 'send', msg: { op: 'task-finished', key: 'r', nbytes: 5 }, stimulusId: 's2' }]);
      expect(h.s.tasks.get('r')?.state).toBe('memory');
      // It stays until the scheduler frees it.
      expect(h.step({ type: 'free-keys', keys: ['r'] })).toEqual([{ type: 'release-data', key: 'r', stimulusId: 's3' }]);
    });

    it('reports at once a replica it already holds, and gives up one nobody can serve', () => {
      h = new Harness();
      h.step(computeTask('a'));
      h.step({ type: 'execute-success', key: 'a', nbytes: 2 });
      expect(h.step({ type: 'acquire-replicas', keys: [{ key: 'a', nbytes: 2, who: ['tcp://old:1'] }] })).toEqual([{ type: 'send', msg: { op: 'task-finished', key: 'a', nbytes: 2 }, stimulusId: 's3' }]);
      h.step({ type: 'acquire-replicas', keys: [{ key: 'gone', nbytes: 2, who: ['tcp://old:1'] }] });
      expect(h.step({ type: 'gather-dep-done', peer: 'tcp://old:1', received: [], missing: ['gone'] })).toEqual([]);
      expect(h.s.tasks.has('gone')).toBe(false);
    });
  });

  describe('Invariants', () => {
    it('hold after any sequence of compute, completion, gather and free events', () => {
      const op = fc.oneof(
        fc.record({ k: fc.constant('compute'), n: fc.integer({ min: 0, max: 7 }), dep: fc.integer({ min: -1, max: 7 }), peer: fc.integer({ min: 0, max: 2 }) }),
        fc.record({ k: fc.constant('success'), n: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ k: fc.constant('failure'), n: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ k: fc.constant('free'), n: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ k: fc.constant('gather'), peer: fc.integer({ min: 0, max: 2 }), ok: fc.boolean() }),
        fc.record({ k: fc.constant('pause'), on: fc.boolean() }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          h = new Harness(2, 3);
          for (const o of ops) {
            if (o.k === 'compute') {
              const deps = o.dep >= 0 && o.dep !== o.n ? [{ key: `d${o.dep}`, nbytes: 1, who: [`p${o.peer}`, `p${(o.peer + 1) % 3}`] }] : [];
              h.step(computeTask(`t${o.n}`, o.n, deps));
            } else if (o.k === 'success') {
              if (h.s.tasks.get(`t${o.n}`)?.state === 'executing' || h.s.tasks.get(`t${o.n}`)?.state === 'cancelled') h.step({ type: 'execute-success', key: `t${o.n}`, nbytes: 1 });
            } else if (o.k === 'failure') {
              if (h.s.tasks.get(`t${o.n}`)?.state === 'executing') h.step({ type: 'execute-failure', key: `t${o.n}`, error: { name: 'E', message: 'x' } });
            } else if (o.k === 'free') {
              h.step({ type: 'free-keys', keys: [`t${o.n}`] });
            } else if (o.k === 'gather') {
              const asked = h.s.inFlight.get(`p${o.peer}`);
              if (asked) {
                const keys = [...asked].map((t) => t.key);
                h.step(o.ok ? { type: 'gather-dep-done', peer: `p${o.peer}`, received: keys.map((k) => [k, 1] as [string, number]), missing: [] } : { type: 'gather-dep-failed', peer: `p${o.peer}`, keys });
              }
            } else {
              h.step({ type: o.on ? 'pause' : 'unpause' });
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
