import type { SchedulerEvent } from './state/types.ts';

/**
 * How much of the event backlog the scheduler handles per event-loop turn.
 *
 * A million-task map streams in as fifty 20,000-task update-graph chunks,
 * often read from the socket back to back, and its futures are released in
 * one message. Handled in one turn each, these held the event loop for
 * 0.8-2.5 s (bench/FINDINGS.md §4b), and heartbeats, the status API, the
 * dashboard and every other client waited as long. Now the scheduler stops
 * taking events once those handled since the event loop last reached its
 * check phase carry this many tasks or keys (a socket read can deliver many
 * frames in one poll phase); the rest waits for setImmediate, after pending
 * I/O and timers. Events keep their order, so each client's messages are
 * still handled in the order it sent them.
 */
export const TURN_BUDGET = 50_000;

/** Keys per event when a client releases or cancels many at once (each key's release is independent). */
export const KEYS_PER_EVENT = 20_000;

/** Roughly what handling `ev` costs: the tasks or keys it carries. */
export function eventWeight(ev: SchedulerEvent): number {
  switch (ev.type) {
    case 'update-graph':
      return ev.tasks.length + ev.wants.length;
    case 'client-releases':
    case 'cancel':
    case 'tasks-finished':
    case 'worker-held-data':
    case 'steal-response':
      return ev.keys.length;
    case 'task-queue':
      return ev.queued.length + ev.started.length;
    default:
      return 1;
  }
}

/**
 * How many of `events`, from the front, to handle now, and the work they carry: at least one event, and none
 * past the one that reaches `budget`.
 */
export function takeTurn(events: readonly SchedulerEvent[], budget: number): { count: number; weight: number } {
  let weight = 0;
  for (let i = 0; i < events.length; i++) {
    weight += eventWeight(events[i] as SchedulerEvent);
    if (weight >= budget) return { count: i + 1, weight };
  }
  return { count: events.length, weight };
}

/** `items` in runs of at most `size`, in order (one run when it fits). */
export function runsOf<T>(items: readonly T[], size: number): T[][] {
  if (items.length <= size) return [items as T[]];
  const runs: T[][] = [];
  for (let i = 0; i < items.length; i += size) runs.push(items.slice(i, i + size));
  return runs;
}
