import { InOrderQueue } from '../../shared/core/heap.ts';
import type { TaskRecord } from './records.ts';

const before = (x: TaskRecord, y: TaskRecord): boolean => x.prio < y.prio || (x.prio === y.prio && x.seq < y.seq);

/** Queued root tasks by (prio, seq), entries leaving lazily (shared/core/heap.ts InOrderQueue: in-order arrivals skip the heap). */
export class TaskQueue extends InOrderQueue<TaskRecord> {
  constructor() {
    super(before);
  }
}
