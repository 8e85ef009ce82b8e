import { afterEach, describe, expect, it } from 'vitest';
import { adaptiveTarget, type AdaptiveOptions } from '../../../scheduler/state/adaptive.ts';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import { REPLICA_RETRY_MS } from '../../../scheduler/state/retire.ts';
import type { SchedulerEvent, SchedulerInstruction, SchedulerOptions, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';

type Ev = SchedulerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

/** Feeds events with numbered stimulus ids; checks invariants after every step. */
class Harness {
  readonly s: SchedulerState;
  now = 1_000;
  private n = 0;
  constructor(options: Partial<SchedulerOptions> = {}) {
    this.s = new SchedulerState(options);
  }
  step(...events: Ev[]): SchedulerInstruction[] {
    const full = events.map((e) => ({ ...e, stimulusId: `s${++this.n}` }) as SchedulerEvent);
    const out = this.s.handle(full, this.now);
    expect(validateSchedulerState(this.s)).toEqual([]);
    return out;
  }
  /** Finish everything processing on `w` (each run `ms`). */
  finishAll(w: string, ms = 100): SchedulerInstruction[] {
    const keys = [...(this.s.workers.get(w)?.processing ?? [])].map((t) => t.key);
    return this.step({ type: 'tasks-finished', workerId: w, keys, nbytes: keys.map(() => 8), durationsMs: keys.map(() => ms) });
  }
}

const task = (key: string, deps: string[] = []): TaskSpec => ({ key, run: `run:${key}`, deps });
const worker = (workerId: string, nthreads = 1): Ev => ({ type: 'add-worker', workerId, name: `pod-${workerId}`, nthreads, resources: {} });
const ofType = <T extends SchedulerInstruction['type']>(out: SchedulerInstruction[], type: T) => out.filter((o): o is Extract<SchedulerInstruction, { type: T }> => o.type === type);
const tasks = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => task(`${prefix}-${i}`));
const adaptive = (o: Partial<AdaptiveOptions> = {}): AdaptiveOptions => ({ minimum: 1, maximum: 6, targetDurationMs: 5_000, waitCount: 3, intervalMs: 1_000, ...o });

let h: Harness;
afterEach(() => {
  expect(validateSchedulerState(h.s)).toEqual([]);
});

describe('Function: adaptiveTarget', () => {
  it('asks for no worker when there is no work, and one while anything waits', () => {
    h = new Harness();
    expect(adaptiveTarget(h.s, 5_000)).toBe(0);
    h.step({ type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
    expect(adaptiveTarget(h.s, 5_000)).toBe(1);
  });

  it('divides the expected work by the target duration, in workers of the threads seen', () => {
    /* 2,000 tasks of a prefix measured at 100 ms: 200 s of work; in 5 s that is 40 threads, 20 workers of 2 threads. */
    h = new Harness();
    h.step(worker('w1', 2), { type: 'update-graph', clientId: 'c', tasks: [task('f-warm')], wants: ['f-warm'] });
    h.step({ type: 'task-finished', workerId: 'w1', key: 'f-warm', nbytes: 1, durationMs: 100 });
    const many = tasks('f', 2000);
    h.step({ type: 'update-graph', clientId: 'c', tasks: many, wants: many.map((t) => t.key) });
    expect(adaptiveTarget(h.s, 5_000)).toBe(20);
    expect(adaptiveTarget(h.s, 50_000)).toBe(2);
  });

  it('never asks for more threads than there are tasks (a few long tasks)', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('slow-warm')], wants: ['slow-warm'] });
    h.step({ type: 'task-finished', workerId: 'w1', key: 'slow-warm', nbytes: 1, durationMs: 600_000 });
    const three = tasks('slow', 3);
    h.step({ type: 'update-graph', clientId: 'c', tasks: three, wants: three.map((t) => t.key) });
    expect(adaptiveTarget(h.s, 5_000)).toBe(3);
  });
});

