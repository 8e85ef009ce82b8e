import type { Clock } from '../../shared/core/clock.ts';

/**
 * How long the bridge remembers an envelope id it has recorded, to drop a
 * redelivered copy. A copy can come back only while SQS may still deliver it:
 * the client retries a send for at most 30 s with the same deduplication id
 * (SQS drops a resend within its 5-minute FIFO window), and a handled message
 * whose delete failed reappears when its visibility timeout (30 s) runs out,
 * again every time it is received, until the redrive policy takes it. So an
 * id not seen again for `windowMs` cannot come back; each copy refreshes it.
 */
export interface DedupPolicy {
  /** Forget an id this long after it was last seen. */
  windowMs: number;
  /**
   * Ids kept per session before the oldest are forgotten early, but never one
   * seen within `floorMs` (correctness wins over memory: past the cap with
   * nothing old enough to drop, the set grows and `overCap` says so).
   */
  maxIds: number;
}

/** SQS's FIFO deduplication interval plus the request queue's visibility timeout: nothing younger may be forgotten. */
export const DEDUP_FLOOR_MS = 5 * 60_000 + 30_000;

export const DEFAULT_DEDUP: Readonly<DedupPolicy> = Object.freeze({ windowMs: 15 * 60_000, maxIds: 100_000 });

/** Checks a policy against the floor; returns the problems (empty when valid). */
export function dedupPolicyProblems(p: DedupPolicy): Array<{ path: string; message: string }> {
  const out: Array<{ path: string; message: string }> = [];
  if (!Number.isFinite(p.windowMs) || p.windowMs < DEDUP_FLOOR_MS) out.push({ path: 'dedup.windowMs', message: `must be at least ${DEDUP_FLOOR_MS} ms (SQS's 5-minute FIFO deduplication window plus the 30 s visibility timeout)` });
  if (!Number.isInteger(p.maxIds) || p.maxIds < 1) out.push({ path: 'dedup.maxIds', message: 'must be a whole number of 1 or more' });
  return out;
}

/**
 * The envelope ids of one session the bridge has recorded: the time each was
 * last seen, and a queue of sightings oldest first (a refreshed id leaves a
 * stale entry behind, skipped when it reaches the head), so forgetting stops
 * at the first id still young: O(1) amortised per add. (Not a Map iterated
 * from its head: V8 walks the holes deleted entries leave, which made that
 * quadratic.) After a restart every reloaded id counts as seen at load time:
 * the scheduler may have been down for longer than the window while a copy of
 * an unacknowledged envelope waited in the queue.
 */
export class SeenIds {
  private readonly at = new Map<string, number>();
  private queue: Array<{ id: string; t: number }> = [];
  private head = 0;

  constructor(
    private readonly clock: Clock,
    private readonly policy: DedupPolicy,
  ) {}

  has(id: string): boolean {
    const t = this.at.get(id);
    return t !== undefined && this.clock.now() - t < this.policy.windowMs;
  }

  /** Record (or refresh) an id, then forget what has expired. */
  add(id: string): void {
    const t = this.clock.now();
    this.at.set(id, t);
    this.queue.push({ id, t });
    this.prune();
  }

  get size(): number {
    return this.at.size;
  }

  /** More ids than the cap, none of them old enough to forget early. */
  get overCap(): boolean {
    return this.at.size > this.policy.maxIds;
  }

  /** The ids still remembered (for the compacted record), oldest first. */
  ids(): string[] {
    this.prune();
    // An id seen twice in one millisecond has two current entries: a Set keeps one.
    const out = new Set<string>();
    for (let i = this.head; i < this.queue.length; i++) {
      const e = this.queue[i] as { id: string; t: number };
      if (this.at.get(e.id) === e.t) out.add(e.id);
    }
    return [...out];
  }

  prune(): void {
    const now = this.clock.now();
    while (this.head < this.queue.length) {
      const e = this.queue[this.head] as { id: string; t: number };
      const current = this.at.get(e.id) === e.t;
      if (current) {
        const age = now - e.t;
        if (age < this.policy.windowMs && !(this.at.size > this.policy.maxIds && age >= DEDUP_FLOOR_MS)) break;
        this.at.delete(e.id);
      }
      this.head++;
    }
    // Drop the consumed head once it is most of the array (amortised O(1)).
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
  }
}
