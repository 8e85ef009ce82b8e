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