describe('Class: AdaptivePolicy (the adapt event)', () => {
  it('asks for more workers at once, clamped to the maximum, and only when the count changes', () => {
    h = new Harness({ adaptive: adaptive() });
    h.step(worker('w1'));
    const many = tasks('f', 2000);
    h.step({ type: 'update-graph', clientId: 'c', tasks: many, wants: many.map((t) => t.key) });
    expect(ofType(h.step({ type: 'adapt' }), 'scale')).toEqual([{ type: 'scale', workers: 6, stimulusId: 's3' }]);
    expect(ofType(h.step({ type: 'adapt' }), 'scale')).toEqual([]);
  });

  it('retires an idle worker only after waitCount consecutive looks, and lowers the request', () => {
    /* Four workers, little work left: one look names idle workers, but only the third retires them. */
    h = new Harness({ adaptive: adaptive({ waitCount: 3 }) });
    h.step(worker('w1'), worker('w2'), worker('w3'), worker('w4'));
    h.step({ type: 'update-graph', clientId: 'c', tasks: [task('x')], wants: ['x'] });
    h.step({ type: 'adapt' });
    h.step({ type: 'adapt' });
    expect([...h.s.workers.values()].filter((w) => w.retiring)).toEqual([]);
    const out = h.step({ type: 'adapt' });
    // x runs on one worker; the three idle ones hold nothing, so they retire in the same step.
    const retired = ofType(out, 'retire-worker').map((r) => r.name).sort();
    expect(retired).toHaveLength(3);
    expect(retired).not.toContain(`pod-${h.s.tasks.get('x')?.processingOn?.id}`);
    expect(ofType(out, 'retire-worker').map((r) => r.workers)).toEqual([1, 1, 1]);
  });

  it('forgets a count of looks when the worker is needed in between (hysteresis)', () => {
    h = new Harness({ adaptive: adaptive({ waitCount: 2 }) });
    h.step(worker('w1'), worker('w2'));
    h.step({ type: 'adapt' }); // nothing to do: one look naming an idle worker
    const more = tasks('f', 20);
    h.step({ type: 'update-graph', clientId: 'c', tasks: more, wants: more.map((t) => t.key) });
    h.step({ type: 'adapt' }); // work again: the count starts over
    h.finishAll('w1');
    h.finishAll('w2');
    expect(ofType(h.step({ type: 'adapt' }), 'retire-worker')).toEqual([]);
  });

  it('takes back a worker still retiring when work grows, instead of asking for a new one', () => {
    /* Two idle workers, one holding a result a client wants: the empty one retires at once, the holder starts
       moving its result. Work arrives before the replica lands: the holder is taken back and more are asked for. */
    h = new Harness({ adaptive: adaptive({ waitCount: 1, minimum: 1 }) });
    h.step(worker('w1'), worker('w2'));
    h.step({ type: 'update-graph', clientId: 'c', tasks: [task('kept')], wants: ['kept'] });
    const holder = h.s.tasks.get('kept')!.processingOn!.id;
    h.step({ type: 'task-finished', workerId: holder, key: 'kept', nbytes: 10, durationMs: 100 });
    // Minimum 1 and no work: one of the two is named; the one holding nothing goes first.
    let out = h.step({ type: 'adapt' });
    const gone = ofType(out, 'retire-worker').map((r) => r.workerId);
    expect(gone).toEqual([holder === 'w1' ? 'w2' : 'w1']);
    h.step({ type: 'remove-worker', workerId: gone[0]!, reason: 'retired' });
    h.step(worker('w3'));
    // The holder is the only idle worker in service besides w3 (which holds nothing): w3 goes next, not the holder.
    out = h.step({ type: 'adapt' });
    expect(ofType(out, 'retire-worker').map((r) => r.workerId)).toEqual(['w3']);
    // Now retire the holder by hand (its result must move to w3 first) and grow the work before the replica lands.
    h.step({ type: 'retire-workers', workerIds: [holder] });
    expect(h.s.workers.get(holder)!.retiring).toBe(true);
    const more = tasks('more', 200);
    out = h.step({ type: 'update-graph', clientId: 'c', tasks: more, wants: more.map((t) => t.key) }, { type: 'adapt' });
    expect(h.s.workers.get(holder)!.retiring).toBe(false);
    expect(ofType(out, 'compute').some((c) => c.workerId === holder)).toBe(true);
    expect(ofType(out, 'scale')[0]?.workers).toBeGreaterThan(1);
  });
});

