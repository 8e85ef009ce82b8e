/**
 * The scheduler's pure state machine alone, on the no-op map path: a client
 * submits N independent tasks in chunks, two workers finish what they are
 * given in batches (fresh key strings each time, as decoding makes them), the
 * client releases them. CPU µs per task and the young/old collections of this
 * process, without sockets or other processes, so a change to the machine can
 * be judged on a shared, loaded machine (variants alternate per repetition).
 *
 *   tsx bench/micro-scheduler.ts [--tasks 20000] [--reps 8] [--log 100000,0]
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { SchedulerState } from '../scheduler/state/machine.ts';
import type { SchedulerEvent, SchedulerInstruction } from '../scheduler/state/types.ts';

const argv = process.argv.slice(2);
const flag = (name: string, dflt: string): string => {
  const i = argv.indexOf(name);
  return i >= 0 ? (argv[i + 1] as string) : dflt;
};
const N = Number(flag('--tasks', '20000'));
const REPS = Number(flag('--reps', '8'));
const LOGS = flag('--log', '100000').split(',').map(Number);
const CHUNK = 1000;
const BATCH = 64;

let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

function run(logSize: number, rounds: number): { usPerTask: number; gcUsPerTask: number } {
  const s = new SchedulerState({ transitionLogSize: logSize });
  let now = 0;
  let stim = 0;
  const h = (evs: SchedulerEvent[]): SchedulerInstruction[] => s.handle(evs, (now += 1));
  h([
    { type: 'add-worker', workerId: 'w0', name: 'w0', nthreads: 1, resources: {}, stimulusId: `s${++stim}` },
    { type: 'add-worker', workerId: 'w1', name: 'w1', nthreads: 1, resources: {}, stimulusId: `s${++stim}` },
    { type: 'add-client', clientId: 'c', stimulusId: `s${++stim}` },
  ]);
  const run0 = { fn: 'f', args: new Uint8Array(2) };
  const t0 = process.cpuUsage();
  const g0 = gcMs;
  for (let r = 0; r < rounds; r++) {
    const pending: Record<string, string[]> = { w0: [], w1: [] };
    const take = (out: SchedulerInstruction[]): void => {
      for (const ins of out) if (ins.type === 'compute') pending[ins.workerId]!.push(ins.key);
    };
    for (let c = 0; c < N; c += CHUNK) {
      const tasks = [];
      const wants = [];
      for (let i = c; i < Math.min(N, c + CHUNK); i++) {
        const key = `noop-${r}x${i.toString(16).padStart(8, '0')}`;
        tasks.push({ key, run: run0, deps: [] as string[] });
        wants.push(key);
      }
      take(h([{ type: 'update-graph', clientId: 'c', tasks, wants, stimulusId: `update-graph-${++stim}` }]));
    }
    let done = 0;
    while (done < N) {
      const evs: SchedulerEvent[] = [];
      for (const w of ['w0', 'w1']) {
        const list = pending[w]!;
        const batch = list.splice(0, BATCH);
        if (batch.length === 0) continue;
        // Fresh strings, as the decoder gives them.
        const keys = batch.map((k) => `${k.slice(0, 5)}${k.slice(5)}`);
        evs.push({ type: 'tasks-finished', workerId: w, keys, nbytes: keys.map(() => 2), durationsMs: keys.map(() => 0.01), stimulusId: `finished-${++stim}` });
        done += batch.length;
      }
      if (evs.length === 0) throw new Error(`stuck at ${done} of ${N}`);
      take(h(evs));
    }
    const keys: string[] = [];
    for (let i = 0; i < N; i++) keys.push(`noop-${r}x${i.toString(16).padStart(8, '0')}`);
    h([{ type: 'client-releases', clientId: 'c', keys, stimulusId: `release-${++stim}` }]);
  }
  const d = process.cpuUsage(t0);
  return { usPerTask: (d.user + d.system) / (rounds * N), gcUsPerTask: ((gcMs - g0) * 1000) / (rounds * N) };
}

// Warm up every variant.
for (const l of LOGS) run(l, 2);
const res = new Map<number, number[]>(LOGS.map((l) => [l, []]));
const gcs = new Map<number, number[]>(LOGS.map((l) => [l, []]));
for (let rep = 0; rep < REPS; rep++) {
  const order = rep % 2 === 0 ? LOGS : [...LOGS].reverse();
  for (const l of order) {
    const r = run(l, 3);
    res.get(l)!.push(r.usPerTask);
    gcs.get(l)!.push(r.gcUsPerTask);
  }
}
const med = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
for (const l of LOGS) {
  process.stdout.write(`log ${l}: ${med(res.get(l)!).toFixed(2)} µs/task (gc ${med(gcs.get(l)!).toFixed(2)}), samples ${res.get(l)!.map((x) => x.toFixed(1)).join(' ')}\n`);
}
