import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import { unclaimedOf } from '../../../scheduler/state/reconnect.ts';
import type { SchedulerEvent, SchedulerInstruction, SchedulerOptions, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';

type Ev = SchedulerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

/** Feeds events with numbered stimulus ids; checks invariants after every step. */
class Harness {
  readonly s: SchedulerState;
  now = 1_000;
  private n = 0;
  constructor(options: Partial<SchedulerOptions> = {}) {
    this.s = new SchedulerState({ workStealing: false, ...options });
  }
  step(...events: Ev[]): SchedulerInstruction[] {
    const full = events.map((e) => ({ ...e, stimulusId: `s${++this.n}` }) as SchedulerEvent);
    const out = this.s.handle(full, this.now);
    expect(validateSchedulerState(this.s)).toEqual([]);
    return out;
  }
  state(key: string): string {
    return this.s.tasks.get(key)?.state ?? 'forgotten';
  }
  holders(key: string): string[] {
    return (this.s.tasks.get(key)?.whoHas ?? []).map((w) => w.id);
  }
}

const task = (key: string, deps: string[] = []): TaskSpec => ({ key, run: `run:${key}`, deps });
const worker = (workerId: string): Ev => ({ type: 'add-worker', workerId, name: workerId, nthreads: 1, resources: {} });
const held = (workerId: string, keys: string[], nbytes = keys.map(() => 8)): Ev => ({ type: 'worker-held-data', workerId, keys, nbytes });
const computes = (out: SchedulerInstruction[]) => out.filter((o) => o.type === 'compute').map((o) => `${(o as { workerId: string }).workerId}:${(o as { key: string }).key}`);

let h: Harness;
afterEach(() => {
  expect(validateSchedulerState(h.s)).toEqual([]);
});

describe('Event: worker-held-data (a worker re-registers its results)', () => {
  it('after a scheduler restart, a resubmitted graph takes the results the workers still hold instead of computing them', () => {
    /* The scheduler was killed and restarted: it knows nothing. w1 comes back holding "load"
       (and an old "stale" nobody asks for). A client submits load → use again (the same
       deterministic keys): load goes straight to memory on w1, only "use" runs, on w1. */
    h = new Harness();
    const none = h.step(worker('w1'), worker('w2'), held('w1', ['load', 'stale'], [1000, 5]));
    expect(none).toEqual([]);
    expect(unclaimedOf(h.s).size).toBe(2);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('load'), task('use', ['load'])], wants: ['use'] });
    expect(computes(out)).toEqual(['w1:use']);
    expect(out.find((o) => o.type === 'compute')).toMatchObject({ deps: [{ key: 'load', nbytes: 1000, who: ['w1'] }] });
    expect(h.state('load')).toBe('memory');
    expect(h.s.story('load').map((e) => `${e.from}>${e.to}:${e.stimulusId}`)).toEqual(['released>waiting:s4', 'waiting>memory:s4']);
    expect(unclaimedOf(h.s).size).toBe(1);
  });

  it('reports a wanted re-registered result to the client at once', () => {
    h = new Harness();
    h.step(worker('w1'), held('w1', ['x'], [42]));
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('x')], wants: ['x'] });
    expect(out).toEqual([{ type: 'report', clientId: 'c', msg: { op: 'key-in-memory', key: 'x', nbytes: 42 }, stimulusId: 's3' }]);
    expect(h.holders('x')).toEqual(['w1']);
  });

  it('keeps every live holder as a replica, and skips holders that left before the claim', () => {
    h = new Harness();
    h.step(worker('w1'), worker('w2'), worker('w3'), held('w1', ['x']), held('w2', ['x']), held('w3', ['x']));
    h.step({ type: 'remove-worker', workerId: 'w2', reason: 'gone' });
    h.step({ type: 'update-graph', clientId: 'c', tasks: [task('x')], wants: ['x'] });
    expect(h.holders('x')).toEqual(['w1', 'w3']);
  });

  it('computes as usual when every holder left before a graph asked for the result', () => {
    h = new Harness();
    h.step(worker('w1'), worker('w2'), held('w1', ['x']));
    h.step({ type: 'remove-worker', workerId: 'w1', reason: 'gone' });
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('x')], wants: ['x'] });
    expect(computes(out)).toEqual(['w2:x']);
  });

  it('frees unclaimed results on their workers after heldDataTimeoutMs', () => {
    /* Nobody resubmitted the old job: the results must not fill the workers for ever. */
    h = new Harness({ heldDataTimeoutMs: 60_000 });
    h.step(worker('w1'), worker('w2'), held('w1', ['a', 'b']), held('w2', ['b']));
    h.now += 59_999;
    expect(h.step({ type: 'tick' })).toEqual([]);
    h.now += 1;
    const out = h.step({ type: 'tick' });
    expect(out).toEqual([
      { type: 'free-keys', workerId: 'w1', keys: ['a', 'b'], stimulusId: 's6' },
      { type: 'free-keys', workerId: 'w2', keys: ['b'], stimulusId: 's6' },
    ]);
    expect(unclaimedOf(h.s).size).toBe(0);
    // Asked for later, it is computed.
    expect(computes(h.step({ type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] }))).toHaveLength(1);
  });

  it('adds a replica when the result is already in memory elsewhere', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('x')], wants: ['x'] });
    h.step({ type: 'task-finished', workerId: 'w1', key: 'x', nbytes: 8 });
    expect(h.step(worker('w2'), held('w2', ['x']))).toEqual([]);
    expect(h.holders('x')).toEqual(['w1', 'w2']);
    // Released, both copies are freed.
    const out = h.step({ type: 'client-releases', clientId: 'c', keys: ['x'] });
    expect(out.filter((o) => o.type === 'free-keys').map((o) => (o as { workerId: string }).workerId)).toEqual(['w1', 'w2']);
  });

  it('takes a result for a task still processing elsewhere (a worker that was cut off finished it) and drops the late duplicate', () => {
    /* w1 lost its connection while running x; the scheduler gave x to w2. w1 comes back holding x. */
    h = new Harness();
    h.step(worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('x'), task('y', ['x'])], wants: ['y'] });
    expect(h.s.tasks.get('x')!.processingOn!.id).toBe('w2');
    const out = h.step(worker('w1'), held('w1', ['x'], [16]));
    expect(h.state('x')).toBe('memory');
    expect(h.holders('x')).toEqual(['w1']);
    expect(computes(out)).toEqual(['w1:y']);
    const late = h.step({ type: 'task-finished', workerId: 'w2', key: 'x', nbytes: 16 });
    expect(late).toEqual([{ type: 'free-keys', workerId: 'w2', keys: ['x'], stimulusId: 's5' }]);
  });

  it('takes a result for a task still queued on the scheduler', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b')], wants: ['a', 'b'] });
    expect(h.state('b')).toBe('queued');
    h.step(worker('w2'), held('w2', ['b']));
    // The held copy lands before the end of the step, when w2 would have taken b from the queue: nothing runs.
    expect(h.state('b')).toBe('memory');
    expect(h.holders('b')).toEqual(['w2']);
  });

  it('frees results of tasks that erred or that nobody needs any more', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('bad')], wants: ['bad'] });
    h.step({ type: 'task-erred', workerId: 'w1', key: 'bad', error: { name: 'Error', message: 'boom' } });
    const out = h.step(worker('w2'), held('w2', ['bad']));
    expect(out).toEqual([{ type: 'free-keys', workerId: 'w2', keys: ['bad'], stimulusId: 's5' }]);
  });

  it('ignores keys from a worker that is not registered', () => {
    h = new Harness();
    expect(h.step(held('ghost', ['x']))).toEqual([]);
    expect(unclaimedOf(h.s).size).toBe(0);
  });

  it('survives hostile keys (constructor, __proto__) and mismatched lengths', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'worker-held-data', workerId: 'w1', keys: ['constructor', '__proto__', 'toString'], nbytes: [1] });
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('constructor'), task('__proto__')], wants: ['constructor', '__proto__'] });
    expect(computes(out)).toEqual([]);
    expect(h.state('constructor')).toBe('memory');
    expect(h.s.tasks.get('__proto__')!.nbytes).toBe(0);
  });
});
