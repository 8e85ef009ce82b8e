import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import { MIN_STEAL_MS, planSteals } from '../../../scheduler/state/stealing.ts';
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
  it('moves the newest half of a backlog on the data holder to an idle worker', () => {
    /* Ten 100 ms tasks all need data on w1, so all go there; w2 idles. Stealing moves
       the five newest to w2 (it fetches 1 KB), leaving w1 the five oldest. */
    skewed(1000, 100);
    const tasks = work(10);
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    expect(freed(out, 'w1')).toEqual(['work-10', 'work-9', 'work-8', 'work-7', 'work-6']);
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

  it('steals again when the thief runs dry, and drops the late result of a stolen task that had started', () => {
    /* w2 finishes its share early (its tasks were shorter): it takes w1's newest remaining task.
       If w1 had started it after all, w1's result arrives late and is freed; the thief's counts. */
    skewed(1000, 100);
    const tasks = work(10);
    h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
    let out: SchedulerInstruction[] = [];
    for (const k of ['work-10', 'work-9', 'work-8', 'work-7']) out = h.step({ type: 'task-finished', workerId: 'w2', key: k, nbytes: 1, durationMs: 100 });
    expect(computes(out, 'w2')).toEqual([]);
    out = h.step({ type: 'task-finished', workerId: 'w2', key: 'work-6', nbytes: 1, durationMs: 100 });
    // w1: 5 × 100 ms, w2 empty: the newest two go over.
    expect(freed(out, 'w1')).toEqual(['work-5', 'work-4']);
    expect(computes(out, 'w2')).toEqual(['work-5', 'work-4']);
    const late = h.step({ type: 'task-finished', workerId: 'w1', key: 'work-5', nbytes: 1, durationMs: 100 });
    expect(late).toContainEqual({ type: 'free-keys', workerId: 'w1', keys: ['work-5'], stimulusId: 's12' });
    expect(h.s.tasks.get('work-5')!.state).toBe('processing');
    h.step({ type: 'task-finished', workerId: 'w2', key: 'work-5', nbytes: 1, durationMs: 100 });
    expect(h.s.tasks.get('work-5')!.whoHas!.map((w) => w.id)).toEqual(['w2']);
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
    // Unpaused, it takes its share at once.
    const resumed = h.step({ type: 'worker-status', workerId: 'w2', status: 'running' });
    expect(computes(resumed, 'w2')).toHaveLength(5);
  });
});
