import { describe, expect, it } from 'vitest';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import type { SchedulerEvent, TaskSpec } from '../../../scheduler/state/types.ts';
import { acquireGc } from '../../../worker/gc.ts';

/**
 * The scheduler holds every task of a graph until it is released: its bytes
 * per task bound how large a graph one scheduler can take (the 1 M-task
 * graph of the bench). Measured as in bench/recc/state-memory.ts, on the same
 * two-stage graph: half the tasks depend on one task of the other half, every
 * task wanted by the client.
 */
describe('scheduler state memory', () => {
  it('holds a two-stage graph in under 900 heap bytes per task (dependency and client lists sized to their contents)', () => {
    const gc = acquireGc();
    if (!gc) throw new Error('this runtime exposes no gc function');
    const heap = () => {
      gc();
      gc();
      return process.memoryUsage().heapUsed;
    };
    const half = 40_000;
    let sid = 0;
    const ev = (e: Record<string, unknown>): SchedulerEvent => ({ ...e, stimulusId: `s-${++sid}` }) as unknown as SchedulerEvent;
    const state = new SchedulerState({});
    state.handle([ev({ type: 'add-worker', workerId: 'w0', name: 'w0', nthreads: 1, resources: {} }), ev({ type: 'add-client', clientId: 'c' })], 0);
    const args = new Uint8Array(8);
    const tasks = (prefix: string, depPrefix: string | null): TaskSpec[] =>
      Array.from({ length: half }, (_, i) => {
        const key = `${prefix}-${i.toString(16).padStart(24, '0')}`;
        const deps = depPrefix ? [`${depPrefix}-${i.toString(16).padStart(24, '0')}`] : [];
        return { key, run: { key, fn: 'f-0123456789abcdef', args, deps }, deps };
      });

    const before = heap();
    let first: TaskSpec[] | null = tasks('noop', null);
    let second: TaskSpec[] | null = tasks('inc', 'noop');
    state.handle([ev({ type: 'update-graph', clientId: 'c', tasks: first, wants: first.map((t) => t.key) }), ev({ type: 'update-graph', clientId: 'c', tasks: second, wants: second.map((t) => t.key) })], 1);
    first = second = null;
    const perTask = (heap() - before) / (2 * half);

    expect(state.tasks.size).toBe(2 * half);
    expect([...state.tasks.values()].filter((t) => t.deps.length === 1)).toHaveLength(half);
    expect(perTask).toBeLessThan(900);
  });
});
