import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import { SHUFFLE_TRANSITIONS, shufflesOf } from '../../../scheduler/state/shuffle.ts';
import type { SchedulerEvent, SchedulerInstruction, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';
import { SHUFFLE_INCOMPLETE } from '../../../shared/shuffle/types.ts';

type Ev = SchedulerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

/** Feeds events with numbered stimulus ids; checks every invariant (tasks and shuffles) after every step. */
class Harness {
  readonly s = new SchedulerState({ workStealing: false } as never);
  private n = 0;
  step(...events: Ev[]): SchedulerInstruction[] {
    const out = this.s.handle(events.map((e) => ({ ...e, stimulusId: `s${++this.n}` }) as SchedulerEvent), 1_000 + this.n);
    expect(validateSchedulerState(this.s)).toEqual([]);
    return out;
  }
  state(key: string): string {
    return this.s.tasks.get(key)?.state ?? 'forgotten';
  }
  get shuffle() {
    return shufflesOf(this.s).shuffles.get('sh');
  }
}

const worker = (id: string): Ev => ({ type: 'add-worker', workerId: id, name: id, nthreads: 4, resources: {} });
const done = (workerId: string, key: string): Ev => ({ type: 'task-finished', workerId, key, nbytes: 10 });
const computes = (out: SchedulerInstruction[]) => out.filter((o): o is Extract<SchedulerInstruction, { type: 'compute' }> => o.type === 'compute');

/** Inputs in0..in{n-1}, a shuffle of them into m outputs: transfers t0.., barrier b, unpacks u0.. (wanted). */
function shuffleGraph(n: number, m: number): TaskSpec[] {
  const tasks: TaskSpec[] = [];
  for (let i = 0; i < n; i++) tasks.push({ key: `in${i}`, run: 'in', deps: [] });
  for (let i = 0; i < n; i++) tasks.push({ key: `t${i}`, run: 't', deps: [`in${i}`], shuffle: { id: 'sh', role: 'transfer', i, n: m } });
  tasks.push({ key: 'b', run: 'b', deps: Array.from({ length: n }, (_, i) => `t${i}`), shuffle: { id: 'sh', role: 'barrier', i: 0, n } });
  for (let j = 0; j < m; j++) tasks.push({ key: `u${j}`, run: 'u', deps: ['b'], shuffle: { id: 'sh', role: 'unpack', i: j, n } });
  return tasks;
}
const wants = (m: number) => Array.from({ length: m }, (_, j) => `u${j}`);

/** Run every compute the step produced to completion, returning the next step's output. */
function finishAll(h: Harness, out: SchedulerInstruction[]): SchedulerInstruction[] {
  const cs = computes(out);
  return cs.length === 0 ? [] : h.step(...cs.map((c) => done(c.workerId, c.key)));
}

let h: Harness;
afterEach(() => expect(validateSchedulerState(h.s)).toEqual([]));

describe('Class: ShuffleBook (the shuffle barrier in the scheduler machine)', () => {
  it('walks waiting → transferring → barrier → unpacking → done, tells transfers their receivers and pins outputs to them', () => {
    /* Two workers, 3 inputs shuffled into 4 outputs. The first transfer fixes the run's
       participants (sorted worker ids); outputs land on participants[j % 2]; once all are
       in memory the workers are told to forget the run. */
    h = new Harness();
    h.step(worker('w2'), worker('w1'));
    let out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(3, 4), wants: wants(4) });
    out = finishAll(h, out); // inputs → transfers start
    const transfers = computes(out);
    expect(transfers.map((c) => c.key).sort()).toEqual(['t0', 't1', 't2']);
    for (const t of transfers) expect(t.shuffle).toEqual({ id: 'sh', role: 'transfer', i: Number(t.key.slice(1)), n: 4, run: 1, workers: ['w1', 'w2'] });
    expect(h.shuffle?.state).toBe('transferring');
    out = finishAll(h, out); // transfers → barrier
    expect(computes(out).map((c) => c.key)).toEqual(['b']);
    expect(h.shuffle?.state).toBe('barrier');
    out = finishAll(h, out); // barrier → unpacks, pinned
    expect(h.shuffle?.state).toBe('unpacking');
    const unpacks = computes(out);
    expect(unpacks.map((c) => `${c.key}@${c.workerId}`).sort()).toEqual(['u0@w1', 'u1@w2', 'u2@w1', 'u3@w2']);
    for (const u of unpacks) expect(u.shuffle).toMatchObject({ role: 'unpack', run: 1, n: 3 });
    out = finishAll(h, out);
    expect(h.shuffle?.state).toBe('done');
    expect(out.filter((o) => o.type === 'shuffle-forget').map((o) => (o as { workerId: string }).workerId).sort()).toEqual(['w1', 'w2']);
    expect(shufflesOf(h.s).story('sh').map((e) => `${e.from}>${e.to}`)).toEqual(['waiting>transferring', 'transferring>barrier', 'barrier>unpacking', 'unpacking>done']);
    for (const e of shufflesOf(h.s).story('sh')) expect(e.stimulusId).toMatch(/^s\d+$/);
  });

  it('restarts the whole shuffle with a new run when a participant dies mid-transfer, and tells the clients why', () => {
    /* w2 dies after t0 finished and while t1 runs. Every transfer runs again in run 2 with
       the survivors as participants; the old run is forgotten on w1; the client gets a
       shuffle-progress report naming the worker. Never a partial result. */
    h = new Harness();
    h.step(worker('w1'), worker('w2'));
    let out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(2, 2), wants: wants(2) });
    out = finishAll(h, out);
    const t0 = computes(out).find((c) => c.key === 't0');
    h.step(done(t0?.workerId as string, 't0'));
    out = h.step({ type: 'remove-worker', workerId: 'w2', reason: 'killed' });
    expect(h.shuffle?.state).toBe('transferring');
    expect(h.shuffle?.run).toBe(2);
    expect(h.shuffle?.participants).toEqual(['w1']);
    const progress = out.filter((o) => o.type === 'report' && o.msg.op === 'shuffle-progress');
    expect(progress).toHaveLength(1);
    expect(JSON.stringify(progress[0])).toContain('worker w2 left during the shuffle');
    expect(out.some((o) => o.type === 'shuffle-forget' && o.workerId === 'w1' && o.run === 1)).toBe(true);
    // Inputs held by w2 are recomputed; eventually all transfers run again on w1 in run 2.
    const seen = new Set<string>();
    for (let i = 0; i < 10 && h.shuffle?.state !== 'done'; i++) {
      for (const c of computes(out)) {
        if (c.shuffle?.role === 'transfer') {
          expect(c.shuffle.run).toBe(2);
          seen.add(c.key);
        }
      }
      out = finishAll(h, out);
    }
    expect([...seen].sort()).toEqual(['t0', 't1']);
    expect(h.shuffle?.state).toBe('done');
    expect(h.state('u0')).toBe('memory');
    expect(h.state('u1')).toBe('memory');
  });

  it('restarts instead of erring when an output finds shards missing, and gives up after maxRestarts with a clear error', () => {
    h = new Harness();
    h.step(worker('w1'));
    let out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(1, 1), wants: ['u0'] });
    for (let round = 0; round <= shufflesOf(h.s).maxRestarts; round++) {
      for (let i = 0; i < 5 && !computes(out).some((c) => c.key === 'u0'); i++) out = finishAll(h, out);
      expect(computes(out).map((c) => c.key)).toEqual(['u0']);
      out = h.step({ type: 'task-erred', workerId: 'w1', key: 'u0', error: { name: SHUFFLE_INCOMPLETE, message: 'shards from 0 of 1 inputs' } });
    }
    expect(h.state('u0')).toBe('erred');
    expect(h.shuffle?.state).toBe('failed');
    const erred = out.find((o) => o.type === 'report' && o.msg.op === 'task-erred');
    expect(erred).toMatchObject({ msg: { error: { name: 'ShuffleFailedError' } } });
    expect(JSON.stringify(erred)).toContain('restarted 5 times');
  });

  it('does not restart for a worker that was not a participant; its transfers simply run again', () => {
    h = new Harness();
    h.step(worker('w1'));
    const out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(2, 2), wants: wants(2) });
    finishAll(h, out); // transfers sent with participants [w1]
    h.step(worker('w3')); // joins later: not a participant of run 1
    h.step({ type: 'remove-worker', workerId: 'w3', reason: 'gone' });
    expect(h.shuffle?.run).toBe(1);
    expect(h.shuffle?.state).toBe('transferring');
  });

  it('forgets the shuffle and its run on the workers when the client releases the outputs midway', () => {
    h = new Harness();
    h.step(worker('w1'));
    let out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(2, 2), wants: wants(2) });
    out = finishAll(h, out);
    out = h.step({ type: 'client-releases', clientId: 'c', keys: wants(2) });
    expect(shufflesOf(h.s).shuffles.size).toBe(0);
    expect(out.some((o) => o.type === 'shuffle-forget' && o.run === 1)).toBe(true);
  });

  it('gives the same shuffle computed again after it was forgotten a run the workers have not forgotten', () => {
    /* The same graph (same keys, same shuffle id) computed, released, computed again: the second
       computation's transfers must carry a run above the one the workers were told to forget, or
       every receiver refuses their shards (found by bench/recc/df-profile.ts --reps 2). */
    h = new Harness();
    h.step(worker('w1'), worker('w2'));
    let out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(2, 2), wants: wants(2) });
    const forgotten: number[] = [];
    for (let i = 0; i < 6 && h.shuffle?.state !== 'done'; i++) {
      out = finishAll(h, out);
      for (const o of out) if (o.type === 'shuffle-forget') forgotten.push(o.run);
    }
    expect(h.shuffle?.state).toBe('done');
    out = h.step({ type: 'client-releases', clientId: 'c', keys: wants(2) });
    expect(shufflesOf(h.s).shuffles.size).toBe(0);
    out = h.step({ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(2, 2), wants: wants(2) });
    const runs = new Set<number>();
    for (let i = 0; i < 6 && !(h.state('u0') === 'memory' && h.state('u1') === 'memory'); i++) {
      for (const c of computes(out)) if (c.shuffle?.role === 'transfer') runs.add(c.shuffle.run);
      out = finishAll(h, out);
    }
    expect(forgotten.length).toBeGreaterThan(0);
    expect([...runs]).toHaveLength(1);
    expect([...runs][0]).toBeGreaterThan(Math.max(...forgotten));
    expect(h.state('u0')).toBe('memory');
    expect(h.state('u1')).toBe('memory');
  });

  it('numbers runs from firstShuffleRun (the shell passes its start time, above what workers of a previous scheduler remember)', () => {
    h = new Harness();
    const s = new SchedulerState({ workStealing: false, firstShuffleRun: 1_765_000_000_000 });
    s.handle([{ type: 'add-worker', workerId: 'w1', name: 'w1', nthreads: 1, resources: {}, stimulusId: 'a' }], 1);
    let out = s.handle([{ type: 'update-graph', clientId: 'c', tasks: shuffleGraph(1, 1), wants: ['u0'], stimulusId: 'b' }], 2);
    out = s.handle(computes(out).map((c, i) => ({ type: 'task-finished' as const, workerId: c.workerId, key: c.key, nbytes: 1, stimulusId: `f${i}` })), 3);
    expect(computes(out).find((c) => c.key === 't0')?.shuffle?.run).toBe(1_765_000_000_001);
  });

  it('has a table with every restart edge and no edge out of failed', () => {
    h = new Harness();
    expect(SHUFFLE_TRANSITIONS).toEqual(expect.arrayContaining(['transferring>waiting', 'barrier>waiting', 'unpacking>waiting', 'done>transferring']));
    expect(SHUFFLE_TRANSITIONS.filter((t) => t.startsWith('failed>'))).toEqual([]);
  });
});
