import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../shared/core/clock.ts';
import { InvalidWorkerTransitionError } from '../../../worker/errors.ts';
import { WORKER_TRANSITIONS, WorkerState } from '../../../worker/state/machine.ts';
import type { DepSpec, WorkerEvent } from '../../../worker/state/types.ts';
import { validateWorkerState } from '../../../worker/state/validate.ts';

type Ev = WorkerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

const ALLOWED = new Set(WORKER_TRANSITIONS);

/**
 * One event per step with a fresh stimulus id and the clock moved on; after
 * each, the state must be consistent and the log must account for every
 * state change of the step (see the scheduler's state-space test).
 */
class Walker {
  readonly clock = new ManualClock(5_000);
  readonly s = new WorkerState({ nthreads: 2, maxExecuting: 3, maxGathers: 2, gatherBatchBytes: 3, clock: this.clock, transitionLogSize: 20_000 });
  steps = 0;
  changes = 0;

  step(e: Ev): void {
    const stimulusId = `${e.type}-${++this.steps}`;
    this.clock.advance(7);
    const before = new Map<string, string>();
    for (const [k, t] of this.s.tasks) before.set(k, t.state);
    const mark = this.s.log.recorded;
    this.s.handle([{ ...e, stimulusId } as WorkerEvent]);
    const problems = validateWorkerState(this.s);
    const logged = this.s.log.since(mark);
    if (mark + logged.length !== this.s.log.recorded) problems.push('the log wrapped within one step; raise transitionLogSize');
    const byKey = new Map<string, typeof logged>();
    for (const entry of logged) {
      if (entry.stimulusId !== stimulusId || entry.time !== this.clock.now()) problems.push(`${entry.key}: logged with ${entry.stimulusId}@${entry.time}`);
      if (!ALLOWED.has(`${entry.from}>${entry.to}`)) problems.push(`${entry.key}: ${entry.from}>${entry.to} is not in the table`);
      let list = byKey.get(entry.key);
      if (!list) byKey.set(entry.key, (list = []));
      list.push(entry);
    }
    for (const key of new Set([...before.keys(), ...this.s.tasks.keys(), ...byKey.keys()])) {
      const from = before.get(key) ?? 'released';
      const to = this.s.tasks.get(key)?.state ?? 'forgotten';
      const chain = byKey.get(key) ?? [];
      const chained = chain.every((c, i) => c.from === (i === 0 ? from : chain[i - 1]!.to));
      if (!chained || (chain.at(-1)?.to ?? from) !== to) {
        problems.push(`${key}: ${from} → ${to} but the log says ${chain.map((c) => `${c.from}>${c.to}`).join(' ') || 'nothing'}`);
      }
      this.changes += chain.length;
    }
    expect(problems, `after ${stimulusId}`).toEqual([]);
  }
}

const op = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      k: fc.constant('compute' as const),
      n: fc.integer({ min: 0, max: 7 }),
      // Sometimes the scheduler moves the computation of an input here (it is fetching or missing it).
      input: fc.integer({ min: 0, max: 4 }).map((n) => n === 0),
      // Inputs held by peers: replicas d-0…d-5, listed on 0–2 peers (none: missing at once).
      deps: fc.uniqueArray(fc.record({ d: fc.integer({ min: 0, max: 5 }), peers: fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { maxLength: 2 }) }), { maxLength: 3, selector: (x) => x.d }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('done' as const), n: fc.integer({ min: 0, max: 7 }), ok: fc.integer({ min: 0, max: 3 }).map((n) => n > 0) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('free' as const), n: fc.integer({ min: 0, max: 7 }), replica: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ k: fc.constant('gather' as const), peer: fc.integer({ min: 0, max: 2 }), how: fc.constantFrom('all', 'some', 'failed') }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pause' as const), on: fc.boolean() }) },
  // Work stealing: the scheduler asks for a task back; `dequeued`: the shell took it off the pool's queue.
  { weight: 2, arbitrary: fc.record({ k: fc.constant('steal' as const), n: fc.integer({ min: 0, max: 7 }), input: fc.boolean(), dequeued: fc.boolean() }) },
);
type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;

function toEvent(w: Walker, o: Op): Ev | undefined {
  const s = w.s;
  switch (o.k) {
    case 'compute': {
      const key = o.input ? `d-${o.n % 6}` : `t-${o.n}`;
      // d-m computed here depends only on d-j, j < m: the graph stays acyclic, as the scheduler's are.
      const deps: DepSpec[] = o.deps.filter(({ d }) => !o.input || d < o.n % 6).map(({ d, peers }) => ({ key: `d-${d}`, nbytes: 1 + (d % 2), who: peers.map((p) => `p${p}`) }));
      return { type: 'compute-task', key, run: o.n, priority: o.n, deps };
    }
    case 'done': {
      const t = s.tasks.get(`t-${o.n}`) ?? s.tasks.get(`d-${o.n % 6}`);
      if (t?.state !== 'executing' && t?.state !== 'cancelled') return undefined;
      return o.ok ? { type: 'execute-success', key: t.key, nbytes: 4 } : { type: 'execute-failure', key: t.key, error: { name: 'TypeError', message: 'no' } };
    }
    case 'free':
      return { type: 'free-keys', keys: [o.replica ? `d-${o.n % 6}` : `t-${o.n}`] };
    case 'gather': {
      const peer = `p${o.peer}`;
      const asked = s.inFlight.get(peer);
      if (!asked) return undefined;
      const keys = [...asked].map((t) => t.key);
      if (o.how === 'failed') return { type: 'gather-dep-failed', peer, keys };
      // 'some': the peer no longer holds every other key.
      const got = o.how === 'all' ? keys : keys.filter((_, i) => i % 2 === 0);
      return { type: 'gather-dep-done', peer, received: got.map((k) => [k, 1] as [string, number]), missing: keys.filter((k) => !got.includes(k)) };
    }
    case 'pause':
      return { type: o.on ? 'pause' : 'unpause' };
    case 'steal':
      return { type: 'steal-request', key: o.input ? `d-${o.n % 6}` : `t-${o.n}`, dequeued: o.dequeued };
  }
}

