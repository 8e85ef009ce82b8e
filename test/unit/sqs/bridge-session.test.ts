import { describe, expect, it } from 'vitest';
import type { SessionContext } from '../../../scheduler/sqs-bridge/session.ts';
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
      expect(ids(snap)).toEqual(['compacted-fns-s1', 'e1', 'e2', 'compacted-release-s1', 'result']);
      expect(snap.find((r) => r.t === 'release')).toMatchObject({ keys: ['a'] });
      expect(session.pending).toBe(0);
      expect(session.done).toBe(1);
      expect([...session.processed].sort()).toEqual(['e1', 'e2', 'e3', 'e4']);
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
  });
});
