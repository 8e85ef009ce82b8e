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
  private readonly keys: string[] = [];
  private readonly froms: string[] = [];
  private readonly tos: string[] = [];
  private readonly stimuli: string[] = [];
  private readonly times: number[] = [];
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
    if (this.capacity === 0) {
      // Still counted, so `recorded` equals the machine's transition count whatever the size.
      this.total++;
      return;
    }
    if (this.total < this.capacity) {
      this.keys.push(key);
      this.froms.push(from);
      this.tos.push(to);
      this.stimuli.push(stimulusId);
      this.times.push(time);
      this.total++;
      return;
    }
    const i = this.total % this.capacity;
    this.keys[i] = key;
    this.froms[i] = from;
    this.tos[i] = to;
    this.stimuli[i] = stimulusId;
    this.times[i] = time;
    this.total++;
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
    return { key: this.keys[i] as string, from: this.froms[i] as string, to: this.tos[i] as string, stimulusId: this.stimuli[i] as string, time: this.times[i] as number };
  }
}
