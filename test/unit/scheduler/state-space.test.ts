import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvalidTransitionError } from '../../../scheduler/errors.ts';
import { SchedulerState, TRANSITIONS } from '../../../scheduler/state/machine.ts';
import type { SchedulerEvent, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';

type Ev = SchedulerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

const ALLOWED = new Set(TRANSITIONS);

/**
 * Applies one event per step with a fresh stimulus id and the clock moved on,
 * then checks that the state is consistent and that the transition log
 * accounts for every state change of the step: for each key, the entries
 * logged in the step chain from its state before to its state after, each
 * with this step's stimulus id and time and each pair allowed by the table.
 */
class Walker {
  readonly s = new SchedulerState({ noWorkerTimeoutMs: 50, transitionLogSize: 20_000 });
  now = 1_000;
  steps = 0;
  changes = 0;

  step(e: Ev): void {
    const stimulusId = `${e.type}-${++this.steps}`;
    this.now += 10;
    const before = new Map<string, string>();
    for (const [k, t] of this.s.tasks) before.set(k, t.state);
    const mark = this.s.log.recorded;
    this.s.handle([{ ...e, stimulusId } as SchedulerEvent], this.now);
    const problems = validateSchedulerState(this.s);

    // (expect() per entry would dominate the run time: collect problems, assert once.)
    const logged = this.s.log.since(mark);
    if (mark + logged.length !== this.s.log.recorded) problems.push('the log wrapped within one step; raise transitionLogSize');
    const byKey = new Map<string, typeof logged>();
    for (const entry of logged) {
      if (entry.stimulusId !== stimulusId || entry.time !== this.now) problems.push(`${entry.key}: logged with ${entry.stimulusId}@${entry.time}, not the step's ${stimulusId}@${this.now}`);
      if (!ALLOWED.has(`${entry.from}>${entry.to}`)) problems.push(`${entry.key}: ${entry.from}>${entry.to} is not in the table`);
      let list = byKey.get(entry.key);
      if (!list) byKey.set(entry.key, (list = []));
      list.push(entry);
    }
    const keys = new Set([...before.keys(), ...this.s.tasks.keys(), ...byKey.keys()]);
    for (const key of keys) {
      // A record the step created starts released (unlogged: it did not change state to get there).
      const from = before.get(key) ?? 'released';
      const to = this.s.tasks.get(key)?.state ?? 'forgotten';
      const chain = byKey.get(key) ?? [];
      let at = from;
      for (const c of chain) {
        if (c.from !== at) break;
        at = c.to;
      }
      if (at !== to || chain.some((c, i) => c.from !== (i === 0 ? from : chain[i - 1]!.to))) {
        problems.push(`${key}: ${from} → ${to} but the log says ${chain.map((c) => `${c.from}>${c.to}`).join(' ') || 'nothing'}`);
      }
      this.changes += chain.length;
    }
    expect(problems, `after ${stimulusId}`).toEqual([]);
  }
}

const taskOp = fc.record({
  k: fc.constant('graph' as const),
  client: fc.integer({ min: 0, max: 1 }),
  n: fc.integer({ min: 0, max: 11 }),
  // Indexes into the keys the scheduler holds at that step (a missing one: an unknown dependency).
  deps: fc.uniqueArray(fc.integer({ min: 0, max: 12 }), { maxLength: 3 }),
  gpu: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
  retries: fc.integer({ min: 0, max: 1 }),
  want: fc.integer({ min: 0, max: 5 }).map((n) => n > 0),
});
const op = fc.oneof(
  { weight: 4, arbitrary: taskOp },
  { weight: 6, arbitrary: fc.record({ k: fc.constant('finish' as const), n: fc.integer({ min: 0, max: 11 }), batch: fc.boolean(), wrongWorker: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('err' as const), n: fc.integer({ min: 0, max: 11 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('release' as const), client: fc.integer({ min: 0, max: 1 }), n: fc.integer({ min: 0, max: 11 }), cancel: fc.boolean() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('join' as const), w: fc.integer({ min: 0, max: 3 }), nthreads: fc.integer({ min: 1, max: 2 }), gpu: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('leave' as const), w: fc.integer({ min: 0, max: 3 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('status' as const), w: fc.integer({ min: 0, max: 3 }), paused: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('missing' as const), n: fc.integer({ min: 0, max: 11 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('client' as const), client: fc.integer({ min: 0, max: 1 }), leave: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 0, max: 100 }) }) },
  // A returning worker re-registers a result it holds (reconnect.ts): known, pending or unknown keys.
  // Several new tasks on one result in memory: on a large one they all go to its holder, and idle workers steal
  // (stealing.ts); on a tiny one they spread by load (placement.ts). `finish` makes some results large.
  { weight: 1, arbitrary: fc.record({ k: fc.constant('fan' as const), client: fc.integer({ min: 0, max: 1 }), n: fc.integer({ min: 0, max: 11 }), width: fc.integer({ min: 2, max: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('held' as const), w: fc.integer({ min: 0, max: 3 }), n: fc.integer({ min: 0, max: 11 }) }) },
  // A steal's victim answers (stealing.ts): gave the task up, or keeps it (also a stale answer from another worker).
  { weight: 1, arbitrary: fc.record({ k: fc.constant('steal' as const), n: fc.integer({ min: 0, max: 11 }), released: fc.boolean(), wrongWorker: fc.boolean() }) },
  // A worker reports a task waiting for a thread, or starting (also about a task no longer there).
  { weight: 1, arbitrary: fc.record({ k: fc.constant('queue' as const), n: fc.integer({ min: 0, max: 11 }), started: fc.boolean(), wrongWorker: fc.boolean() }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function toEvent(w: Walker, o: Op): Ev | undefined {
  const s = w.s;
  const key = (n: number) => `t-${n}`;
  switch (o.k) {
    case 'graph': {
      const held = [...s.tasks.keys()];
      const deps = o.deps.map((i) => held[i] ?? key(100 + i)).filter((d) => d !== key(o.n));
      const spec: TaskSpec = { key: key(o.n), run: o.n, deps, retries: o.retries, ...(o.gpu ? { resources: { gpu: 1 } } : {}) };
      return { type: 'update-graph', clientId: `c${o.client}`, tasks: [spec], wants: o.want ? [spec.key] : [] };
    }
    case 'finish': {
      const t = s.tasks.get(key(o.n));
      if (!t?.processingOn) return undefined;
      // A result from a worker the task is not on is a late duplicate: the scheduler frees it there.
      const other = [...s.workers.values()].find((x) => x !== t.processingOn);
      const workerId = o.wrongWorker && other ? other.id : t.processingOn.id;
      return o.batch
        ? { type: 'tasks-finished', workerId, keys: [t.key], nbytes: [8], durationsMs: [o.n % 2 === 0 ? 3 : -1] }
        : { type: 'task-finished', workerId, key: t.key, nbytes: o.n % 3 === 0 ? 2_000_000 : 8, durationMs: o.n % 4 === 0 ? 40 : 2 };
    }
    case 'err': {
      const t = s.tasks.get(key(o.n));
      if (!t?.processingOn) return undefined;
      return { type: 'task-erred', workerId: t.processingOn.id, key: t.key, error: { name: 'RangeError', message: `boom ${o.n}` } };
    }
    case 'release':
      return { type: o.cancel ? 'cancel' : 'client-releases', clientId: `c${o.client}`, keys: [key(o.n)] };
    case 'join':
      return { type: 'add-worker', workerId: `w${o.w}`, name: `w${o.w}`, nthreads: o.nthreads, resources: o.gpu ? { gpu: 1 } : {} };
    case 'leave':
      return { type: 'remove-worker', workerId: `w${o.w}`, reason: 'lost' };
    case 'status':
      return { type: 'worker-status', workerId: `w${o.w}`, status: o.paused ? 'paused' : 'running' };
    case 'missing': {
      // The worker running the task could not fetch one of its inputs from a holder.
      const t = s.tasks.get(key(o.n));
      const dep = t?.deps.find((d) => d.whoHas && d.whoHas.length > 0);
      if (!t?.processingOn || !dep?.whoHas) return undefined;
      return { type: 'missing-data', workerId: t.processingOn.id, key: t.key, dep: dep.key, from: (dep.whoHas[0] as { id: string }).id };
    }
    case 'client':
      return o.leave ? { type: 'remove-client', clientId: `c${o.client}` } : { type: 'add-client', clientId: `c${o.client}` };
    case 'tick':
      w.now += o.ms;
      return { type: 'tick' };
    case 'fan': {
      const input = [...s.tasks.values()].filter((t) => t.state === 'memory')[o.n % 4];
      if (!input) return undefined;
      const tasks: TaskSpec[] = Array.from({ length: o.width }, (_, i) => ({ key: `fan${w.steps}-${i}`, run: i, deps: [input.key] }));
      return { type: 'update-graph', clientId: `c${o.client}`, tasks, wants: tasks.map((t) => t.key) };
    }
    case 'steal': {
      const asked = [...s.tasks.values()].filter((t) => t.stealTo);
      const t = asked[o.n % Math.max(1, asked.length)];
      if (!t?.processingOn) return undefined;
      const other = [...s.workers.values()].find((x) => x !== t.processingOn);
      const workerId = o.wrongWorker && other ? other.id : t.processingOn.id;
      return { type: 'steal-response', workerId, keys: [t.key], states: [o.released ? 'released' : 'executing'] };
    }
    case 'queue': {
      const t = s.tasks.get(key(o.n));
      if (!t?.processingOn) return undefined;
      const other = [...s.workers.values()].find((x) => x !== t.processingOn);
      const workerId = o.wrongWorker && other ? other.id : t.processingOn.id;
      return { type: 'task-queue', workerId, queued: o.started ? [] : [t.key], started: o.started ? [t.key] : [] };
    }
    case 'held':
      // Mostly a key the scheduler holds at that step (pending ones go to memory), else an unknown one.
      return { type: 'worker-held-data', workerId: `w${o.w}`, keys: [[...s.tasks.keys()][o.n] ?? key(o.n)], nbytes: [8] };
  }
}

describe('Class: SchedulerState', () => {
  describe('Method: handle (random event sequences)', () => {
    it('logs every state change with its stimulus and keeps every invariant, over random event sequences', () => {
      /* Random sequences of workers joining, pausing and leaving, clients coming and
         going, tasks submitted with dependencies and resources, finished (also late,
         from the wrong worker), erred, retried, released, cancelled, inputs missing
         and no-worker timeouts. */
      let changes = 0;
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
          const w = new Walker();
          for (const o of ops) {
            const e = toEvent(w, o);
            if (e) w.step(e);
          }
          changes += w.changes;
        }),
        { numRuns: 300 },
      );
      // The walk reaches real work, not only no-ops.
      expect(changes).toBeGreaterThan(3_000);
    });

    it('visits every edge of the transition table', () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 120, size: 'max' }), (ops) => {
          const w = new Walker();
          for (const o of ops) {
            const e = toEvent(w, o);
            if (e) w.step(e);
          }
          for (const e of w.s.log.since(0)) seen.add(`${e.from}>${e.to}`);
        }),
        { numRuns: 600, seed: 20 },
      );
      // No event reaches these two today: an erred task is only forgotten (a client retry op would
      // release it), and a queued task's inputs are all in memory, which never err.
      expect([...TRANSITIONS].filter((t) => !seen.has(t))).toEqual(['erred>released', 'queued>erred']);
    });
  });

  describe('Method: story', () => {
    it('tells a task retried after its worker died, each change with the stimulus that caused it', () => {
      // Prepare: one worker, one client
      const s = new SchedulerState();
      s.handle([{ type: 'add-worker', workerId: 'w1', name: 'w1', nthreads: 1, resources: {}, stimulusId: 'add-worker-1' }, { type: 'add-client', clientId: 'c', stimulusId: 'add-client-2' }], 100);

      // Act: submit x, lose its worker, add another, finish there
      s.handle([{ type: 'update-graph', clientId: 'c', tasks: [{ key: 'x', run: 0, deps: [] }], wants: ['x'], stimulusId: 'update-graph-3' }], 200);
      s.handle([{ type: 'remove-worker', workerId: 'w1', reason: 'killed', stimulusId: 'remove-worker-4' }], 300);
      s.handle([{ type: 'add-worker', workerId: 'w2', name: 'w2', nthreads: 1, resources: {}, stimulusId: 'add-worker-5' }], 400);
      s.handle([{ type: 'task-finished', workerId: 'w2', key: 'x', nbytes: 4, stimulusId: 'finished-6' }], 500);

      // Assess: every change, in order, with the stimulus and the handle() time
      expect(s.story('x')).toEqual([
        { key: 'x', from: 'released', to: 'waiting', stimulusId: 'update-graph-3', time: 200 },
        { key: 'x', from: 'waiting', to: 'queued', stimulusId: 'update-graph-3', time: 200 },
        { key: 'x', from: 'queued', to: 'processing', stimulusId: 'update-graph-3', time: 200 },
        { key: 'x', from: 'processing', to: 'released', stimulusId: 'remove-worker-4', time: 300 },
        { key: 'x', from: 'released', to: 'waiting', stimulusId: 'remove-worker-4', time: 300 },
        { key: 'x', from: 'waiting', to: 'queued', stimulusId: 'remove-worker-4', time: 300 },
        { key: 'x', from: 'queued', to: 'processing', stimulusId: 'add-worker-5', time: 400 },
        { key: 'x', from: 'processing', to: 'memory', stimulusId: 'finished-6', time: 500 },
      ]);
      expect(s.story('never-submitted')).toEqual([]);
    });

    it('keeps only the last transitionLogSize changes', () => {
      const s = new SchedulerState({ transitionLogSize: 3 });
      s.handle([{ type: 'add-worker', workerId: 'w1', name: 'w1', nthreads: 1, resources: {}, stimulusId: 'a-1' }, { type: 'add-client', clientId: 'c', stimulusId: 'a-2' }], 1);
      s.handle([{ type: 'update-graph', clientId: 'c', tasks: [{ key: 'x', run: 0, deps: [] }], wants: ['x'], stimulusId: 'g-3' }], 2);
      s.handle([{ type: 'task-finished', workerId: 'w1', key: 'x', nbytes: 1, stimulusId: 'f-4' }], 3);
      expect(s.story('x').map((e) => `${e.from}>${e.to}`)).toEqual(['waiting>queued', 'queued>processing', 'processing>memory']);
      expect(s.log.recorded).toBe(4);
    });
  });
});

describe('Class: InvalidTransitionError', () => {
  it('carries the story of the task up to the refused transition', () => {
    const s = new SchedulerState();
    s.handle([{ type: 'add-client', clientId: 'c', stimulusId: 'add-client-1' }], 10);
    s.handle([{ type: 'update-graph', clientId: 'c', tasks: [{ key: 'y', run: 0, deps: [] }, { key: 'x', run: 0, deps: ['y'] }], wants: ['x'], stimulusId: 'update-graph-2' }], 20);
    const t = s.tasks.get('x')!;
    expect(t.state).toBe('waiting');
    // waiting → processing is not in the table (a task is queued first), nor is released → processing.
    let err: unknown;
    try {
      s['transition'](t, 'processing');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidTransitionError);
    const e = err as InvalidTransitionError;
    expect(e).toMatchObject({ key: 'x', from: 'waiting', to: 'processing', statusCode: 500 });
    expect(e.story).toEqual([{ key: 'x', from: 'released', to: 'waiting', stimulusId: 'update-graph-2', time: 20 }]);
    expect(e.message).toBe('task x: no transition from waiting to processing; story: released→waiting (update-graph-2)');
  });
});
