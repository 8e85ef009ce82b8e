/**
 * A binary min-heap ordered by `less` (the one heap of the code base: the
 * scheduler's queue of ready root tasks and the worker's ready tasks). Sifting
 * moves a hole instead of swapping pairs, which halves the writes.
 */
export class BinaryHeap<T> {
  private readonly a: T[] = [];

  constructor(private readonly less: (x: T, y: T) => boolean) {}

  get size(): number {
    return this.a.length;
  }

  /** The least item, without removing it. */
  peek(): T | undefined {
    return this.a[0];
  }

  push(item: T): void {
    const a = this.a;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      const parent = a[p] as T;
      if (!this.less(item, parent)) break;
      a[i] = parent;
      i = p;
    }
    a[i] = item;
  }

  pop(): T | undefined {
    const a = this.a;
    if (a.length === 0) return undefined;
    const top = a[0] as T;
    const last = a.pop() as T;
    const n = a.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let m = l;
        if (r < n && this.less(a[r] as T, a[l] as T)) m = r;
        if (!this.less(a[m] as T, last)) break;
        a[i] = a[m] as T;
        i = m;
      }
      a[i] = last;
    }
    return top;
  }

  /** The items in no particular order. */
  values(): Iterable<T> {
    return this.a;
  }
}

/**
 * A priority queue for items that mostly arrive in order (a map's tasks, a
 * graph's roots, a compute batch): an item not before the last one queued in
 * order goes to a FIFO in O(1), with no comparison beyond that one; only
 * out-of-order arrivals use the heap. Popping takes the FIFO's head unless
 * the heap's top comes before it. The scheduler's queued root tasks and a
 * worker's ready tasks both use it: with a plain heap, a worker holding a
 * few thousand ready tasks called its comparator ~16 times per task.
 */
export class InOrderQueue<T> {
  private readonly heap: BinaryHeap<T>;
  private fifo: T[] = [];
  private head = 0;

  constructor(private readonly less: (x: T, y: T) => boolean) {
    this.heap = new BinaryHeap(less);
  }

  get size(): number {
    return this.heap.size + this.fifo.length - this.head;
  }

  push(item: T): void {
    const f = this.fifo;
    if (f.length === this.head || !this.less(item, f[f.length - 1] as T)) f.push(item);
    else this.heap.push(item);
  }

  pop(): T | undefined {
    const f = this.fifo;
    const top = this.heap.peek();
    if (this.head < f.length && (top === undefined || !this.less(top, f[this.head] as T))) {
      const item = f[this.head++] as T;
      if (this.head === f.length) {
        f.length = 0;
        this.head = 0;
      } else if (this.head > 4096 && this.head * 2 > f.length) {
        // Drop the consumed front now and then so the array does not grow without bound.
        f.splice(0, this.head);
        this.head = 0;
      }
      return item;
    }
    return this.heap.pop();
  }

  /** The items in no particular order. */
  *values(): Iterable<T> {
    yield* this.heap.values();
    for (let i = this.head; i < this.fifo.length; i++) yield this.fifo[i] as T;
  }
}
