import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SqsBridge, type SqsBridgeOptions } from '../../../scheduler/sqs-bridge/bridge.ts';
import { SqsBridgeConfigError } from '../../../scheduler/sqs-bridge/errors.ts';
import { DEDUP_FLOOR_MS, DEFAULT_DEDUP, SeenIds, dedupPolicyProblems } from '../../../scheduler/sqs-bridge/seen-ids.ts';
import { BridgeSession, type SessionContext } from '../../../scheduler/sqs-bridge/session.ts';
import type { StoreRecord } from '../../../scheduler/sqs-bridge/store.ts';

/**
 * The bridge's deduplication set is bounded by time (and a cap that never
 * drops an id SQS could still deliver again), and survives a restart through
 * the compacted record: every test drives an injected clock.
 */
const MIN = 60_000;
const rq = 'http://q/recc-c-reply-s1';
const task = (key: string) => ({ key, fn: 'f1', args: new Uint8Array([1]), deps: [], resources: null, retries: 0 });
const submit = (id: string, key: string): StoreRecord => ({ t: 'submit', s: 's1', rq, id, m: [[{ op: 'update-graph', tasks: [task(key)], wants: [key], fns: [] }, null]] });
const release = (id: string, key: string): StoreRecord => ({ t: 'release', s: 's1', id, keys: [key] });

describe('Class: SeenIds', () => {
  it('forgets an id once it has not been seen for the window, and each copy restarts the window', () => {
    // Prepare
    const clock = new ManualClock();
    const seen = new SeenIds(clock, { windowMs: 15 * MIN, maxIds: 1000 });
    seen.add('a');
    seen.add('a');
    expect(seen.ids()).toEqual(['a']);
    clock.advance(10 * MIN);
    seen.add('b');

    // Act: a copy of a arrives at 14 min, then time passes
    clock.advance(4 * MIN);
    expect(seen.has('a')).toBe(true);
    seen.add('a');
    clock.advance(14 * MIN);

    // Assess: b (last seen 18 min ago) is gone, a (14 min ago) is kept
    expect(seen.has('b')).toBe(false);
    expect(seen.has('a')).toBe(true);
    seen.prune();
    expect(seen.ids()).toEqual(['a']);
    clock.advance(1 * MIN);
    expect(seen.has('a')).toBe(false);
    expect(seen.ids()).toEqual([]);
    expect(seen.size).toBe(0);
  });

  it('stays bounded over a long-lived scheduler: memory follows the rate, not the uptime', () => {
    const clock = new ManualClock();
    const seen = new SeenIds(clock, DEFAULT_DEDUP);
    // 10 envelopes a second for 2 hours (8 × the window), every tenth one redelivered once
    const n = 2 * 3600 * 10;
    for (let i = 0; i < n; i++) {
      if (i % 10 === 9) seen.add(`e${i - 5}`);
      seen.add(`e${i}`);
      clock.advance(100);
    }
    expect(seen.size).toBeLessThanOrEqual(DEFAULT_DEDUP.windowMs / 100 + 1);
    expect(seen.has(`e${n - 1}`)).toBe(true);
    expect(seen.ids()).toHaveLength(seen.size);
    expect(seen.has('e0')).toBe(false);
  });

  it('past the cap forgets the oldest ids early, but never one SQS could still deliver again', () => {
    // Prepare: cap 3; four ids seen 10 min ago, two just now
    const clock = new ManualClock();
    const seen = new SeenIds(clock, { windowMs: 60 * MIN, maxIds: 3 });
    for (const id of ['o1', 'o2', 'o3', 'o4']) seen.add(id);
    clock.advance(10 * MIN);

    // Act
    seen.add('n1');
    seen.add('n2');

    // Assess: old ones dropped down to the cap; then, with only young ids left, the set stays over the cap
    expect(seen.ids()).toEqual(['o4', 'n1', 'n2']);
    seen.add('n3');
    seen.add('n4');
    expect(seen.ids()).toEqual(['n1', 'n2', 'n3', 'n4']);
    expect(seen.overCap).toBe(true);
    clock.advance(DEDUP_FLOOR_MS - 1);
    seen.add('n5');
    expect(seen.ids()).toEqual(['n1', 'n2', 'n3', 'n4', 'n5']);
    clock.advance(1);
    seen.add('n6');
    expect(seen.ids()).toEqual(['n4', 'n5', 'n6']);
    expect(seen.overCap).toBe(false);
  });

  it('refuses a window shorter than SQS can redeliver, naming the field', () => {
    expect(dedupPolicyProblems(DEFAULT_DEDUP)).toEqual([]);
    expect(dedupPolicyProblems({ windowMs: 5 * MIN, maxIds: 0 }).map((p) => p.path)).toEqual(['dedup.windowMs', 'dedup.maxIds']);
    expect(dedupPolicyProblems({ windowMs: Number.NaN, maxIds: 1.5 }).map((p) => p.path)).toEqual(['dedup.windowMs', 'dedup.maxIds']);
  });

  it('a bridge given such a window refuses to start, before it touches a queue or its record', async () => {
    const options = { config: { route: {}, stateDir: '/nonexistent' }, dedup: { windowMs: 60_000 } } as unknown as SqsBridgeOptions;
    const started = SqsBridge.start(options);
    await expect(started).rejects.toBeInstanceOf(SqsBridgeConfigError);
    await expect(started).rejects.toThrow(/dedup\.windowMs: must be at least 330000 ms/);
  });
});

