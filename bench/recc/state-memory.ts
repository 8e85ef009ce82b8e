/**
 * Diagnostic for bench/FINDINGS.md: heap bytes per task held by the pure
 * scheduler state machine alone (no sockets, no msgpack), for the same
 * two-stage graph as the graph_1m measure. Compare with the scheduler
 * process's RSS per task to see how much the transport and decoding add.
 *
 *   node --expose-gc --import tsx bench/recc/state-memory.ts [TASKS]
 */
import { SchedulerState } from '../../scheduler/state/machine.ts';
import type { SchedulerEvent, TaskSpec } from '../../scheduler/state/types.ts';

const n = Number(process.argv[2] ?? 1_000_000);
const half = Math.floor(n / 2);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

const state = new SchedulerState({});
let sid = 0;
const ev = <T extends SchedulerEvent['type']>(e: Omit<Extract<SchedulerEvent, { type: T }>, 'stimulusId'> & { type: T }): SchedulerEvent =>
  ({ ...e, stimulusId: `s-${++sid}` }) as SchedulerEvent;

state.handle(
  [
    ev({ type: 'add-worker', workerId: 'w0', name: 'w0', nthreads: 1, resources: {} }),
    ev({ type: 'add-worker', workerId: 'w1', name: 'w1', nthreads: 1, resources: {} }),
    ev({ type: 'add-client', clientId: 'c' }),
  ],
  0,
);

// What the scheduler shell builds from an update-graph message: the decoded
// wire tuple [key, f, args, deps, resources, retries] is the task's run spec.
const args = new Uint8Array(8);
function tasks(prefix: string, depPrefix: string | null): TaskSpec[] {
  const out: TaskSpec[] = new Array(half);
  for (let i = 0; i < half; i++) {
    const key = `${prefix}-${i.toString(16).padStart(24, '0')}`;
    const deps = depPrefix ? [`${depPrefix}-${i.toString(16).padStart(24, '0')}`] : [];
    out[i] = { key, run: [key, 'i-0123456789abcdef', args.subarray(0, 8), deps, null, 0], deps };
  }
  return out;
}

const before = heap();
const rss0 = process.memoryUsage().rss;
const first = tasks('noop', null);
const second = tasks('inc', 'noop');
const specs = heap() - before;
const out = state.handle(
  [
    ev({ type: 'update-graph', clientId: 'c', tasks: first, wants: first.map((t) => t.key) }),
    ev({ type: 'update-graph', clientId: 'c', tasks: second, wants: second.map((t) => t.key) }),
  ],
  1,
);
const instructions = out.length;
out.length = 0;
first.length = 0;
second.length = 0;
const held = heap() - before;
const rss = process.memoryUsage().rss - rss0;
process.stdout.write(
  `${JSON.stringify({
    tasks: 2 * half,
    stateHeapBytesPerTask: Math.round(held / (2 * half)),
    specHeapBytesPerTask: Math.round(specs / (2 * half)),
    rssGrowthBytesPerTask: Math.round(rss / (2 * half)),
    instructions,
    tasksInState: state.tasks.size,
  })}\n`,
);
