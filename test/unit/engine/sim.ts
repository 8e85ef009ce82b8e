import { ManualClock } from '../../../shared/core/clock.ts';
import { SchedulerState } from '../../../scheduler/state/machine.ts';
import type { SchedulerEvent, SchedulerInstruction, SchedulerOptions, TaskSpec } from '../../../scheduler/state/types.ts';
import { validateSchedulerState } from '../../../scheduler/state/validate.ts';
import { WorkerState } from '../../../worker/state/machine.ts';
import type { WorkerEvent, WorkerInstruction } from '../../../worker/state/types.ts';
import { validateWorkerState } from '../../../worker/state/validate.ts';

type Ev<E> = E extends { stimulusId: string } ? Omit<E, 'stimulusId'> : never;
export type SchedulerEv = Ev<SchedulerEvent>;
type WorkerEv = Ev<WorkerEvent>;

/** A message between the scheduler and one worker, as the shells would carry it (one FIFO per direction). */
type ToWorker = Extract<SchedulerInstruction, { workerId: string }>;
type ToScheduler = Extract<WorkerInstruction, { type: 'send' }>['msg'];

/**
 * One simulated worker: its pure machine, and a thread pool modelled as the
 * shell runs it (worker/pump.ts and worker/pool.ts): `execute` queues a task,
 * a free thread starts the oldest queued one, and a task taken off the queue
 * before it started (freed or stolen) never runs.
 */
export class SimWorker {
  readonly state: WorkerState;
  /** Tasks handed to the pool and not started yet, oldest first. */
  readonly queued: string[] = [];
  /** Tasks running on a thread. */
  readonly running = new Set<string>();
  readonly inbox: ToWorker[] = [];
  readonly outbox: ToScheduler[] = [];
  constructor(
    readonly id: string,
    readonly nthreads: number,
    readonly sim: Sim,
    maxExecuting: number,
  ) {
    this.state = new WorkerState({ nthreads, maxExecuting, clock: sim.clock });
  }
}

/**
 * The scheduler's and the workers' state machines wired together through
 * explicit message queues. Nothing moves unless the test says so
 * (`toWorker`, `toScheduler`, `finish`), so a race between a steal and a
 * task starting is one fixed order of steps, and `runs` counts every start
 * of every task on every worker.
 */
export class Sim {
  readonly clock = new ManualClock(1_000);
  readonly s: SchedulerState;
  readonly workers = new Map<string, SimWorker>();
  /** key → the workers that started it, in order. */
  readonly runs = new Map<string, string[]>();
  /** Invariant violations seen after any step (tests assert it stays empty). */
  readonly problems: string[] = [];
  private n = 0;

  constructor(options: Partial<SchedulerOptions> = {}) {
    this.s = new SchedulerState(options);
  }

  /** Feed the scheduler events (with fresh stimulus ids); its messages go to the workers' inboxes. */
  schedule(...events: SchedulerEv[]): SchedulerInstruction[] {
    const out = this.s.handle(
      events.map((e) => ({ ...e, stimulusId: `s${++this.n}` }) as SchedulerEvent),
      this.clock.now(),
    );
    this.problems.push(...validateSchedulerState(this.s));
    for (const ins of out) {
      if ('workerId' in ins) this.workers.get(ins.workerId)?.inbox.push(ins);
    }
    return out;
  }

  addWorker(id: string, nthreads = 1, maxExecuting = nthreads): SimWorker {
    const w = new SimWorker(id, nthreads, this, maxExecuting);
    this.workers.set(id, w);
    this.schedule({ type: 'add-worker', workerId: id, name: id, nthreads, resources: {} });
    return w;
  }

  removeWorker(id: string): void {
    this.workers.delete(id);
    this.schedule({ type: 'remove-worker', workerId: id, reason: 'test' });
  }

  submit(tasks: TaskSpec[], wants = tasks.map((t) => t.key)): SchedulerInstruction[] {
    return this.schedule({ type: 'update-graph', clientId: 'c', tasks, wants });
  }

  /** Deliver every message waiting for worker `id` (one machine step, as one received frame is). */
  toWorker(id: string): WorkerInstruction[] {
    const w = this.worker(id);
    const msgs = w.inbox.splice(0);
    const events: WorkerEv[] = [];
    for (const m of msgs) {
      switch (m.type) {
        case 'compute':
          events.push({ type: 'compute-task', key: m.key, run: m.run, priority: m.priority, deps: m.deps });
          break;
        case 'free-keys':
          events.push({ type: 'free-keys', keys: m.keys });
          // As worker/pump.ts: a freed task still in the pool's queue is taken off it and never runs.
          for (const key of m.keys) if (this.dequeue(w, key)) events.push({ type: 'execute-failure', key, error: { name: 'CancelledError', message: `${key} was released before it started` } });
          break;
        case 'acquire-replicas':
          events.push({ type: 'acquire-replicas', keys: m.keys });
          break;
        case 'steal-request':
          // As worker/pump.ts: only the shell knows whether the pool started the task.
          for (const key of m.keys) events.push({ type: 'steal-request', key, dequeued: this.dequeue(w, key) });
          break;
        default:
          break;
      }
    }
    return this.workerStep(w, events);
  }