const walk = (ops: Op[]): Walker => {
  const w = new Walker();
  for (const o of ops) {
    const e = toEvent(w, o);
    if (e) w.step(e);
  }
  return w;
};

describe('Class: WorkerState', () => {
  describe('Method: handle (random event sequences)', () => {
    it('logs every state change with its stimulus and keeps every invariant, over random event sequences', () => {
      /* Random sequences of tasks computed with inputs on peers, results and failures
         (also of cancelled runs), frees of tasks and replicas, gathers that bring all,
         part or nothing, and memory pause/unpause. */
      let changes = 0;
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 100, size: 'max' }), (ops) => {
          changes += walk(ops).changes;
        }),
        { numRuns: 300 },
      );
      expect(changes).toBeGreaterThan(3_000);
    });

    it('visits every edge of the transition table', () => {
      const seen = new Set<string>();
      fc.assert(
        fc.property(fc.array(op, { minLength: 1, maxLength: 100, size: 'max' }), (ops) => {
          for (const e of walk(ops).s.log.since(0)) seen.add(`${e.from}>${e.to}`);
        }),
        { numRuns: 300, seed: 20 },
      );
      expect(WORKER_TRANSITIONS.filter((t) => !seen.has(t))).toEqual([]);
    });
  });

  describe('Method: story', () => {
    it('tells a task and its fetched input, each change with its stimulus and the injected clock', () => {
      // Prepare: a worker machine on a manual clock
      const clock = new ManualClock(1_000);
      const s = new WorkerState({ nthreads: 1, clock });

      // Act: compute x with an input on p1, the input arrives, x runs
      // The scheduler's stimulus id travels with the task (see worker/pump.ts).
      s.handle([{ type: 'compute-task', key: 'x', run: 0, priority: 0, deps: [{ key: 'd', nbytes: 1, who: ['p1'] }], stimulusId: 'update-graph-7' }]);
      clock.set(2_000);
      s.handle([{ type: 'gather-dep-done', peer: 'p1', received: [['d', 1]], missing: [], stimulusId: 'gather-3' }]);
      clock.set(3_000);
      s.handle([{ type: 'execute-success', key: 'x', nbytes: 4, stimulusId: 'exec-4' }]);

      // Assess: both stories, each change with its stimulus and the clock's time
      expect(s.story('x')).toEqual([
        { key: 'x', from: 'released', to: 'waiting', stimulusId: 'update-graph-7', time: 1_000 },
        { key: 'x', from: 'waiting', to: 'ready', stimulusId: 'gather-3', time: 2_000 },
        { key: 'x', from: 'ready', to: 'executing', stimulusId: 'gather-3', time: 2_000 },
        { key: 'x', from: 'executing', to: 'memory', stimulusId: 'exec-4', time: 3_000 },
      ]);
      expect(s.story('d')).toEqual([
        { key: 'd', from: 'released', to: 'fetch', stimulusId: 'update-graph-7', time: 1_000 },
        { key: 'd', from: 'fetch', to: 'flight', stimulusId: 'update-graph-7', time: 1_000 },
        { key: 'd', from: 'flight', to: 'memory', stimulusId: 'gather-3', time: 2_000 },
        // Once x has run, nothing here needs the replica.
        { key: 'd', from: 'memory', to: 'forgotten', stimulusId: 'exec-4', time: 3_000 },
      ]);
    });
  });
});

describe('Class: InvalidWorkerTransitionError', () => {
  it('carries the story of the task up to the refused transition', () => {
    const s = new WorkerState({ nthreads: 1, clock: new ManualClock(10) });
    s.handle([{ type: 'compute-task', key: 'x', run: 0, priority: 0, deps: [], stimulusId: 'update-graph-1' }]);
    const t = s.tasks.get('x')!;
    expect(t.state).toBe('executing');
    let err: unknown;
    try {
      s.transition(t, 'flight');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidWorkerTransitionError);
    const e = err as InvalidWorkerTransitionError;
    expect(e).toMatchObject({ key: 'x', from: 'executing', to: 'flight', statusCode: 500 });
    expect(e.story.map((x) => `${x.from}>${x.to}@${x.stimulusId}`)).toEqual(['released>waiting@update-graph-1', 'waiting>ready@update-graph-1', 'ready>executing@update-graph-1']);
    expect(e.message).toContain('story: released→waiting (update-graph-1), waiting→ready (update-graph-1), ready→executing (update-graph-1)');
  });
});
