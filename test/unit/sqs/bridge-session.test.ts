import { describe, expect, it } from 'vitest';
import type { SessionContext } from '../../../scheduler/sqs-bridge/session.ts';
import { compactionDue, compactionShrinks } from '../../../scheduler/sqs-bridge/compaction.ts';
import { BridgeSession } from '../../../scheduler/sqs-bridge/session.ts';
import type { StoreRecord } from '../../../scheduler/sqs-bridge/store.ts';

/**
 * What the bridge keeps of a session across a restart: rebuilt from the
 * durable record, and compacted to what is still needed (no network here:
 * restore and snapshot never touch the scheduler).
 */
const rq = 'http://q/recc-c-reply-s1';
const ctx = {} as SessionContext;
const task = (key: string, deps: string[] = []) => ({ key, fn: 'f1', args: new Uint8Array([1]), deps, resources: null, retries: 0 });
const submit = (id: string, tasks: ReturnType<typeof task>[], wants: string[], fns: Array<[string, { kind: 'inline'; name: string; source: string }]> = []): StoreRecord => ({
  t: 'submit',
  s: 's1',
  rq,
  id,
  m: [[{ op: 'update-graph', tasks, wants, fns }, null]],
});
const result = (key: string, value: number): StoreRecord => ({ t: 'result', s: 's1', m: [[{ op: 'in-memory', k: [key], n: [1], di: [0] }, [new Uint8Array([value])]]] });
const ids = (records: StoreRecord[]) => records.map((r) => ('id' in r ? r.id : r.t));

describe('Class: BridgeSession', () => {
  describe('Method: restore + snapshot', () => {
    it('keeps submissions whose keys are held or needed by held ones, the functions, releases and unreleased results', () => {
      // Prepare: a → b (b depends on a), c alone; a and c released; b delivered
      const session = new BridgeSession('s1', rq, ctx);
      const records: StoreRecord[] = [
        submit('e1', [task('a')], ['a'], [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]]),
        submit('e2', [task('b', ['a'])], ['b']),
        submit('e3', [task('c')], ['c']),
        { t: 'release', s: 's1', id: 'e4', keys: ['a', 'c'] },
        result('b', 7),
        result('c', 9),
      ];

      // Act
      for (const r of records) session.restore(r);
      const snap = session.snapshot();

      // Assess
      expect(ids(snap)).toEqual(['compacted-fns-s1', 'e1', 'e2', 'compacted-release-s1', 'result', 'seen']);
      // The ids of what was dropped are still remembered (those of kept submissions come back with them).
      expect(snap.find((r) => r.t === 'seen')).toMatchObject({ ids: ['e3', 'e4'] });
      expect(snap.find((r) => r.t === 'release')).toMatchObject({ keys: ['a'] });
      expect(session.pending).toBe(0);
      expect(session.done).toBe(1);
      expect(session.seen.ids().sort()).toEqual(['e1', 'e2', 'e3', 'e4']);
    });

    it('rebuilds the same state from its own snapshot (compaction is stable)', () => {
      const session = new BridgeSession('s1', rq, ctx);
      for (const r of [submit('e1', [task('a'), task('b')], ['a', 'b'], [['f1', { kind: 'inline', name: 'f', source: '(x) => x' }]]), result('a', 1)]) session.restore(r);
      const again = new BridgeSession('s1', rq, ctx);
      for (const r of session.snapshot()) again.restore(r);
      expect(again.pending).toBe(1);
      expect(again.done).toBe(1);
      expect(ids(again.snapshot())).toEqual(ids(session.snapshot()));
    });

    it('applies the releases a submission carries before its own wants', () => {
      // Prepare: a delivered; the next submission releases a and wants b; a later one releases b and wants it again
      const session = new BridgeSession('s1', rq, ctx);
      const records: StoreRecord[] = [
        submit('e1', [task('a')], ['a']),
        result('a', 1),
        { ...(submit('e2', [task('b')], ['b']) as Extract<StoreRecord, { t: 'submit' }>), rel: ['a'] },
        { ...(submit('e3', [task('b')], ['b']) as Extract<StoreRecord, { t: 'submit' }>), rel: ['b'] },
      ];

      // Act
      for (const r of records) session.restore(r);
      const again = new BridgeSession('s1', rq, ctx);
      for (const r of session.snapshot()) again.restore(r);

      // Assess: a is gone with its result, b is still wanted (its release came before its want), in the snapshot too
      for (const s of [session, again]) {
        expect(s.pending).toBe(1);
        expect(s.done).toBe(0);
      }
      expect(ids(session.snapshot())).not.toContain('e1');
    });

    it('forgets a closed session entirely', () => {
      const session = new BridgeSession('s1', rq, ctx);
      for (const r of [submit('e1', [task('a')], ['a']), { t: 'close', s: 's1', id: 'e2' } as StoreRecord]) session.restore(r);
      expect(session.closed).toBe(true);
      expect(session.snapshot()).toEqual([]);
    });

    it('applies a submission once when it is both in a compacted record and appended after it', () => {
      const session = new BridgeSession('s1', rq, ctx);
      for (const r of [submit('e1', [task('a')], ['a']), submit('e2', [task('b')], ['b']), submit('e2', [task('b')], ['b'])]) session.restore(r);
      expect(ids(session.snapshot())).toEqual(['e1', 'e2']);
      expect(session.pending).toBe(2);
    });
  });

  describe('Method: snapshot during a session', () => {
    it('forgets the submissions it drops (memory stays bounded like the record)', () => {
      const session = new BridgeSession('s1', rq, ctx);
      for (let i = 0; i < 50; i++) {
        session.restore(submit(`e${i}`, [task(`k${i}`)], [`k${i}`]));
        session.restore({ t: 'release', s: 's1', id: `r${i}`, keys: [`k${i}`] });
      }
      session.restore(submit('live', [task('x')], ['x']));
      expect(ids(session.snapshot())).toEqual(['live', 'seen']);
      expect((session as unknown as { submissions: unknown[] }).submissions).toHaveLength(1);
    });

    it('keeps no result whose reply is still on its way (a crash must send it again)', async () => {
      // Prepare: a reply queue that has not taken the results yet
      let sent!: () => void;
      const replying = new Promise<void>((resolve) => (sent = resolve));
      const appended: StoreRecord[] = [];
      const live = new BridgeSession('s1', rq, {
        replies: { send: () => replying },
        store: { append: async (r: StoreRecord[]) => void appended.push(...r) },
      } as unknown as SessionContext);
      live.restore(submit('e1', [task('a'), task('b')], ['a', 'b']));
      const sendResults = (live as unknown as { sendResults: (items: unknown[], others: unknown[], record: boolean) => Promise<void> }).sendResults.bind(live);

      // Act: the results of a and b go out; a compaction snapshots meanwhile, and again once they are sent
      const sending = sendResults([{ key: 'a', kind: 'mem', nbytes: 1, data: new Uint8Array([1]) }], [], true);
      const during = live.snapshot();
      sent();
      await sending;
      const after = live.snapshot();

      // Assess
      expect(during.some((r) => r.t === 'result')).toBe(false);
      expect(after.filter((r) => r.t === 'result')).toHaveLength(1);
      expect(appended.filter((r) => r.t === 'result')).toHaveLength(1);
      expect(live.done).toBe(1);
    });
  });
});