describe('Graceful retirement (retire-workers event)', () => {
  it('moves the results only the retiring worker holds, then lets it go; nothing is computed again', () => {
    /* w1 ran a and b (clients want them); retiring w1 asks w2 to fetch both, and once w2 reports them
       w1 is dropped as a holder and retire-worker names it. */
    h = new Harness();
    h.step(worker('w1', 2), { type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b')], wants: ['a', 'b'] });
    h.finishAll('w1');
    h.step(worker('w2'));
    let out = h.step({ type: 'retire-workers', workerIds: ['w1'] });
    expect(ofType(out, 'acquire-replicas')).toEqual([
      { type: 'acquire-replicas', workerId: 'w2', keys: [{ key: 'a', nbytes: 8, who: ['w1'] }, { key: 'b', nbytes: 8, who: ['w1'] }], stimulusId: 's5' },
    ]);
    expect(ofType(out, 'retire-worker')).toEqual([]);
    // New work goes elsewhere meanwhile.
    out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('c')], wants: ['c'] });
    expect(ofType(out, 'compute').map((c) => c.workerId)).toEqual(['w2']);
    out = h.step({ type: 'tasks-finished', workerId: 'w2', keys: ['a', 'b'], nbytes: [8, 8], durationsMs: [-1, -1] });
    expect(ofType(out, 'free-keys')).toEqual([]);
    expect(ofType(out, 'retire-worker')).toEqual([{ type: 'retire-worker', workerId: 'w1', name: 'pod-w1', workers: 1, stimulusId: 's7' }]);
    expect(h.s.tasks.get('a')!.whoHas!.map((w) => w.id)).toEqual(['w2']);
    // The worker leaving loses nothing.
    out = h.step({ type: 'remove-worker', workerId: 'w1', reason: 'retired' });
    expect(h.s.tasks.get('a')!.state).toBe('memory');
    expect(ofType(out, 'compute').filter((c) => c.key === 'a' || c.key === 'b')).toEqual([]);
  });

  it('waits for a task running on the retiring worker, and never lets it go while it runs', () => {
    h = new Harness();
    h.step(worker('w1'), worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('long')], wants: ['long'] });
    const on = h.s.tasks.get('long')!.processingOn!.id;
    const other = on === 'w1' ? 'w2' : 'w1';
    expect(ofType(h.step({ type: 'retire-workers', workerIds: [on] }), 'retire-worker')).toEqual([]);
    let out = h.step({ type: 'task-finished', workerId: on, key: 'long', nbytes: 4, durationMs: 50 });
    expect(ofType(out, 'acquire-replicas')[0]).toMatchObject({ workerId: other, keys: [{ key: 'long', who: [on] }] });
    out = h.step({ type: 'task-finished', workerId: other, key: 'long', nbytes: 4 });
    expect(ofType(out, 'retire-worker').map((r) => r.workerId)).toEqual([on]);
  });

  it('asks another worker when a replica is not reported in time, and waits while no other worker exists', () => {
    h = new Harness();
    h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
    h.finishAll('w1');
    // Alone: nowhere to move a to, so w1 stays.
    expect(h.step({ type: 'retire-workers', workerIds: ['w1'] })).toEqual([]);
    let out = h.step(worker('w2'));
    expect(ofType(out, 'acquire-replicas').map((a) => a.workerId)).toEqual(['w2']);
    // w2 dies before reporting; w3 joins: asked at once (its target is gone).
    h.step({ type: 'remove-worker', workerId: 'w2', reason: 'killed' });
    out = h.step(worker('w3'));
    expect(ofType(out, 'acquire-replicas').map((a) => a.workerId)).toEqual(['w3']);
    // w3 never answers: asked again after REPLICA_RETRY_MS.
    h.now += REPLICA_RETRY_MS - 1;
    expect(ofType(h.step({ type: 'tick' }), 'acquire-replicas')).toEqual([]);
    h.now += 1;
    expect(ofType(h.step({ type: 'tick' }), 'acquire-replicas').map((a) => a.workerId)).toEqual(['w3']);
    expect(h.s.tasks.get('a')!.state).toBe('memory');
  });

  it('drops a late replica report that was not asked for, as any late result', () => {
    h = new Harness();
    h.step(worker('w1'), worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
    const on = h.s.tasks.get('a')!.processingOn!.id;
    h.step({ type: 'task-finished', workerId: on, key: 'a', nbytes: 1 });
    const other = on === 'w1' ? 'w2' : 'w1';
    const out = h.step({ type: 'task-finished', workerId: other, key: 'a', nbytes: 1 });
    expect(ofType(out, 'free-keys')).toEqual([{ type: 'free-keys', workerId: other, keys: ['a'], stimulusId: 's5' }]);
  });
});
