import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import { MIN_STEAL_MS, REESTIMATE_FLOOR_MS, planSteals } from '../../../scheduler/state/stealing.ts';
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
  on(key: string): string | undefined {
    return this.s.tasks.get(key)?.processingOn?.id;
  }
}

const task = (key: string, deps: string[] = []): TaskSpec => ({ key, run: `run:${key}`, deps });
const worker = (workerId: string, nthreads = 1): Ev => ({ type: 'add-worker', workerId, name: workerId, nthreads, resources: {} });
const computes = (out: SchedulerInstruction[], workerId: string) => out.filter((o) => o.type === 'compute' && o.workerId === workerId).map((o) => (o as { key: string }).key);
const freed = (out: SchedulerInstruction[], workerId: string) => out.filter((o) => o.type === 'free-keys' && o.workerId === workerId).flatMap((o) => (o as { keys: string[] }).keys);
const asked = (out: SchedulerInstruction[], workerId: string) => out.filter((o) => o.type === 'steal-request' && o.workerId === workerId).flatMap((o) => (o as { keys: string[] }).keys);

let h: Harness;
afterEach(() => {
  expect(validateSchedulerState(h.s)).toEqual([]);
});

/**
 * w1 holds `data` (of `dataBytes`); the run time of prefix `work` is known to
 * be `workMs` (one finished run); w2 has joined and is idle.
 */
function skewed(dataBytes: number, workMs: number, options: Partial<SchedulerOptions> = {}): void {
  h = new Harness(options);
  h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('data'), task('work-0')], wants: ['data', 'work-0'] });
  h.step({ type: 'task-finished', workerId: 'w1', key: 'data', nbytes: dataBytes });
  h.step({ type: 'task-finished', workerId: 'w1', key: 'work-0', nbytes: 1, durationMs: workMs });
  h.step(worker('w2'));
}

const work = (n: number) => Array.from({ length: n }, (_, i) => task(`work-${i + 1}`, ['data']));

