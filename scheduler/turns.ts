import type { SchedulerEvent } from './state/types.ts';

/**
 * How much of the clients' work the scheduler does before it lets the event
 * loop serve I/O.
 *
 * A million-task map streams in as fifty 20,000-task update-graph chunks,
 * often read from the socket back to back, and its futures are released in
 * one message. Handled in one go, these held the event loop for 0.8-2.5 s
 * (bench/FINDINGS.md §4b): heartbeats, the status API, the dashboard and
 * every other client waited as long. Now clients' events wait in a queue of
 * their own, and once those handled since the last setImmediate turn carry
 * TURN_BUDGET tasks or keys, the rest waits for setImmediate, after pending
 * I/O (a socket read can deliver many frames in one poll phase). Each
 * client's events keep their order. Workers' and timers' events are handled
 * as they arrive, in the batches they arrive in, and may pass a client's
 * queued ones (events from different connections have no order to keep).
 * Deferring them as well made 200 workers' no-op tasks cost the scheduler
 * ~25 % more CPU (`bench/ab.ts --groups workers_200`).
 */
export const TURN_BUDGET = 50_000;

/** Keys per event when a client releases or cancels many at once (each key's release is independent). */
export const KEYS_PER_EVENT = 20_000;

/** Roughly what handling a client's event costs: the tasks or keys it carries. */
export function eventWeight(ev: SchedulerEvent): number {
  switch (ev.type) {
    case 'update-graph':
      return ev.tasks.length + ev.wants.length;
    case 'client-releases':
    case 'cancel':
      return ev.keys.length;
    default:
      return 0;
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
