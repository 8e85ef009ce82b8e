import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import type { SchedulerEvent, SchedulerInstruction, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';

type Ev = SchedulerEvent extends infer E ? (E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never) : never;

/** Feeds events with numbered stimulus ids; checks invariants after every step. */
class Harness {
  readonly s: SchedulerState;
  now = 1_000;
  private n = 0;
  constructor(options: ConstructorParameters<typeof SchedulerState>[0] = {}) {
    this.s = new SchedulerState(options);
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
}

const task = (key: string, deps: string[] = [], extra: Partial<TaskSpec> = {}): TaskSpec => ({ key, run: `run:${key}`, deps, ...extra });
const worker = (workerId: string, nthreads = 1, resources: Record<string, number> = {}): Ev => ({ type: 'add-worker', workerId, name: workerId, nthreads, resources });
const compute = (workerId: string, key: string, stimulusId: string, deps: Array<{ key: string; nbytes: number; who: string[] }> = [], priority = 0) => ({
  type: 'compute' as const,
  workerId,
  key,
  run: `run:${key}`,
  deps,
  priority,
  stimulusId,
});

let h: Harness;
afterEach(() => {
  // Every test leaves a consistent state.
  expect(validateSchedulerState(h.s)).toEqual([]);
});

describe('Class: SchedulerState', () => {
  describe('Method: handle (update-graph)', () => {
    it('queues root tasks on the scheduler and hands them out as slots free up', () => {
      /* Two single-slot workers, three root tasks: two go out at once, the third waits
         on the scheduler until a worker reports a result. */
      h = new Harness();
      h.step(worker('w1'), worker('w2'), { type: 'add-client', clientId: 'c' });
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b'), task('c')], wants: ['a', 'b', 'c'] });
      expect(out).toEqual([compute('w1', 'a', 's4', [], 0), compute('w2', 'b', 's4', [], 1)]);
      expect(h.state('c')).toBe('queued');

      const next = h.step({ type: 'task-finished', workerId: 'w2', key: 'b', nbytes: 8 });
      expect(next).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'key-in-memory', key: 'b', nbytes: 8 }, stimulusId: 's5' },
        compute('w2', 'c', 's5', [], 2),
      ]);
    });

    it('pipelines short tasks deeply and hands out long ones about one per thread, by measured run time', () => {
      /* After one 0.125 ms run of "fast", a worker takes many more; after a 100 ms run of "slow", one per thread. */
      h = new Harness({ pipelineMs: 20 });
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('fast-0')], wants: ['fast-0'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'fast-0', nbytes: 1, durationMs: 0.125 });
      const fast = Array.from({ length: 300 }, (_, i) => task(`fast-${i + 1}`));
      const outFast = h.step({ type: 'update-graph', clientId: 'c', tasks: fast, wants: fast.map((t) => t.key) });
      expect(outFast.filter((o) => o.type === 'compute')).toHaveLength(160); // 160 × 0.125 ms = the 20 ms pipeline
      h.step(worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('slow-0')], wants: ['slow-0'] });
      h.step({ type: 'task-finished', workerId: h.s.tasks.get('slow-0')!.processingOn!.id, key: 'slow-0', nbytes: 1, durationMs: 100 });
      const slow = Array.from({ length: 5 }, (_, i) => task(`slow-${i + 1}`));
      const outSlow = h.step({ type: 'update-graph', clientId: 'c', tasks: slow, wants: slow.map((t) => t.key) });
      // w1 is full of fast work (20 ms of it); w2 takes one slow task and the rest wait on the scheduler.
      expect(outSlow.filter((o) => o.type === 'compute').map((o) => (o as { workerId: string }).workerId)).toEqual(['w2']);
      expect(slow.slice(1).map((t) => h.state(t.key))).toEqual(['queued', 'queued', 'queued', 'queued']);
    });

    it('sends a ready dependent to the worker holding its input at once, even when that worker is busy', () => {
      /* Only root tasks wait on the scheduler; a dependent goes where its data is. */
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('load'), task('other')], wants: ['load', 'other'] });
      h.step(worker('w2'));
      expect(h.s.tasks.get('other')!.processingOn!.id).toBe('w2');
      h.step({ type: 'task-finished', workerId: 'w1', key: 'load', nbytes: 1000 });
      h.step({ type: 'update-graph', clientId: 'c', tasks: [task('root2'), task('use', ['load'])], wants: ['root2', 'use'] });
      // "use" goes to w1, which holds "load"; w1 is then busy, so the root task waits.
      expect(h.s.tasks.get('use')!.processingOn!.id).toBe('w1');
      expect(h.state('root2')).toBe('queued');
      h.step({ type: 'task-finished', workerId: 'w1', key: 'use', nbytes: 1 });
      expect(h.step({ type: 'task-finished', workerId: 'w2', key: 'other', nbytes: 1 }).filter((o) => o.type === 'compute')).toEqual([]);
      expect(h.s.tasks.get('root2')!.processingOn!.id).toBe('w1');
    });

    it('gives queued work to a worker that joins mid-job at once', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b')], wants: ['a', 'b'] });
      expect(h.state('b')).toBe('queued');
      expect(h.step(worker('w2'))).toEqual([compute('w2', 'b', 's3', [], 1)]);
    });

    it('places a task on the worker holding most of its dependency bytes', () => {
      h = new Harness();
      h.step(worker('w1'), worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('small'), task('big'), task('join', ['small', 'big'])], wants: ['join'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'small', nbytes: 10 });
      const out = h.step({ type: 'task-finished', workerId: 'w2', key: 'big', nbytes: 1_000_000 });
      expect(out).toEqual([
        compute('w2', 'join', 's5', [
          { key: 'small', nbytes: 10, who: ['w1'] },
          { key: 'big', nbytes: 1_000_000, who: ['w2'] },
        ], 2),
      ]);
    });

    it('releases dependency data once every dependent is done, and forgets released keys', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('x'), task('y', ['x'])], wants: ['y'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'x', nbytes: 1 });
      const out = h.step({ type: 'task-finished', workerId: 'w1', key: 'y', nbytes: 1 });
      expect(out).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'key-in-memory', key: 'y', nbytes: 1 }, stimulusId: 's4' },
        { type: 'free-keys', workerId: 'w1', keys: ['x'], stimulusId: 's4' },
      ]);
      expect(h.state('x')).toBe('released');
      expect(h.step({ type: 'client-releases', clientId: 'c', keys: ['y'] })).toEqual([{ type: 'free-keys', workerId: 'w1', keys: ['y'], stimulusId: 's5' }]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('reports a key already in memory to a second client at once', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c1', tasks: [task('a')], wants: ['a'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'a', nbytes: 3 });
      expect(h.step({ type: 'update-graph', clientId: 'c2', tasks: [task('a')], wants: ['a'] })).toEqual([
        { type: 'report', clientId: 'c2', msg: { op: 'key-in-memory', key: 'a', nbytes: 3 }, stimulusId: 's4' },
      ]);
    });

    it('errs a task that depends on an unknown key', () => {
      h = new Harness();
      const out = h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('t', ['gone'])], wants: ['t'] });
      expect(out).toEqual([
        {
          type: 'report',
          clientId: 'c',
          msg: { op: 'task-erred', key: 't', error: { name: 'MissingDependencyError', message: 'task t depends on gone, which the scheduler does not know (was its future released?)' } },
          stimulusId: 's2',
        },
      ]);
    });

    it('interleaves two clients fairly instead of serving the first one to the end', () => {
      h = new Harness();
      h.step({ type: 'update-graph', clientId: 'a', tasks: [task('a1'), task('a2'), task('a3')], wants: ['a1', 'a2', 'a3'] });
      h.step({ type: 'update-graph', clientId: 'b', tasks: [task('b1'), task('b2')], wants: ['b1', 'b2'] });
      const order: string[] = [];
      let out = h.step(worker('w1'));
      for (let i = 0; i < 5; i++) {
        const c = out.find((o) => o.type === 'compute') as { key: string } | undefined;
        if (!c) break;
        order.push(c.key);
        out = h.step({ type: 'task-finished', workerId: 'w1', key: c.key, nbytes: 1 });
      }
      expect(order).toEqual(['a1', 'b1', 'a2', 'b2', 'a3']);
    });
  });

  describe('Method: handle (placement of dependents, placement.ts pickForDeps)', () => {
    const fanOut = (n: number) => Array.from({ length: n }, (_, i) => task(`use-${i}`, ['seed']));
    const counts = (out: SchedulerInstruction[]) => {
      const by: Record<string, number> = {};
      for (const o of out) if (o.type === 'compute') by[o.workerId] = (by[o.workerId] ?? 0) + 1;
      return by;
    };

    it('spreads dependents of a tiny input over both workers by load instead of piling them onto its holder', () => {
      /* 60 tasks on one 64-byte result held by w1, two single-thread workers, stealing off (placement
         alone): before, all 60 went to w1 (the 44 vs 16 of issue 15 was stealing catching up). Now each goes
         where it would start first: w1 has the input, w2 is as empty, so they alternate. */
      h = new Harness({ workStealing: false });
      h.step(worker('w1'), worker('w2'), { type: 'add-client', clientId: 'c' }, { type: 'update-graph', clientId: 'c', tasks: [task('seed')], wants: ['seed'] });
      const holder = h.s.tasks.get('seed')!.processingOn!.id;
      h.step({ type: 'task-finished', workerId: holder, key: 'seed', nbytes: 64, durationMs: 1 });
      const tasks = fanOut(60);
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
      expect(counts(out)).toEqual({ w1: 30, w2: 30 });
      // The first (and every tie) stays with the holder: its input is there.
      expect(h.s.tasks.get('use-0')!.processingOn!.id).toBe(holder);
      // The others learn where the input is.
      const away = out.find((o) => o.type === 'compute' && o.workerId !== holder) as { deps: unknown };
      expect(away.deps).toEqual([{ key: 'seed', nbytes: 64, who: [holder] }]);
    });

    it('weighs load against transfer: a busier holder loses a tiny input, a large input stays with its holder', () => {
      h = new Harness({ workStealing: false });
      h.step(worker('w1'), { type: 'add-client', clientId: 'c' }, { type: 'update-graph', clientId: 'c', tasks: [task('seed'), task('big')], wants: ['seed', 'big'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'seed', nbytes: 64, durationMs: 1 });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'big', nbytes: 50_000_000, durationMs: 1 });
      // w1 is busy with a long root task; w2 joins empty.
      h.step({ type: 'update-graph', clientId: 'c', tasks: [task('long')], wants: ['long'] });
      h.step(worker('w2'));
      expect(h.s.tasks.get('long')!.processingOn!.id).toBe('w1');
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('small-dep', ['seed']), task('big-dep', ['big'])], wants: ['small-dep', 'big-dep'] });
      // 64 B move in ~2 ms (a fetch); w1's thread is taken for ~500 ms (an unknown task): w2.
      expect(h.s.tasks.get('small-dep')!.processingOn!.id).toBe('w2');
      // 50 MB is above tinyInputBytes: only holders are candidates, so it queues behind `long` on w1.
      expect(h.s.tasks.get('big-dep')!.processingOn!.id).toBe('w1');
      expect(counts(out)).toEqual({ w1: 1, w2: 1 });
    });

    it('keeps dependents on the holder while a thread there is free (no fetch for nothing)', () => {
      h = new Harness({ workStealing: false });
      h.step(worker('w1', 4), worker('w2', 4), { type: 'add-client', clientId: 'c' }, { type: 'update-graph', clientId: 'c', tasks: [task('seed')], wants: ['seed'] });
      const holder = h.s.tasks.get('seed')!.processingOn!.id;
      h.step({ type: 'task-finished', workerId: holder, key: 'seed', nbytes: 64, durationMs: 1 });
      const tasks = fanOut(4);
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks, wants: tasks.map((t) => t.key) });
      expect(counts(out)).toEqual({ [holder]: 4 });
    });
  });

  describe('Method: handle (tasks-finished batch)', () => {
    it('does exactly what one task-finished per key does, including late results and dependents', () => {
      /* Two identical schedulers: one gets a worker's results as separate task-finished
         events, the other as one tasks-finished batch. Same instructions (stimulus ids
         aside) and the same task states. */
      const setup = (x: Harness) => {
        x.step(worker('w1', 4), worker('w2', 1), { type: 'add-client', clientId: 'c' });
        x.step({
          type: 'update-graph',
          clientId: 'c',
          tasks: [task('a'), task('b'), task('c'), task('d', ['a', 'b']), task('e', ['c'])],
          wants: ['d', 'e', 'c'],
        });
      };
      const single = new Harness();
      h = new Harness();
      setup(single);
      setup(h);
      const onW1 = [...single.s.workers.get('w1')!.processing].map((t) => t.key).sort();
      expect(onW1.length).toBeGreaterThan(1);
      // A key w1 is not processing (late or duplicate) rides along and must be dropped.
      const keys = [...onW1, 'not-mine'];
      const bytes = keys.map((_, i) => 10 + i);
      const durations = keys.map((_, i) => (i === 0 ? -1 : 0.5 + i));

      const a = single.step(
        ...keys.map((key, i): Ev => ({ type: 'task-finished', workerId: 'w1', key, nbytes: bytes[i]!, ...(durations[i]! >= 0 ? { durationMs: durations[i] } : {}) })),
      );
      const b = h.step({ type: 'tasks-finished', workerId: 'w1', keys, nbytes: bytes, durationsMs: durations });

      const strip = (out: SchedulerInstruction[]) => out.map((o) => ({ ...o, stimulusId: '' }));
      expect(strip(b)).toEqual(strip(a));
      expect(b.some((o) => o.type === 'free-keys' && o.keys.includes('not-mine'))).toBe(true);
      for (const k of ['a', 'b', 'c', 'd', 'e']) expect(h.state(k)).toBe(single.state(k));
      expect([...h.s.durations]).toEqual([...single.s.durations]);
      expect(validateSchedulerState(single.s)).toEqual([]);
    });
  });

  describe('Method: handle (resources)', () => {
    it('keeps a GPU task in no-worker until a GPU worker joins, then runs it there', () => {
      h = new Harness();
      h.step(worker('cpu'), { type: 'update-graph', clientId: 'c', tasks: [task('g', [], { resources: { GPU: 1 } })], wants: ['g'] });
      expect(h.state('g')).toBe('no-worker');
      expect(h.step(worker('gpu', 1, { GPU: 1 }))).toEqual([compute('gpu', 'g', 's3', [], 0)]);
    });

    it('runs at most as many resource-bound tasks at once as the worker offers', () => {
      h = new Harness({ unknownTaskMs: 1 });
      h.step(worker('gpu', 1, { GPU: 1 }));
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('g1', [], { resources: { GPU: 1 } }), task('g2', [], { resources: { GPU: 1 } })], wants: ['g1', 'g2'] });
      expect(out.map((o) => (o as { key: string }).key)).toEqual(['g1']);
      expect(h.state('g2')).toBe('queued');
      expect(h.step({ type: 'task-finished', workerId: 'gpu', key: 'g1', nbytes: 1 }).filter((o) => o.type === 'compute')).toEqual([compute('gpu', 'g2', 's3', [], 1)]);
    });

    it('errs a no-worker task after the timeout, naming what workers offer', () => {
      h = new Harness({ noWorkerTimeoutMs: 5_000 });
      h.step(worker('cpu', 1, { MEM: 2 }), { type: 'update-graph', clientId: 'c', tasks: [task('g', [], { resources: { GPU: 2 } })], wants: ['g'] });
      h.now += 4_000;
      expect(h.step({ type: 'tick' })).toEqual([]);
      h.now += 1_000;
      expect(h.step({ type: 'tick' })).toEqual([
        {
          type: 'report',
          clientId: 'c',
          msg: { op: 'task-erred', key: 'g', error: { name: 'NoWorkerError', message: 'task g needs resources {"GPU":2} but no worker offering them joined within 5 s (workers: cpu: {"MEM":2})' } },
          stimulusId: 's4',
        },
      ]);
    });

    it('errs a task with an invalid resource request at once', () => {
      h = new Harness();
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('g', [], { resources: { GPU: -1 } })], wants: ['g'] });
      expect(out).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'task-erred', key: 'g', error: { name: 'InvalidResourcesError', message: 'task g: resource GPU must be a positive number, got -1' } }, stimulusId: 's1' },
      ]);
    });
  });

  describe('Method: handle (failures)', () => {
    it('reschedules processing tasks and recomputes lost results from lineage when a worker dies', () => {
      /* x ran on w1; y (needs x) was processing on w1 when w1 died. Both must run again on w2. */
      h = new Harness({ unknownTaskMs: 10 });
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('x'), task('y', ['x'])], wants: ['y'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'x', nbytes: 5 });
      expect(h.state('y')).toBe('processing');
      h.step(worker('w2'));
      const out = h.step({ type: 'remove-worker', workerId: 'w1', reason: 'gone' });
      expect(out).toEqual([compute('w2', 'x', 's5', [], 0)]);
      expect(h.state('y')).toBe('waiting');
      const next = h.step({ type: 'task-finished', workerId: 'w2', key: 'x', nbytes: 5 });
      expect(next).toEqual([compute('w2', 'y', 's6', [{ key: 'x', nbytes: 5, who: ['w2'] }], 1)]);
    });

    it('tells the client a wanted result was lost and recomputes it', () => {
      h = new Harness();
      h.step(worker('w1'), worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'a', nbytes: 1 });
      expect(h.step({ type: 'remove-worker', workerId: 'w1', reason: 'gone' })).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'lost-data', key: 'a' }, stimulusId: 's5' },
        compute('w2', 'a', 's5', [], 0),
      ]);
    });

    it('errs with KilledWorkerError after the task was processing on 3 workers that died', () => {
      h = new Harness();
      h.step({ type: 'update-graph', clientId: 'c', tasks: [task('bomb')], wants: ['bomb'] });
      for (const w of ['w1', 'w2']) {
        h.step(worker(w));
        h.step({ type: 'remove-worker', workerId: w, reason: 'crashed' });
      }
      h.step(worker('w3'));
      const out = h.step({ type: 'remove-worker', workerId: 'w3', reason: 'crashed' });
      expect(out).toEqual([
        {
          type: 'report',
          clientId: 'c',
          msg: { op: 'task-erred', key: 'bomb', error: { name: 'KilledWorkerError', message: 'task bomb was processing on 3 workers that died (w1, w2, w3; the last was w3); it may be crashing them' } },
          stimulusId: 's7',
        },
      ]);
    });

    it('with workerSaturation 1.1, gives a single-thread worker a second long task to wait behind the first', () => {
      h = new Harness({ workerSaturation: 1.1 });
      h.step(worker('w1'), worker('w2'), { type: 'add-client', clientId: 'c' });
      const out = h.step({ type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b'), task('c'), task('d'), task('e')], wants: ['a', 'b', 'c', 'd', 'e'] });
      // Unknown run times count as 500 ms: without saturation one per worker; with it, ceil(1 × 1.1) = 2 each.
      const sent = out.filter((o) => o.type === 'compute').map((o) => (o as { workerId: string }).workerId);
      expect(sent.sort()).toEqual(['w1', 'w1', 'w2', 'w2']);
      expect(h.state('e')).toBe('queued');
      // A finished task frees its slot: the next goes out at once.
      const next = h.step({ type: 'task-finished', workerId: 'w1', key: 'a', nbytes: 8, durationMs: 50 });
      expect(next.filter((o) => o.type === 'compute').map((o) => (o as { key: string }).key)).toEqual(['e']);
    });

    it('does not count a dead worker against a task it reported waiting for a thread, but does once that task started', () => {
      h = new Harness({ allowedFailures: 1, workerSaturation: 2 });
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('hog'), task('innocent')], wants: ['hog', 'innocent'] });
      expect([h.s.tasks.get('hog')!.processingOn?.id, h.s.tasks.get('innocent')!.processingOn?.id]).toEqual(['w1', 'w1']);
      // The worker queued `innocent` behind `hog`; a report about a task it does not hold changes nothing.
      h.step({ type: 'task-queue', workerId: 'w1', queued: ['innocent', 'not-there'], started: [] });
      expect(h.s.tasks.get('innocent')!.queuedOnWorker).toBe(true);
      const out = h.step({ type: 'remove-worker', workerId: 'w1', reason: 'out of memory' });
      // allowedFailures 1: the hog errs at once; the innocent task waits on the scheduler for another worker.
      expect(out).toContainEqual(expect.objectContaining({ type: 'report', msg: expect.objectContaining({ op: 'task-erred', key: 'hog' }) }));
      expect(h.state('hog')).toBe('erred');
      expect(h.state('innocent')).toBe('queued');
      expect(h.s.tasks.get('innocent')!.suspicious).toBe(0);

      // On the next worker it waits, then starts: now the worker's death counts against it.
      h.step(worker('w2'));
      expect(h.s.tasks.get('innocent')!.processingOn?.id).toBe('w2');
      h.step({ type: 'task-queue', workerId: 'w2', queued: ['innocent'], started: [] });
      h.step({ type: 'task-queue', workerId: 'w2', queued: [], started: ['innocent'] });
      expect(h.s.tasks.get('innocent')!.queuedOnWorker).toBe(false);
      h.step({ type: 'remove-worker', workerId: 'w2', reason: 'out of memory' });
      expect(h.state('innocent')).toBe('erred');
    });

    it('forgets a waiting report once the task leaves its worker (stolen, released)', () => {
      h = new Harness({ workerSaturation: 2 });
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b')], wants: ['a', 'b'] });
      h.step({ type: 'task-queue', workerId: 'w1', queued: ['b'], started: [] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'b', nbytes: 8 });
      expect(h.s.tasks.get('b')!.queuedOnWorker).toBe(false);
      // A late report about a task no longer processing there is ignored.
      h.step({ type: 'task-queue', workerId: 'w1', queued: ['b'], started: [] });
      expect(h.s.tasks.get('b')!.queuedOnWorker).toBe(false);
    });

    it('reports a task error and errs its dependents, blaming the failed task', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a'), task('b', ['a'])], wants: ['a', 'b'] });
      const error = { name: 'RangeError', message: 'boom', stack: 'RangeError: boom\n    at f' };
      expect(h.step({ type: 'task-erred', workerId: 'w1', key: 'a', error })).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'task-erred', key: 'a', error }, stimulusId: 's3' },
        { type: 'report', clientId: 'c', msg: { op: 'task-erred', key: 'b', error: { ...error, blame: 'a' } }, stimulusId: 's3' },
      ]);
    });

    it('retries a failed task while it has retries left', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('f', [], { retries: 1 })], wants: ['f'] });
      const error = { name: 'Error', message: 'flaky' };
      expect(h.step({ type: 'task-erred', workerId: 'w1', key: 'f', error })).toEqual([compute('w1', 'f', 's3', [], 0)]);
      expect(h.step({ type: 'task-erred', workerId: 'w1', key: 'f', error })).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'task-erred', key: 'f', error }, stimulusId: 's4' },
      ]);
    });

    it('reschedules a task whose dependency a peer no longer has, recomputing it if nobody has it', () => {
      h = new Harness();
      h.step(worker('w1'), worker('w2'), { type: 'update-graph', clientId: 'c', tasks: [task('x'), task('y'), task('z', ['x', 'y'])], wants: ['z'] });
      h.step({ type: 'task-finished', workerId: 'w1', key: 'x', nbytes: 100 });
      h.step({ type: 'task-finished', workerId: 'w2', key: 'y', nbytes: 1 });
      expect(h.s.tasks.get('z')?.processingOn?.id).toBe('w1');
      const out = h.step({ type: 'missing-data', workerId: 'w1', key: 'z', dep: 'y', from: 'w2' });
      expect(out).toEqual([{ type: 'free-keys', workerId: 'w1', keys: ['z'], stimulusId: 's6' }, compute('w2', 'y', 's6', [], 1)]);
      expect(h.state('z')).toBe('waiting');
    });

    it('drops a late result from a worker the task no longer runs on', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
      h.step({ type: 'cancel', clientId: 'c', keys: ['a'] });
      expect(h.step({ type: 'task-finished', workerId: 'w1', key: 'a', nbytes: 1 })).toEqual([{ type: 'free-keys', workerId: 'w1', keys: ['a'], stimulusId: 's4' }]);
    });

    it('cancels: reports to the client, stops the task on its worker and forgets it', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] });
      expect(h.step({ type: 'cancel', clientId: 'c', keys: ['a'] })).toEqual([
        { type: 'report', clientId: 'c', msg: { op: 'cancelled', key: 'a' }, stimulusId: 's3' },
        { type: 'free-keys', workerId: 'w1', keys: ['a'], stimulusId: 's3' },
      ]);
      expect(h.s.tasks.size).toBe(0);
    });

    it('pauses and resumes handing out work with the worker status', () => {
      h = new Harness();
      h.step(worker('w1'), { type: 'worker-status', workerId: 'w1', status: 'paused' });
      expect(h.step({ type: 'update-graph', clientId: 'c', tasks: [task('a')], wants: ['a'] })).toEqual([]);
      expect(h.step({ type: 'worker-status', workerId: 'w1', status: 'running' })).toEqual([compute('w1', 'a', 's4', [], 0)]);
    });
  });

  describe('Invariants', () => {
    it('holds after any sequence of graph, completion, failure, release and worker events', () => {
      const op = fc.oneof(
        fc.record({ k: fc.constant('graph'), n: fc.integer({ min: 0, max: 9 }), dep: fc.integer({ min: -1, max: 9 }) }),
        fc.record({ k: fc.constant('finish'), n: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ k: fc.constant('err'), n: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ k: fc.constant('release'), n: fc.integer({ min: 0, max: 9 }) }),
        fc.record({ k: fc.constant('add'), n: fc.integer({ min: 0, max: 3 }) }),
        fc.record({ k: fc.constant('remove'), n: fc.integer({ min: 0, max: 3 }) }),
        fc.record({ k: fc.constant('missing'), n: fc.integer({ min: 0, max: 9 }) }),
      );
      fc.assert(
        fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
          h = new Harness({ unknownTaskMs: 10, allowedFailures: 2 });
          for (const o of ops) {
            const key = `t${o.n}`;
            if (o.k === 'graph') {
              const deps = o.dep >= 0 && o.dep !== o.n && h.s.tasks.has(`t${o.dep}`) ? [`t${o.dep}`] : [];
              h.step({ type: 'update-graph', clientId: `c${o.n % 2}`, tasks: [task(key, deps)], wants: [key] });
            } else if (o.k === 'finish' || o.k === 'err') {
              const t = h.s.tasks.get(key);
              if (t?.processingOn) {
                h.step(
                  o.k === 'finish'
                    ? { type: 'task-finished', workerId: t.processingOn.id, key, nbytes: o.n, durationMs: o.n * 3 }
                    : { type: 'task-erred', workerId: t.processingOn.id, key, error: { name: 'E', message: 'x' } },
                );
              }
            } else if (o.k === 'release') {
              h.step({ type: 'client-releases', clientId: `c${o.n % 2}`, keys: [key] });
            } else if (o.k === 'add') {
              h.step(worker(`w${o.n}`, 1 + (o.n % 2)));
            } else if (o.k === 'remove') {
              h.step({ type: 'remove-worker', workerId: `w${o.n}`, reason: 'test' });
            } else {
              const t = h.s.tasks.get(key);
              const dep = t?.deps[0];
              if (t?.processingOn && dep?.whoHas?.[0]) h.step({ type: 'missing-data', workerId: t.processingOn.id, key, dep: dep.key, from: dep.whoHas[0].id });
            }
          }
        }),
        { numRuns: 300 },
      );
    });
  });
});
