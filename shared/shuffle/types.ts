/**
 * The shuffle contract shared by the client (graph builder), the scheduler
 * (barrier states) and the workers (transfer and receive). One home for it.
 *
 * A shuffle of N input partitions into M output partitions is N transfer
 * tasks, one barrier task depending on all of them, and M unpack tasks
 * depending on the barrier: O(N + M) tasks, never O(N × M).
 */

export type ShuffleRole = 'transfer' | 'barrier' | 'unpack';

/** What a task of a shuffle says about itself in its graph (wire: update-graph `shuffle`). */
export interface ShuffleTaskInfo {
  /** The shuffle's id (unique per shuffle; the client derives it from its inputs). */
  id: string;
  role: ShuffleRole;
  /** Transfer: its input partition; unpack: its output partition; barrier: 0. */
  i: number;
  /** Transfer: the number of outputs (M); unpack: the number of inputs (N); barrier: N. */
  n: number;
}

/**
 * What a worker is told with a transfer or unpack task (wire: compute-batch
 * `sh`): the run (a restart makes a new one) and, for transfers, the workers
 * that receive the outputs (output j goes to `workers[j % workers.length]`).
 */
export interface ShuffleAssignment extends ShuffleTaskInfo {
  run: number;
  workers: string[];
}

/** The dependency key under which an unpack task receives its shards (never a real task). */
export const SHARDS_KEY = 'recc-shuffle-shards';

/** The worker that receives output partition `j` (participants are sorted by the scheduler). */
export function receiverOf(workers: readonly string[], j: number): string {
  if (workers.length === 0) throw new RangeError('a shuffle run has no participants');
  return workers[j % workers.length] as string;
}

/** Error names the scheduler's shuffle machine reacts to. */
export const SHUFFLE_INCOMPLETE = 'ShuffleIncompleteError';