describe('Function: compactionDue', () => {
  const policy = { minRecords: 100, minBytes: 1_000_000 };
  it('waits for the floor, then for the record to double from what the last compaction kept', () => {
    expect(compactionDue({ records: 99, bytes: 10 }, { records: 0, bytes: 0 }, policy)).toBe(false);
    expect(compactionDue({ records: 100, bytes: 10 }, { records: 0, bytes: 0 }, policy)).toBe(true);
    expect(compactionDue({ records: 10, bytes: 1_000_000 }, { records: 0, bytes: 0 }, policy)).toBe(true);
    expect(compactionDue({ records: 150, bytes: 10 }, { records: 80, bytes: 5 }, policy)).toBe(false);
    expect(compactionDue({ records: 160, bytes: 10 }, { records: 80, bytes: 5 }, policy)).toBe(true);
    expect(compactionDue({ records: 1, bytes: 3_000_000 }, { records: 1, bytes: 2_000_000 }, policy)).toBe(false);
    expect(compactionDue({ records: 1, bytes: 4_000_000 }, { records: 1, bytes: 2_000_000 }, policy)).toBe(true);
  });
});

describe('Function: compactionShrinks', () => {
  it('rewrites the record only when the compacted form has fewer records', () => {
    expect(compactionShrinks({ records: 8, bytes: 40_000 }, 7)).toBe(true);
    expect(compactionShrinks({ records: 8, bytes: 40_000 }, 8)).toBe(false);
    // Every submission still held: the compacted form adds its function-definition and release records.
    expect(compactionShrinks({ records: 8, bytes: 40_000 }, 12)).toBe(false);
  });
});
