import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import type { SchedulerInstruction, TaskSpec } from '../../../scheduler/state/types.ts';
import { Sim } from './sim.ts';

/**
 * Work stealing across both state machines (scheduler/state/stealing.ts and
 * worker/state/machine.ts), wired by explicit message queues (sim.ts), so
 * the race a steal loses against a task starting is one fixed order of
 * steps. The scheduler's view of a worker is always one message behind: a
 * worker that finished a task starts the next before the scheduler hears of
 * it. A steal must therefore be confirmed by the victim (as in Dask:
 * steal-request, then steal-response naming the task's state there), or the
 * task runs on both workers.
 */

const task = (key: string, deps: string[] = []): TaskSpec => ({ key, run: `run:${key}`, deps });
const computes = (out: SchedulerInstruction[], workerId: string) => out.filter((o) => o.type === 'compute' && o.workerId === workerId).map((o) => (o as { key: string }).key);

let sim: Sim;
afterEach(() => {
  expect(sim.problems).toEqual([]);
});

/** w1 holds `data`; tasks of prefix `work` are known to take 100 ms; w2 joins, idle. */
function skewed(options: { w1MaxExecuting?: number } = {}): Sim {
  // Dependents of `data` go to its holder only (placement alone would spread dependents of so small an
  // input by load, scheduler/state/placement.ts): the backlog the handshake moves is on w1.
  sim = new Sim({ tinyInputBytes: 0 });
  sim.addWorker('w1', 1, options.w1MaxExecuting ?? 1);
  sim.submit([task('data'), task('work-0', ['data'])]);
  sim.toWorker('w1');
  sim.finish('w1', 'data');
  sim.toScheduler('w1');
  sim.toWorker('w1');
  sim.finish('w1', 'work-0');
  sim.toScheduler('w1');
  sim.addWorker('w2');
  return sim;
}

