/**
 * The per-worker messages of one scheduler step, in an order the worker can
 * follow. The machine's instructions come out in order; the shell groups them
 * into one compute batch and one free-keys message per stimulus for each
 * worker (one frame instead of thousands). Grouping must not reorder two
 * instructions about the same key: a task freed and given back to the same
 * worker in one step (a key released and resubmitted, a steal undone) must
 * reach the worker as free, then compute. The other way round the worker
 * would start the task, then drop it, while the scheduler waits for its
 * result. So when an instruction names a key that the other kind of pending
 * message for that worker holds, that pending message goes out first.
 */
export interface OutboxSink<W, B> {
  newBatch(): B;
  sendCompute(w: W, batch: B): void;
  sendFree(w: W, keys: string[], stimulusId: string): void;
}

/**
 * Keys of one pending message: a list, and a set made only when a message of
 * the other kind for the same worker has to be checked against it. A map step
 * sends computes only and a release step frees only, so most steps never
 * build one (a Set entry per task was a measurable share of the scheduler's
 * cost per no-op task).
 */
class PendingKeys {
  private readonly list: string[] = [];
  private set: Set<string> | null = null;

  add(key: string): void {
    this.list.push(key);
    this.set?.add(key);
  }

  has(key: string): boolean {
    this.set ??= new Set(this.list);
    return this.set.has(key);
  }
}

interface PendingCompute<B> {
  batch: B;
  keys: PendingKeys;
}

interface PendingFree {
  byStimulus: Map<string, string[]>;
  keys: PendingKeys;
}

export class WorkerOutbox<W, B> {
  private readonly computes = new Map<W, PendingCompute<B>>();
  private readonly frees = new Map<W, PendingFree>();

  constructor(private readonly sink: OutboxSink<W, B>) {}

  /** The batch a compute of `key` for `w` joins (frees of `key` queued earlier go out first). */
  compute(w: W, key: string): B {
    const f = this.frees.get(w);
    if (f && f.keys.has(key)) this.sendFrees(w, f);
    let c = this.computes.get(w);
    if (!c) this.computes.set(w, (c = { batch: this.sink.newBatch(), keys: new PendingKeys() }));
    c.keys.add(key);
    return c.batch;
  }

  /** Queue freeing `keys` on `w` (a compute of one of them queued earlier goes out first). */
  free(w: W, keys: readonly string[], stimulusId: string): void {
    const c = this.computes.get(w);
    if (c) {
      for (const k of keys) {
        if (!c.keys.has(k)) continue;
        this.computes.delete(w);
        this.sink.sendCompute(w, c.batch);
        break;
      }
    }
    let f = this.frees.get(w);
    if (!f) this.frees.set(w, (f = { byStimulus: new Map(), keys: new PendingKeys() }));
    let list = f.byStimulus.get(stimulusId);
    if (!list) f.byStimulus.set(stimulusId, (list = []));
    for (const k of keys) {
      list.push(k);
      f.keys.add(k);
    }
  }

  /** Send what is pending: compute batches, then frees (no key is in both). */
  flush(): void {
    for (const [w, c] of this.computes) this.sink.sendCompute(w, c.batch);
    this.computes.clear();
    for (const [w, f] of this.frees) this.sendFrees(w, f);
  }

  private sendFrees(w: W, f: PendingFree): void {
    this.frees.delete(w);
    for (const [s, keys] of f.byStimulus) this.sink.sendFree(w, keys, s);
  }
}
