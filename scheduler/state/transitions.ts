import { own } from '../../shared/core/own.ts';
import type { SchedulerState } from './machine.ts';
import { claimHeld, heldToMemory } from './reconnect.ts';
import { EMPTY_TASKS, EMPTY_WORKERS, type TaskRecord, type WorkerRecord } from './records.ts';
import { shufflesOf } from './shuffle.ts';
import type { DepLocation, SchedulerInstruction, TaskErrorInfo, TaskStateName } from './types.ts';

export { shufflesOf };

/**
 * The scheduler's transition table: every allowed (from, to) pair and what it
 * does. `SchedulerState.transition` is the only caller and the only place a
 * task's state changes; it records each change in the transition log.
 */

/** A target state; `ready` resolves to queued or no-worker (see `SchedulerState.readyState`). */
export type Target = TaskStateName | 'ready';
export type Arg = { worker?: WorkerRecord; nbytes?: number; durationMs?: number; error?: TaskErrorInfo; notifyWorker?: boolean; viaReleased?: boolean; /** Further holders of a re-registered result (reconnect.ts). */ replicas?: WorkerRecord[] };
type TransitionFn = (s: SchedulerState, t: TaskRecord, arg: Arg) => void;

const NO_DEPS: DepLocation[] = [];

const toReleased = (s: SchedulerState, t: TaskRecord, needed: boolean, arg: Arg) => {
  t.state = 'released';
  if (arg.viaReleased) return; // the caller moves on to the next state at once
  if (needed) s.rec(t, 'waiting');
  else {
    s.releaseUnneededDeps(t);
    if (s.canForget(t)) s.rec(t, 'forgotten');
  }
};

const toErred = (s: SchedulerState, t: TaskRecord, arg: Arg) => {
  const error = arg.error ?? t.error ?? { name: 'Error', message: `task ${t.key} failed` };
  t.state = 'erred';
  t.error = error;
  if (t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'task-erred', key: t.key, error });
  s.errDependents(t, error);
  s.releaseUnneededDeps(t);
  if (s.canForget(t)) s.rec(t, 'forgotten');
};

const toNoWorker = (s: SchedulerState, t: TaskRecord) => {
  t.state = 'no-worker';
  s.noWorker.add(t);
  t.noWorkerSince = s.clock;
};

/** Send a queued task to `arg.worker`: count it in the worker's occupancy and resources, and tell the shell. */
const toProcessing = (s: SchedulerState, t: TaskRecord, arg: Arg) => {
  const w = arg.worker as WorkerRecord;
  s.dequeue(t);
  t.state = 'processing';
  t.processingOn = w;
  t.placedStep = s.step;
  w.processing.add(t);
  t.est = s.estimate(t);
  w.occupancy += t.est;
  if (t.resources) for (const [r, n] of Object.entries(t.resources)) w.used[r] = (own(w.used, r) ?? 0) + n;
  s.updateIdle(w);
  const deps = t.deps.length === 0 ? NO_DEPS : t.deps.map((d) => ({ key: d.key, nbytes: d.nbytes, who: (d.whoHas ?? EMPTY_WORKERS).map((x) => x.id) }));
  const compute: Extract<SchedulerInstruction, { type: 'compute' }> = { type: 'compute', workerId: w.id, key: t.key, run: t.run, deps, priority: t.prio, stimulusId: s.stimulus };
  // A shuffle's transfers learn their run and receivers; its outputs their run (shuffle.ts).
  if (t.shuffle) compute.shuffle = shufflesOf(s).onProcessing(t, t.shuffle);
  s.emit(compute);
};