describe('Feature: a stolen task runs once (steal-request / steal-response)', () => {
  it('does not move a task the victim started after the scheduler last heard from it', () => {
    /* w1 gets work-1..3 (all need its data); w2 takes work-3 in the same step. w1 finishes
       work-1 and starts work-2 at once; its report of work-1 is still on the way. w2 finishes
       work-3 and idles: the scheduler believes work-1 still runs on w1 and wants work-2 for w2.
       w1 answers that work-2 is executing: it stays there, and runs once. */
    skewed();
    const out = sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    expect(computes(out, 'w1')).toEqual(['work-1', 'work-2']);
    expect(computes(out, 'w2')).toEqual(['work-3']);
    sim.toWorker('w1');
    sim.toWorker('w2');
    sim.finish('w1', 'work-1');
    expect([...sim.worker('w1').running]).toEqual(['work-2']);
    sim.finish('w2', 'work-3');
    const steal = sim.toScheduler('w2');
    expect(steal).toContainEqual(expect.objectContaining({ type: 'steal-request', workerId: 'w1', keys: ['work-2'] }));
    expect(computes(steal, 'w2')).toEqual([]);
    sim.toWorker('w1');
    expect(sim.worker('w1').outbox).toContainEqual({ op: 'steal-response', key: 'work-2', state: 'executing' });
    sim.settle();
    for (const k of ['work-1', 'work-2', 'work-3']) expect(sim.started(k), k).toBe(1);
    expect(sim.runs.get('work-2')).toEqual(['w1']);
    expect(sim.s.tasks.get('work-2')!.whoHas!.map((w) => w.id)).toEqual(['w1']);
  });

  it('moves a task that waits in the victim\'s ready queue: the victim drops it before answering', () => {
    skewed();
    sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    sim.toWorker('w1');
    sim.toWorker('w2');
    sim.finish('w2', 'work-3');
    sim.toScheduler('w2');
    // w1 still runs work-1; work-2 is ready behind it.
    sim.toWorker('w1');
    expect(sim.worker('w1').outbox).toEqual([{ op: 'steal-response', key: 'work-2', state: 'released' }]);
    expect(sim.worker('w1').state.tasks.has('work-2')).toBe(false);
    const moved = sim.toScheduler('w1');
    expect(computes(moved, 'w2')).toEqual(['work-2']);
    expect(sim.s.story('work-2').map((e) => `${e.from}>${e.to}`).slice(-2)).toEqual(['processing>queued', 'queued>processing']);
    sim.settle();
    expect(sim.runs.get('work-2')).toEqual(['w2']);
    expect(sim.started('work-1')).toBe(1);
  });

  it('moves a task handed to the victim\'s thread pool that no thread has started', () => {
    /* maxExecuting 2 on one thread: work-2 sits in the pool's queue (the machine calls it
       executing). The shell takes it off the queue, so the machine may give it up. */
    skewed({ w1MaxExecuting: 2 });
    sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    sim.toWorker('w1');
    expect(sim.worker('w1').queued).toEqual(['work-2']);
    sim.toWorker('w2');
    sim.finish('w2', 'work-3');
    sim.toScheduler('w2');
    sim.toWorker('w1');
    expect(sim.worker('w1').queued).toEqual([]);
    expect(sim.worker('w1').outbox).toEqual([{ op: 'steal-response', key: 'work-2', state: 'released' }]);
    sim.settle();
    expect(sim.runs.get('work-2')).toEqual(['w2']);
  });

  it('keeps the victim\'s result when it finished the task before the request arrived', () => {
    skewed();
    sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    sim.toWorker('w1');
    sim.toWorker('w2');
    sim.finish('w2', 'work-3');
    sim.toScheduler('w2'); // steal-request for work-2 on its way to w1
    sim.finish('w1', 'work-1');
    sim.finish('w1', 'work-2');
    sim.toWorker('w1');
    expect(sim.worker('w1').outbox.at(-1)).toEqual({ op: 'steal-response', key: 'work-2', state: 'memory' });
    const out = sim.toScheduler('w1');
    expect(computes(out, 'w2')).toEqual([]);
    expect(sim.s.tasks.get('work-2')!.whoHas!.map((w) => w.id)).toEqual(['w1']);
    sim.settle();
    expect(sim.runs.get('work-2')).toEqual(['w1']);
  });

  it('puts the task back in line when the thief left before the victim answered', () => {
    skewed();
    sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    sim.toWorker('w1');
    sim.toWorker('w2');
    sim.finish('w2', 'work-3');
    sim.toScheduler('w2');
    sim.removeWorker('w2');
    sim.toWorker('w1'); // drops work-2 (ready): released
    const out = sim.toScheduler('w1');
    // The only worker left is the victim: it gets the task back and runs it once.
    expect(computes(out, 'w1')).toEqual(['work-2']);
    sim.settle();
    expect(sim.runs.get('work-2')).toEqual(['w1']);
    expect(sim.s.tasks.get('work-2')!.state).toBe('memory');
  });

  it('reschedules a task whose victim left while the request was out, and ignores the dead victim\'s answer', () => {
    skewed();
    sim.addWorker('w3');
    sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data']), task('work-4', ['data'])]);
    sim.toWorker('w1');
    sim.toWorker('w2');
    sim.toWorker('w3');
    const requested = sim.workers.get('w1')!.inbox.length;
    sim.finish('w2', sim.worker('w2').running.values().next().value as string);
    sim.toScheduler('w2');
    expect(sim.worker('w1').inbox.length).toBeGreaterThan(requested);
    // w1 dies with its data and the request unanswered: its tasks and data are computed again elsewhere.
    sim.removeWorker('w1');
    sim.settle();
    for (const k of ['work-1', 'work-2', 'work-3', 'work-4']) expect(sim.s.tasks.get(k)!.state, k).toBe('memory');
  });

  it('sends nothing to the victim for a task moved in the step that placed it', () => {
    skewed();
    const out = sim.submit([task('work-1', ['data']), task('work-2', ['data']), task('work-3', ['data'])]);
    const toVictim = out.filter((o) => 'workerId' in o && o.workerId === 'w1');
    expect(toVictim.map((o) => `${o.type}:${o.type === 'compute' ? o.key : ''}`)).toEqual(['compute:work-1', 'compute:work-2']);
    expect(computes(out, 'w2')).toEqual(['work-3']);
  });

  it('runs every task exactly once, whatever order the messages and task ends come in', () => {
    /* Random interleavings of: a worker receiving its messages, the scheduler receiving a
       worker's, a running task finishing; more work arriving; then everything settles. */
    const action = fc.oneof(
      fc.record({ k: fc.constant('toWorker' as const), w: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant('toScheduler' as const), w: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant('finish' as const), w: fc.integer({ min: 0, max: 2 }) }),
      fc.record({ k: fc.constant('submit' as const), n: fc.integer({ min: 1, max: 4 }) }),
    );
    fc.assert(
      fc.property(
        fc.array(action, { maxLength: 60 }),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 0, max: 2 }),
        (actions, nthreads, extra) => {
          sim = new Sim();
          sim.addWorker('w0', nthreads, nthreads + extra);
          sim.submit([task('data'), task('work-0', ['data'])]);
          sim.settle();
          sim.addWorker('w1', nthreads, nthreads + extra);
          sim.addWorker('w2', 1, 1 + extra);
          let next = 1;
          const keys: string[] = [];
          const add = (n: number) => {
            const tasks = Array.from({ length: n }, () => task(`work-${next++}`, ['data']));
            keys.push(...tasks.map((t) => t.key));
            sim.submit(tasks);
          };
          add(6);
          for (const a of actions) {
            if (a.k === 'submit') {
              add(a.n);
              continue;
            }
            const w = sim.worker(`w${a.w}`);
            if (a.k === 'toWorker') sim.toWorker(w.id);
            else if (a.k === 'toScheduler') sim.toScheduler(w.id);
            else if (w.running.size > 0) sim.finish(w.id, w.running.values().next().value as string);
          }
          sim.settle();
          expect(sim.problems).toEqual([]);
          for (const k of keys) {
            expect(sim.s.tasks.get(k)?.state, k).toBe('memory');
            expect(sim.runs.get(k), k).toHaveLength(1);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