  /** Deliver every message worker `id` sent to the scheduler (one scheduler step). */
  toScheduler(id: string): SchedulerInstruction[] {
    const w = this.worker(id);
    const msgs = w.outbox.splice(0);
    const events: SchedulerEv[] = [];
    for (const m of msgs) {
      switch (m.op) {
        case 'task-finished':
          events.push({ type: 'task-finished', workerId: id, key: m.key, nbytes: m.nbytes, durationMs: 100 });
          break;
        case 'task-erred':
          events.push({ type: 'task-erred', workerId: id, key: m.key, error: m.error });
          break;
        case 'missing-data':
          events.push({ type: 'missing-data', workerId: id, key: m.key, dep: m.dep, from: m.from });
          break;
        case 'steal-response':
          events.push({ type: 'steal-response', workerId: id, keys: [m.key], states: [m.state] });
          break;
      }
    }
    return events.length === 0 ? [] : this.schedule(...events);
  }

  /** The task running on `id` finishes (a thread frees up and takes the next queued task). */
  finish(id: string, key: string): WorkerInstruction[] {
    const w = this.worker(id);
    if (!w.running.delete(key)) throw new Error(`${key} is not running on ${id}`);
    const out = this.workerStep(w, [{ type: 'execute-success', key, nbytes: 8 }]);
    this.startThreads(w);
    return out;
  }

  /** Deliver everything and finish every task until nothing moves (each task's thread in start order). */
  settle(maxSteps = 10_000): void {
    for (let i = 0; i < maxSteps; i++) {
      let moved = false;
      for (const w of this.workers.values()) {
        if (w.inbox.length > 0) {
          this.toWorker(w.id);
          moved = true;
        }
        if (w.outbox.length > 0) {
          this.toScheduler(w.id);
          moved = true;
        }
      }
      if (moved) continue;
      const w = [...this.workers.values()].find((x) => x.running.size > 0);
      if (!w) return;
      this.finish(w.id, w.running.values().next().value as string);
    }
    throw new Error('the simulation did not settle');
  }

  /** How many times `key` started, on any worker. */
  started(key: string): number {
    return this.runs.get(key)?.length ?? 0;
  }

  worker(id: string): SimWorker {
    const w = this.workers.get(id);
    if (!w) throw new Error(`no worker ${id}`);
    return w;
  }

  private dequeue(w: SimWorker, key: string): boolean {
    const i = w.queued.indexOf(key);
    if (i < 0) return false;
    w.queued.splice(i, 1);
    return true;
  }

  private workerStep(w: SimWorker, events: WorkerEv[]): WorkerInstruction[] {
    const out = w.state.handle(events.map((e) => ({ ...e, stimulusId: `${w.id}-${++this.n}` }) as WorkerEvent));
    this.problems.push(...validateWorkerState(w.state).map((p) => `${w.id}: ${p}`));
    const more: WorkerEv[] = [];
    for (const ins of out) {
      switch (ins.type) {
        case 'execute':
          w.queued.push(ins.key);
          break;
        case 'send':
          w.outbox.push(ins.msg);
          break;
        case 'gather-dep': {
          // Peers answer at once from what their machines hold in memory.
          const peer = this.workers.get(ins.peer);
          const received: Array<[string, number]> = [];
          const missing: string[] = [];
          for (const key of ins.keys) {
            const t = peer?.state.tasks.get(key);
            if (t && t.state === 'memory') received.push([key, t.nbytes]);
            else missing.push(key);
          }
          more.push({ type: 'gather-dep-done', peer: ins.peer, received, missing });
          break;
        }
        case 'release-data':
          break;
      }
    }
    this.startThreads(w);
    return more.length > 0 ? [...out, ...this.workerStep(w, more)] : out;
  }

  private startThreads(w: SimWorker): void {
    while (w.running.size < w.nthreads && w.queued.length > 0) {
      const key = w.queued.shift() as string;
      w.running.add(key);
      let list = this.runs.get(key);
      if (!list) this.runs.set(key, (list = []));
      list.push(w.id);
    }
  }
}
