import { statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, asCompleted, type Future } from '../../../client/index.ts';
import { FileSubmissionStore } from '../../../scheduler/sqs-bridge/file-store.ts';
import type { StoreRecord } from '../../../scheduler/sqs-bridge/store.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * A long SQS session: the bridge's submission record is rewritten to what is
 * still needed as it grows (thresholds lowered so a short test does many),
 * keeps what the client still holds, and a scheduler killed (-9) after
 * several compactions still recomputes the job under way, every result once.
 */
describe('SQS route: the submission record is compacted during a long session', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;
  let client: Client;

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 2, compaction: { minRecords: 8, minBytes: 32 * 1024 } });
    client = await Client.connect(cluster, { transport: 'sqs' });
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await world?.stop();
  });

  const compactions = () => cluster.schedulerLines.filter((l) => l.includes('"sqs-bridge.compacted"')).map((l) => JSON.parse(l) as { before: { records: number; bytes: number }; kept: number; after: { records: number; bytes: number } });
  const logFile = () => join(cluster.stateDir, 'sqs-submissions.log');
  const wantedKeys = (records: StoreRecord[]) => new Set(records.flatMap((r) => (r.t === 'submit' ? r.m.flatMap(([m]) => (m.op === 'update-graph' ? m.wants : [])) : [])));
  const resultKeys = (records: StoreRecord[]) => new Set(records.flatMap((r) => (r.t === 'result' ? r.m.flatMap(([m]) => (m.op === 'in-memory' ? m.k : [])) : [])));

  /** One future a round, held across the rounds (and the restart). */
  const kept: Array<Future<number>> = [];

  it('keeps the record bounded over 16 or more rounds of map, gather and release, holding what the client still holds', async () => {
    const released: string[] = [];
    let largest = 0;
    // 16 rounds, and more while fewer than 3 compactions have run: a compaction that would drop no record is skipped
    // (compactionShrinks), and whether the first one can drop any depends on how the results were batched.
    for (let round = 0; round < 16 || (compactions().length < 3 && round < 48); round++) {
      const futures = client.map((x: number) => x * 2 + 1, Array.from({ length: 10 }, (_, i) => round * 100 + i));
      expect(await client.gather(futures)).toEqual(Array.from({ length: 10 }, (_, i) => (round * 100 + i) * 2 + 1));
      // One future a round stays held; the rest are released (the release rides in the next submission).
      kept.push(futures[0] as Future<number>);
      for (const f of futures.slice(1)) {
        released.push(f.key);
        f.release();
      }
      largest = Math.max(largest, statSync(logFile()).size);
    }
    await client.gather(client.map((x: number) => x, [1])); // carries the last release

    // Assess: compacted again and again; the record stayed small; it keeps every held key with its result, no released one.
    await waitFor(() => compactions().length >= 3, { what: 'compactions of the submission record' });
    const done = compactions();
    // Each compaction wrote fewer records than the record held (`after` may be larger: appends made while it ran land after it).
    expect(done.every((c) => c.kept < c.before.records)).toBe(true);
    // A result is recorded once it was sent (session.ts sendResults), and appends made while a compaction runs land
    // after it: the record may trail the client by a write, so it is read again until it caught up. A held key whose
    // result never lands still fails here, at the deadline.
    let records: StoreRecord[] = [];
    await waitFor(
      async () => {
        const reader = new FileSubmissionStore(cluster.stateDir);
        records = await reader.load();
        await reader.close();
        const w = wantedKeys(records);
        const r = resultKeys(records);
        return kept.every((f) => w.has(f.key) && r.has(f.key));
      },
      { what: 'every held key with its submission and result in the record' },
    );
    const wanted = wantedKeys(records);
    const results = resultKeys(records);
    for (const f of kept) {
      expect(wanted.has(f.key), f.key).toBe(true);
      expect(results.has(f.key), f.key).toBe(true);
    }
    // Released keys: no result kept; wanted only by a submission kept for a held sibling, and then released again by the record.
    const releasedInRecord = new Set(records.flatMap((r) => (r.t === 'release' ? r.keys : r.t === 'submit' ? (r.rel ?? []) : [])));
    const early = released.slice(0, 10 * 9); // the first 10 rounds, long compacted
    expect(early.filter((k) => results.has(k))).toEqual([]);
    expect(early.filter((k) => wanted.has(k) && !releasedInRecord.has(k))).toEqual([]);
    // It holds what is live (a submission and a result per held future) plus what came since the last compaction, not every round.
    expect(records.length).toBeLessThan(2 * kept.length + 16);
    expect(largest).toBeLessThan(256 * 1024);
  }, 120_000);

  it('recomputes the job under way after kill -9 of a scheduler that compacted, every result once, and what the client still holds', async () => {
    const transport = (client as unknown as { transport: { handler: (m: { op: string; k?: string[] }, b: unknown) => void } }).transport;
    const deliver = transport.handler;
    const deliveries = new Map<string, number>();
    transport.handler = (msg, bufs) => {
      if (msg.op === 'in-memory') for (const k of msg.k ?? []) deliveries.set(k, (deliveries.get(k) ?? 0) + 1);
      deliver(msg, bufs);
    };
    const items = Array.from({ length: 200 }, (_, i) => i);
    // Small submissions, so the record grows (and is compacted) while the job runs.
    const futures = items.map((x) =>
      client.submit(async (v: number) => {
        await new Promise((r) => setTimeout(r, 15));
        return v * 7;
      }, x),
    );
    await waitFor(() => futures.filter((f) => f.status === 'finished').length >= 40, { what: 'the first results' });
    await cluster.killScheduler();
    await cluster.restartScheduler();
    const seen: string[] = [];
    for await (const f of asCompleted(futures)) seen.push(f.key);

    expect(await client.gather(futures)).toEqual(items.map((x) => x * 7));
    expect(new Set(seen).size).toBe(200);
    expect(futures.every((f) => deliveries.has(f.key))).toBe(true);
    const recovered = cluster.schedulerLines.map((l) => (l.includes('"sqs-bridge.recovered"') ? (JSON.parse(l) as { pending: number }) : undefined)).find(Boolean);
    expect(recovered?.pending).toBeGreaterThan(0);
    // The held futures of the first test, computed before several compactions and lost with the killed scheduler's
    // memory, are recomputed from the compacted record when a new task needs them.
    expect(kept.length).toBeGreaterThanOrEqual(16);
    const total = client.submit((...xs: number[]) => xs.reduce((a, b) => a + b, 0), ...kept);
    expect(await total.result()).toBe(Array.from({ length: kept.length }, (_, round) => round * 100 * 2 + 1).reduce((a, b) => a + b, 0));
  }, 120_000);
});