describe('Class: BridgeSession (deduplication across compaction and restart)', () => {
  const ctxAt = (clock: ManualClock) => ({ clock, dedup: DEFAULT_DEDUP }) as unknown as SessionContext;

  it('keeps dropping a copy of a released submission after the record is compacted and the scheduler restarts', () => {
    // Prepare: e1 submitted and released (compaction drops its record), e2 live
    const clock = new ManualClock();
    const live = new BridgeSession('s1', rq, ctxAt(clock));
    for (const r of [submit('e1', 'a'), release('r1', 'a'), submit('e2', 'b')]) live.restore(r);
    const compacted = live.snapshot();
    expect(compacted.some((r) => r.t === 'submit' && r.id === 'e1')).toBe(false);

    // Act: the scheduler is down for an hour (longer than the window), then reloads the compacted record
    clock.advance(60 * MIN);
    const restarted = new BridgeSession('s1', rq, ctxAt(clock));
    for (const r of compacted) restarted.restore(r);

    // Assess: the ids count from the reload (a copy may have waited in the queue all along)
    for (const id of ['e1', 'r1', 'e2']) expect(restarted.seen.has(id)).toBe(true);
    expect(restarted.pending).toBe(1);
    clock.advance(DEFAULT_DEDUP.windowMs - 1);
    expect(restarted.seen.has('e1')).toBe(true);
    clock.advance(1);
    expect(restarted.seen.has('e1')).toBe(false);
  });

  it('writes no expired id into the compacted record, and still replays the submission it keeps', () => {
    // Prepare
    const clock = new ManualClock();
    const live = new BridgeSession('s1', rq, ctxAt(clock));
    for (let i = 0; i < 100; i++) for (const r of [submit(`old${i}`, `k${i}`), release(`rel${i}`, `k${i}`)]) live.restore(r);
    live.restore(submit('keep', 'x'));

    // Act: a day later one more envelope comes, and one submitted and released, then a compaction
    clock.advance(24 * 60 * MIN);
    live.restore(submit('new', 'y'));
    for (const r of [submit('recent', 'z'), release('recent-rel', 'z')]) live.restore(r);
    const snap = live.snapshot();

    // Assess: only the recent ids the kept records do not carry are written; the live submissions stay (replayed, not deduplicated)
    expect(snap.find((r) => r.t === 'seen')).toMatchObject({ ids: ['recent', 'recent-rel'] });
    expect(snap.filter((r) => r.t === 'submit').map((r) => (r as { id: string }).id)).toEqual(['keep', 'new']);
    const again = new BridgeSession('s1', rq, ctxAt(clock));
    for (const r of snap) again.restore(r);
    expect(again.pending).toBe(2);
  });
});