const TABLE = new Map<string, TransitionFn>([
  [
    'released>waiting',
    (s, t) => {
      // A result a returning worker re-registered is taken instead of computing it (reconnect.ts).
      if (claimHeld(s, t)) return;
      t.state = 'waiting';
      t.waitingOn = 0;
      for (const d of t.deps) {
        if (d.state === 'memory') continue;
        if (d.state === 'erred') {
          s.rec(t, 'erred', { error: { ...(d.error as TaskErrorInfo), blame: d.error?.blame ?? d.key } });
          return;
        }
        t.waitingOn++;
        if (d.state === 'released') s.rec(d, 'waiting');
      }
      if (t.waitingOn === 0) s.rec(t, 'ready');
    },
  ],
  ['waiting>queued', (s, t) => ((t.state = 'queued'), s.enqueue(t))],
  ['no-worker>queued', (s, t) => (s.noWorker.delete(t), (t.state = 'queued'), s.enqueue(t))],
  ['waiting>no-worker', (s, t) => toNoWorker(s, t)],
  ['queued>no-worker', (s, t) => (s.dequeue(t), toNoWorker(s, t))],
  ['queued>processing', toProcessing],
  // Work stealing (stealing.ts): its worker gave it up (or never got it): the thief gets it next.
  ['processing>queued', (s, t) => {
    s.stopProcessing(t);
    t.state = 'queued';
    s.enqueue(t);
  }],
  // A result re-registered by a returning worker while the task was still to be computed (reconnect.ts).
  ['waiting>memory', heldToMemory],
  ['queued>memory', heldToMemory],
  ['no-worker>memory', heldToMemory],
  [
    'processing>memory',
    (s, t, arg) => {
      const w = arg.worker as WorkerRecord;
      if (arg.durationMs !== undefined) s.observeDuration(t.prefix, arg.durationMs);
      s.stopProcessing(t);
      t.state = 'memory';
      t.nbytes = arg.nbytes ?? 0;
      t.whoHas = [w];
      w.has.add(t);
      if (t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'key-in-memory', key: t.key, nbytes: t.nbytes });
      if (t.shuffle) shufflesOf(s).onMemory(t, t.shuffle);
      if (t.dependents) {
        for (const d of t.dependents) {
          if (d.state === 'waiting' && --d.waitingOn === 0) s.rec(d, 'ready');
        }
      }
      s.releaseUnneededDeps(t);
      if (!s.isNeeded(t)) s.rec(t, 'released');
    },
  ],
  [
    'memory>released',
    (s, t, arg) => {
      const needed = s.isNeeded(t);
      if (t.whoHas) {
        for (const w of t.whoHas) {
          w.has.delete(t);
          if (!w.removed && arg.notifyWorker !== false) s.emit({ type: 'free-keys', workerId: w.id, keys: [t.key], stimulusId: s.stimulus });
        }
      }
      t.whoHas = null;
      if (needed && t.wantedBy) for (const c of t.wantedBy) s.report(c, { op: 'lost-data', key: t.key });
      if (t.dependents) {
        // Data lost while dependents still need it: they wait for it again.
        for (const d of t.dependents) {
          if (d.state === 'waiting') d.waitingOn++;
          else if (d.state === 'queued' || d.state === 'no-worker' || d.state === 'processing') s.rec(d, 'waiting');
        }
      }
      toReleased(s, t, needed, arg);
    },
  ],
  [
    'processing>released',
    (s, t, arg) => {
      const w = s.stopProcessing(t);
      if (w && !w.removed && arg.notifyWorker !== false) s.emit({ type: 'free-keys', workerId: w.id, keys: [t.key], stimulusId: s.stimulus });
      toReleased(s, t, s.isNeeded(t), arg);
    },
  ],
  ['waiting>released', (s, t, arg) => toReleased(s, t, s.isNeeded(t), arg)],
  ['queued>released', (s, t, arg) => (s.dequeue(t), toReleased(s, t, s.isNeeded(t), arg))],
  ['no-worker>released', (s, t, arg) => (s.noWorker.delete(t), toReleased(s, t, s.isNeeded(t), arg))],
  [
    'erred>released',
    (s, t) => {
      t.state = 'released';
      t.error = null;
      if (s.canForget(t)) s.rec(t, 'forgotten');
    },
  ],
  ['processing>erred', (s, t, arg) => (s.stopProcessing(t), toErred(s, t, arg))],
  ['waiting>erred', (s, t, arg) => toErred(s, t, arg)],
  ['queued>erred', (s, t, arg) => (s.dequeue(t), toErred(s, t, arg))],
  ['no-worker>erred', (s, t, arg) => (s.noWorker.delete(t), toErred(s, t, arg))],
  ['released>erred', (s, t, arg) => toErred(s, t, arg)],
  ['released>forgotten', (s, t) => forget(s, t)],
  ['erred>forgotten', (s, t) => forget(s, t)],
]);

function forget(s: SchedulerState, t: TaskRecord): void {
  t.state = 'forgotten';
  s.tasks.delete(t.key);
  if (t.shuffle) shufflesOf(s).onForget(t, t.shuffle);
  for (const d of t.deps) {
    if (!d.dependents) continue;
    d.dependents.delete(t);
    if (d.dependents.size === 0) d.dependents = null;
    if ((d.state === 'released' || d.state === 'erred') && s.canForget(d)) s.rec(d, 'forgotten');
    else if (d.state === 'memory' && !s.isNeeded(d)) s.rec(d, 'released');
  }
  t.deps = EMPTY_TASKS;
  t.run = undefined;
}

/** The same table keyed by state, then target (no string building per transition). */
export const BY_STATE: Partial<Record<TaskStateName, Partial<Record<TaskStateName, TransitionFn>>>> = {};
for (const [pair, fn] of TABLE) {
  const [from, to] = pair.split('>') as [TaskStateName, TaskStateName];
  (BY_STATE[from] ??= {})[to] = fn;
}

/** The allowed transitions as `from>to`, for documentation and tests. */
export const TRANSITIONS: readonly string[] = [...TABLE.keys()];
