import { describe, expect, it } from 'vitest';
import type { StoreRecord, SubmissionStore } from '../../scheduler/sqs-bridge/store.ts';

/**
 * The SubmissionStore contract (scheduler/sqs-bridge/store.ts: the SQS
 * bridge's durable record of accepted submissions), run against every
 * adapter: the local file (test/unit/sqs/submission-store.test.ts) and
 * DynamoDB on dynalite and DynamoDB Local (test/integration/sqs/dynamodb-store.test.ts).
 *
 * `open()` gives a fresh, empty record; `reopen()` a second store on the
 * same record, as a restarted scheduler would make it.
 */
export interface StoreUnderTest {
  store: SubmissionStore;
  reopen(): SubmissionStore;
  cleanup(): Promise<void>;
}

export const submitRecord = (id: string, wants: string[], argBytes = 2): StoreRecord => ({
  t: 'submit',
  s: 's1',
  rq: 'http://q/recc-c-reply-s1',
  id,
  m: [
    [
      {
        op: 'update-graph',
        tasks: wants.map((k) => ({ key: k, fn: 'f', args: new Uint8Array(argBytes).fill(7), deps: [], resources: null, retries: 0 })),
        wants,
        fns: [],
      },
      null,
    ],
  ],
});

const ids = (records: StoreRecord[]) => records.map((r) => ('id' in r ? r.id : r.t));

async function reloaded(t: StoreUnderTest): Promise<StoreRecord[]> {
  await t.store.close();
  const again = t.reopen();
  try {
    return await again.load();
  } finally {
    await again.close();
  }
}