describe('Function: balance (work stealing in SchedulerState.handle)', () => {
  it('moves the newest half of a backlog on the data holder to an idle worker, in the step that placed it', () => {
    /* Ten 100 ms tasks all need data on w1, so all go there; w2 idles. Stealing moves
       the five newest to w2 (it fetches 1 KB), leaving w1 the five oldest. They move in
       the step that placed them: w1 is never told of them (nothing to confirm). */
    skewed(1000, 100);
    const tasks = work(10);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(out, 'w1')).toEqual(['work-1', 'work-2', 'work-3', 'work-4', 'work-5']);
    expect(freed(out, 'w1')).toEqual([]);
    expect(asked(out, 'w1')).toEqual([]);
    expect(computes(out, 'w2')).toEqual(['work-10', 'work-9', 'work-8', 'work-7', 'work-6']);
    expect(tasks.map((t) => h.on(t.key))).toEqual(['w1', 'w1', 'w1', 'w1', 'w1', 'w2', 'w2', 'w2', 'w2', 'w2']);
    // The thief learns where the input is.
    const toThief = out.find((o) => o.type === 'compute' && o.workerId === 'w2') as { deps: unknown };
    expect(toThief.deps).toEqual([{ key: 'data', nbytes: 1000, who: ['w1'] }]);
    // The move is in the task's story: two transitions through the table.
    expect(h.s.story('work-10').map((e) => `${e.from}>${e.to}`)).toEqual(['released>waiting', 'waiting>queued', 'queued>processing', 'processing>queued', 'queued>processing']);
    expect(h.s.workers.get('w1')!.occupancy).toBe(500);
    expect(h.s.workers.get('w2')!.occupancy).toBe(500);
  });

  it('asks the victim first when the thief runs dry: a task it gave up moves, one it started stays', () => {
    /* w2 finishes its share early: w1's newest remaining tasks would finish sooner on w2.
       They were sent to w1 in an earlier step, so w1 may have started them: the scheduler
       asks (steal-request) and moves only what w1 gave up (steal-response 'released'). */
    skewed(1000, 100);
    const tasks = work(10);
    h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    let out: SchedulerInstruction[] = [];
    for (const k of ['work-10', 'work-9', 'work-8', 'work-7']) out = h.step({ type: 'task-finished', workerId: 'w2', key: k, nbytes: 1, durationMs: 100 });
    expect(asked(out, 'w1')).toEqual([]);
    out = h.step({ type: 'task-finished', workerId: 'w2', key: 'work-6', nbytes: 1, durationMs: 100 });
    // w1: 5 × 100 ms, w2 empty: the newest two are asked for; nothing moves yet.
    expect(asked(out, 'w1')).toEqual(['work-5', 'work-4']);
    expect(computes(out, 'w2')).toEqual([]);
    expect(h.on('work-5')).toBe('w1');
    // Asked again before the answer? No: a pending request is not repeated, and w2 counts as busy with them.
    expect(asked(h.step({ type: 'tick' }), 'w1')).toEqual([]);
    out = h.step({ type: 'steal-response', workerId: 'w1', keys: ['work-5', 'work-4'], states: ['released', 'executing'] });
    expect(computes(out, 'w2')).toEqual(['work-5']);
    expect(h.on('work-5')).toBe('w2');
    expect(h.on('work-4')).toBe('w1');
    // work-4 has started on w1: it is not asked for again while it runs there.
    expect(asked(h.step({ type: 'tick' }), 'w1')).not.toContain('work-4');
    // A second answer for the same task (or one from a worker it is not on) changes nothing.
    expect(h.step({ type: 'steal-response', workerId: 'w1', keys: ['work-5'], states: ['released'] })).toEqual([]);
    expect(h.on('work-5')).toBe('w2');
  });

  it('forgets a request when the task finishes on the victim first, and frees a late duplicate result', () => {
    skewed(1000, 100);
    const tasks = work(10);
    h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    for (const k of ['work-10', 'work-9', 'work-8', 'work-7', 'work-6']) h.step({ type: 'task-finished', workerId: 'w2', key: k, nbytes: 1, durationMs: 100 });
    expect(h.s.tasks.get('work-5')!.stealTo?.id).toBe('w2');
    h.step({ type: 'task-finished', workerId: 'w1', key: 'work-5', nbytes: 1, durationMs: 100 });
    expect(h.s.tasks.get('work-5')!.stealTo).toBeNull();
    expect(h.step({ type: 'steal-response', workerId: 'w1', keys: ['work-5'], states: ['memory'] })).toEqual([]);
    expect(h.s.tasks.get('work-5')!.whoHas!.map((w) => w.id)).toEqual(['w1']);
    // A result from a worker the task is not on (e.g. an old run) is freed there.
    const late = h.step({ type: 'task-finished', workerId: 'w2', key: 'work-1', nbytes: 1, durationMs: 100 });
    expect(freed(late, 'w2')).toEqual(['work-1']);
    expect(h.on('work-1')).toBe('w1');
  });

  it('never moves tasks shorter than MIN_STEAL_MS', () => {
    /* Fast tasks: moving costs more than it saves, and the scan is skipped in O(1). */
    skewed(1000, MIN_STEAL_MS / 2);
    const tasks = work(200);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(out, 'w2')).toEqual([]);
    expect(planSteals(h.s)).toEqual([]);
  });

  it('leaves tasks where their input is when moving it costs more than it saves', () => {
    /* 2 GB of input at 1 GB/s is 2 s of transfer for 100 ms tasks. */
    skewed(2_000_000_000, 100);
    const tasks = work(10);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(out, 'w2')).toEqual([]);
    expect(freed(out, 'w1')).toEqual([]);
  });

  it('does nothing when work stealing is off', () => {
    skewed(1000, 100, { workStealing: false });
    const tasks = work(10);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(out, 'w1')).toHaveLength(10);
    expect(computes(out, 'w2')).toEqual([]);
  });

  it('keeps a worker with two threads busy on both: the oldest two tasks of a victim are never taken', () => {
    /* A victim's first nthreads tasks are probably running; only the queue behind them moves. */
    h = new Harness();
    h.step(worker('w1', 2), { type: 'update-graph', clientId: 'c', tasks: [task('data'), task('work-0')], wants: ['data', 'work-0'] });
    h.step({ type: 'task-finished', workerId: 'w1', key: 'data', nbytes: 10 });
    h.step({ type: 'task-finished', workerId: 'w1', key: 'work-0', nbytes: 1, durationMs: 100 });
    h.step(worker('w2', 2));
    const tasks = work(3);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    // w1 runs work-1 and work-2 on its two threads; work-3 would wait 100 ms: w2 takes it.
    expect(computes(out, 'w2')).toEqual(['work-3']);
    expect(tasks.map((t) => h.on(t.key))).toEqual(['w1', 'w1', 'w2']);
  });

  it('does not steal from a paused worker onto itself or onto a paused thief', () => {
    skewed(1000, 100);
    h.step({ type: 'worker-status', workerId: 'w2', status: 'paused' });
    const tasks = work(10);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(out, 'w2')).toEqual([]);
    // Unpaused, it asks for its share at once; w1 had not started them and gives them up.
    const resumed = h.step({ type: 'worker-status', workerId: 'w2', status: 'running' });
    const keys = asked(resumed, 'w1');
    expect(keys).toHaveLength(5);
    const moved = h.step({ type: 'steal-response', workerId: 'w1', keys, states: keys.map(() => 'released') });
    expect(computes(moved, 'w2')).toEqual(keys);
  });
  it('re-counts queued tasks at their prefix\'s new run time, so a backlog placed at a stale estimate is still stolen', () => {
    /* A warm-up measured `work` at 1 ms, so 20 tasks that take 100 ms each were all placed on
       w1 (the data holder) counted at 1 ms: w1 looked nearly empty and nothing moved (the skew
       bench: 2.0 x ideal). The first 100 ms result re-counts w1's backlog at 100 ms each, and
       the newest tasks are asked for at once. */
    skewed(1000, 1);
    const tasks = work(20);
    const placed = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(computes(placed, 'w2')).toEqual([]);
    expect(h.s.workers.get('w1')!.occupancy).toBe(20);
    const out = h.step({ type: 'task-finished', workerId: 'w1', key: 'work-1', nbytes: 1, durationMs: 100 });
    expect(h.s.workers.get('w1')!.occupancy).toBe(1900);
    const keys = asked(out, 'w1');
    expect(keys.length).toBeGreaterThanOrEqual(8);
    expect(keys[0]).toBe('work-20');
    const moved = h.step({ type: 'steal-response', workerId: 'w1', keys, states: keys.map(() => 'released') });
    expect(computes(moved, 'w2')).toEqual(keys);
    expect(h.s.workers.get('w2')!.occupancy).toBe(100 * keys.length);
  });

  it('does not rescan for the jitter of short tasks: estimates under REESTIMATE_FLOOR_MS are left as placed', () => {
    skewed(1000, 0.02);
    const tasks = work(10);
    h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    // 0.02 ms then 0.5 ms (×25, but both under the floor): w1's tasks keep their placed estimate.
    h.step({ type: 'task-finished', workerId: 'w1', key: 'work-1', nbytes: 1, durationMs: 0.5 });
    const w1 = h.s.workers.get('w1')!;
    expect([...w1.processing].map((t) => t.est)).toEqual(Array.from({ length: w1.processing.size }, () => 0.02));
    expect(REESTIMATE_FLOOR_MS).toBeGreaterThan(0.5);
  });
});
