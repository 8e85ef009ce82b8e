/**
 * The bounded transition log of a task state machine (scheduler or worker):
 * every state change with the stimulus that caused it, so that a hanging or
 * failed task can be asked for its story. A ring buffer of parallel arrays
 * that grow to `capacity` as entries arrive (every process, and every task
 * thread, has one, and most never fill it: allocating 100,000 slots up front
 * cost ~10 ms of each start). Once full, recording is a few stores and
 * allocates nothing; the oldest entries are overwritten.
 */

/** One state change of one task. `time` is ms since the epoch from the machine's injected clock. */
export interface TransitionLogEntry {
  key: string;
  from: string;
  to: string;
  stimulusId: string;
  time: number;
}

export const DEFAULT_TRANSITION_LOG_SIZE = 100_000;

/** The last transitions of a story as one line for an error message (`; story: a→b (s1), …`), or '' when there are none. */
export function tellStory(story: readonly TransitionLogEntry[], last = 10): string {
  if (story.length === 0) return '';
  const shown = story.slice(-last).map((e) => `${e.from}→${e.to} (${e.stimulusId})`);
  return `; story: ${story.length > last ? '…, ' : ''}${shown.join(', ')}`;
}

export class TransitionLog {
  /*
   * Parallel columns, grown to `capacity` by doubling. Only the key is a
   * reference per entry: from/to are indices into `names` (a machine has a
   * dozen states), the time is a double, and the stimulus an index into a
   * ring of its own that gets a string only when it differs from the last one
   * (a step's transitions share their stimulus). Each reference stored into
   * these long-lived arrays costs a write barrier and, for a young string, a
   * remembered-set entry the next scavenge walks; five per transition were a
   * measurable share of a no-op task's cost (bench/micro-scheduler.ts).
   */
  private keys: string[] = [];
  private froms = new Uint16Array(0);
  private tos = new Uint16Array(0);
  private times = new Float64Array(0);
  private stimIdx = new Int32Array(0);
  /** Distinct consecutive stimulus ids, a ring of `capacity` (never fuller than the entries: see record). */
  private readonly stimuli: string[] = [];
  private stimTotal = 0;
  private lastStim: string | undefined = undefined;
  /** State names by index, and the reverse. */
  private readonly names: string[] = [];
  /** A null-prototype object, read inline in `record` (a call per lookup showed in a fresh cluster's profile, §2k). */
  private readonly codes: Record<string, number> = Object.create(null) as Record<string, number>;
  /** Entries recorded since creation (the next write goes to `total % capacity`). */
  private total = 0;

  constructor(readonly capacity: number = DEFAULT_TRANSITION_LOG_SIZE) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`transition log size must be a non-negative integer, got ${capacity}`);
  }

  /** Entries recorded so far, including those already overwritten. */
  get recorded(): number {
    return this.total;
  }

  /** Entries held now. */
  get size(): number {
    return Math.min(this.total, this.capacity);
  }

  record(key: string, from: string, to: string, stimulusId: string, time: number): void {
    const cap = this.capacity;
    const n = this.total;
    this.total = n + 1;
    // Still counted with no capacity, so `recorded` equals the machine's transition count whatever the size.
    if (cap === 0) return;
    /*
     * One path for filling and for overwriting, on purpose: this is inlined
     * into every transition, and a branch first taken when the ring wraps
     * (after 100,000 transitions) has no type feedback, so taking it
     * deoptimized `record` and every optimized caller at once (the
     * scheduler's `transition`, `updateGraph`, the worker's `freeKey`, seen
     * with --trace-deopt in the second repetition of the no-op map). `n % cap`
     * runs from the first entry, and a keyed store at `length` appends.
     */
    const i = n % cap;
    if (i === this.times.length) this.grow(Math.min(cap, Math.max(1024, n * 2)));
    this.keys[i] = key;
    this.froms[i] = this.codes[from] ?? this.addName(from);
    this.tos[i] = this.codes[to] ?? this.addName(to);
    this.times[i] = time;
    // A new stimulus takes a ring slot only together with an entry, so the ring never holds more
    // stimuli than there are entries: the stimulus of every entry still held is still held.
    if (stimulusId !== this.lastStim || this.stimTotal === 0) {
      this.stimuli[this.stimTotal % cap] = stimulusId;
      this.stimTotal++;
      this.lastStim = stimulusId;
    }
    this.stimIdx[i] = (this.stimTotal - 1) % cap;
  }

  private addName(name: string): number {
    if (this.names.length === 0xffff) throw new RangeError('transition log: more than 65,535 distinct state names');
    this.codes[name] = this.names.length;
    return this.names.push(name) - 1;
  }

  private grow(length: number): void {
    const froms = new Uint16Array(length);
    froms.set(this.froms);
    this.froms = froms;
    const tos = new Uint16Array(length);
    tos.set(this.tos);
    this.tos = tos;
    const times = new Float64Array(length);
    times.set(this.times);
    this.times = times;
    const stimIdx = new Int32Array(length);
    stimIdx.set(this.stimIdx);
    this.stimIdx = stimIdx;
  }

  /** The held transitions of `key`, oldest first. */
  story(key: string): TransitionLogEntry[] {
    const out: TransitionLogEntry[] = [];
    for (let n = this.total - this.size; n < this.total; n++) {
      const i = n % this.capacity;
      if (this.keys[i] === key) out.push(this.entry(i));
    }
    return out;
  }

  /** The held entries recorded at or after the `since`-th recording, oldest first (tests check each step's changes). */
  since(since: number): TransitionLogEntry[] {
    const out: TransitionLogEntry[] = [];
    for (let n = Math.max(since, this.total - this.size); n < this.total; n++) out.push(this.entry(n % this.capacity));
    return out;
  }

  private entry(i: number): TransitionLogEntry {
    return {
      key: this.keys[i] as string,
      from: this.names[this.froms[i] as number] as string,
      to: this.names[this.tos[i] as number] as string,
      stimulusId: this.stimuli[this.stimIdx[i] as number] as string,
      time: this.times[i] as number,
    };
  }
}
