import { BinaryHeap } from '../../shared/core/heap.ts';
import type { TaskRecord } from './records.ts';

const before = (x: TaskRecord, y: TaskRecord): boolean => x.prio < y.prio || (x.prio === y.prio && x.seq < y.seq);

/**
 * Queued root tasks by (prio, seq), entries leaving lazily. Tasks mostly
 * arrive in priority order (a map, a graph's roots), so those go to a FIFO in
 * O(1); only out-of-order arrivals use the heap.
 */
export class TaskQueue {
  private readonly heap = new BinaryHeap<TaskRecord>(before);
  private fifo: TaskRecord[] = [];
  private head = 0;

  get size(): number {
    return this.heap.size + this.fifo.length - this.head;
  }

  push(t: TaskRecord): void {
    const f = this.fifo;
    if (f.length === this.head || !before(t, f[f.length - 1] as TaskRecord)) f.push(t);
    else this.heap.push(t);
  }

  pop(): TaskRecord | undefined {
    const f = this.fifo;
    const top = this.heap.peek();
    if (this.head < f.length && (top === undefined || before(f[this.head] as TaskRecord, top))) {
      const t = f[this.head++] as TaskRecord;
      if (this.head === f.length) {
        f.length = 0;
        this.head = 0;
      } else if (this.head > 4096 && this.head * 2 > f.length) {
        // Drop the consumed front now and then so the array does not grow without bound.
        f.splice(0, this.head);
        this.head = 0;
      }
      return t;
    }
    return this.heap.pop();
  }

  *values(): Iterable<TaskRecord> {
    yield* this.heap.values();
    for (let i = this.head; i < this.fifo.length; i++) yield this.fifo[i] as TaskRecord;
  }
}