export function submissionStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`SubmissionStore conformance: ${name}`, () => {
    const withStore = (fn: (t: StoreUnderTest) => Promise<void>) => async () => {
      const t = await open();
      try {
        await fn(t);
      } finally {
        await t.cleanup();
      }
    };

    it(
      'loads nothing from a fresh record',
      withStore(async ({ store }) => {
        expect(await store.load()).toEqual([]);
      }),
    );

    it(
      'gives back every appended record, in order, after a reopen; bytes stay bytes',
      withStore(async (t) => {
        await t.store.load();
        // Act: concurrent appends (the file shares one sync among them)
        await Promise.all([t.store.append([submitRecord('e1', ['a'])]), t.store.append([{ t: 'release', s: 's1', id: 'e2', keys: ['a'] }]), t.store.append([{ t: 'close', s: 's1', id: 'e3' }])]);
        const records = await reloaded(t);

        // Assess
        expect(ids(records)).toEqual(['e1', 'e2', 'e3']);
        const first = records[0] as Extract<StoreRecord, { t: 'submit' }>;
        const graph = first.m[0]?.[0];
        const args = graph?.op === 'update-graph' ? graph.tasks[0]?.args : undefined;
        expect(args).toBeInstanceOf(Uint8Array);
        expect([...(args ?? [])]).toEqual([7, 7]);
      }),
    );

    it(
      'keeps records appended without waiting for a sync, in order with synced ones',
      withStore(async (t) => {
        await t.store.load();
        await Promise.all([t.store.append([submitRecord('e1', ['a'])]), t.store.append([{ t: 'release', s: 's1', id: 'e2', keys: ['a'] }], { sync: false }), t.store.append([submitRecord('e3', ['b'])])]);
        expect(ids(await reloaded(t))).toEqual(['e1', 'e2', 'e3']);
      }),
    );

    it(
      'keeps odd keys and session ids as data (`__proto__`, `constructor`)',
      withStore(async (t) => {
        await t.store.load();
        await t.store.append([{ t: 'release', s: '__proto__', id: 'constructor', keys: ['__proto__', 'constructor', 'toString'] }]);
        const [record] = await reloaded(t);
        expect(record).toEqual({ t: 'release', s: '__proto__', id: 'constructor', keys: ['__proto__', 'constructor', 'toString'] });
        expect(Object.getPrototypeOf(record)).toBe(Object.prototype);
      }),
    );

    it(
      'stores a record of several MiB whole (a large graph)',
      withStore(async (t) => {
        await t.store.load();
        const big = submitRecord('big', Array.from({ length: 300 }, (_, i) => `k${i}`), 4096);
        await t.store.append([submitRecord('e0', ['x']), big, submitRecord('e2', ['y'])]);
        const records = await reloaded(t);
        expect(ids(records)).toEqual(['e0', 'big', 'e2']);
        // Compared as bytes (a deep equal of 1.2 MB element by element takes minutes).
        const tasksOf = (r: StoreRecord | undefined) => (r?.t === 'submit' && r.m[0]?.[0].op === 'update-graph' ? r.m[0][0].tasks : []);
        const got = tasksOf(records[1]);
        expect(got.map((x) => x.key)).toEqual(tasksOf(big).map((x) => x.key));
        expect(got.every((x) => x.args instanceof Uint8Array && Buffer.from(x.args).equals(Buffer.alloc(4096, 7)))).toBe(true);
      }),
    );

    it(
      'compacts to exactly the records given, and appends after that, across a reopen',
      withStore(async (t) => {
        await t.store.load();
        await t.store.append([submitRecord('e1', ['a']), submitRecord('e2', ['b']), { t: 'release', s: 's1', id: 'e3', keys: ['a'] }]);
        await t.store.compact([submitRecord('e2', ['b'])]);
        await t.store.append([{ t: 'cancel', s: 's1', id: 'e4', keys: ['b'] }]);
        expect(ids(await t.store.load())).toEqual(['e2', 'e4']);
        expect(ids(await reloaded(t))).toEqual(['e2', 'e4']);
      }),
    );

    it(
      'compacts again and again (a long session) without losing an append made during a compaction',
      withStore(async (t) => {
        await t.store.load();
        let kept: StoreRecord[] = [];
        for (let round = 0; round < 4; round++) {
          await t.store.append([submitRecord(`r${round}`, [`k${round}`])]);
          kept = [submitRecord(`r${round}`, [`k${round}`])];
          // Act: an append issued while the compaction runs lands after the kept records
          const compacting = t.store.compact(kept);
          const during = t.store.append([{ t: 'release', s: 's1', id: `d${round}`, keys: ['zz'] }]);
          await Promise.all([compacting, during]);
          kept.push({ t: 'release', s: 's1', id: `d${round}`, keys: ['zz'] });
          expect(ids(await t.store.load())).toEqual(ids(kept));
        }
        expect(ids(await reloaded(t))).toEqual(['r3', 'd3']);
      }),
    );

    it(
      'finishes a compaction started while an append is being written, with another append waiting behind it (no deadlock)',
      withStore(async (t) => {
        await t.store.load();
        await t.store.append([submitRecord('e1', ['a'])]);
        // Act: e2 is under way when the compaction starts (its effect is in the kept records, as the bridge guarantees); e3 comes after
        const before = t.store.append([submitRecord('e2', ['b'])]);
        const compacting = t.store.compact([submitRecord('e2', ['b'])]);
        const after = t.store.append([submitRecord('e3', ['c'])]);
        await Promise.all([before, compacting, after]);

        // Assess: the compacted record first, e3 after it; e2 at most twice (kept, and its own append if that landed after)
        const got = ids(await reloaded(t));
        expect(got[0]).toBe('e2');
        expect(got.at(-1)).toBe('e3');
        expect(got.filter((id) => id !== 'e2' && id !== 'e3')).toEqual([]);
      }),
    );

    it(
      'reports its size: records and bytes appended, reset to what a compaction wrote, and the same after a reopen',
      withStore(async (t) => {
        await t.store.load();
        expect(t.store.size()).toEqual({ records: 0, bytes: 0 });
        await t.store.append([submitRecord('e1', ['a'], 1000), submitRecord('e2', ['b'], 1000)]);
        const grown = t.store.size();
        expect(grown.records).toBe(2);
        expect(grown.bytes).toBeGreaterThan(2000);
        await t.store.compact([submitRecord('e2', ['b'], 1000)]);
        const compacted = t.store.size();
        expect(compacted.records).toBe(1);
        expect(compacted.bytes).toBeGreaterThan(1000);
        expect(compacted.bytes).toBeLessThan(grown.bytes);
        await t.store.close();
        const again = t.reopen();
        await again.load();
        expect(again.size()).toEqual(compacted);
        await again.close();
      }),
    );
  });
}
