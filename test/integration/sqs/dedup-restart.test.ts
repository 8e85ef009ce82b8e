import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client } from '../../../client/index.ts';
import { readEnvelope } from '../../../comm/sqs-envelope/index.ts';
import { FileSubmissionStore } from '../../../scheduler/sqs-bridge/file-store.ts';
import type { StoreRecord } from '../../../scheduler/sqs-bridge/store.ts';
import { waitFor } from '../../support/wait.ts';
import { BridgedCluster, startSqsWorld, type SqsWorld } from './support/world.ts';

/**
 * Exactly-once effect outlives the record of the submission itself: a
 * submission that was computed and released is dropped from the record by a
 * compaction, the scheduler is killed (-9) and restarted, and then a copy of
 * that submission's envelope arrives (as SQS delivers an envelope whose
 * delete was lost). The restarted bridge still knows its id (the compacted
 * record keeps the ids of the deduplication window) and drops it instead of
 * computing it again.
 */
describe('SQS route: a copy of a compacted-away envelope after a restart', () => {
  let world: SqsWorld;
  let cluster: BridgedCluster;
  let client: Client;
  const captured: Array<{ id: string; kind: string; body: string; group: string }> = [];

  beforeAll(async () => {
    world = await startSqsWorld();
    cluster = await BridgedCluster.start(world, { nWorkers: 2, compaction: { minRecords: 8, minBytes: 32 * 1024 } });
    client = await Client.connect(cluster, { transport: 'sqs', onNotice: () => undefined });
    // Keep every envelope the client sends, as it went on the wire.
    const sqs = (client as unknown as { transport: { io: { sqs: SQSClient } } }).transport.io.sqs;
    const send = sqs.send.bind(sqs) as (cmd: unknown, opts?: unknown) => Promise<unknown>;
    (sqs as unknown as { send: typeof send }).send = (cmd, opts) => {
      if (cmd instanceof SendMessageBatchCommand) {
        for (const e of cmd.input.Entries ?? []) {
          const env = readEnvelope(e.MessageBody as string);
          captured.push({ id: env.id, kind: env.k, body: e.MessageBody as string, group: e.MessageGroupId as string });
        }
      }
      return send(cmd, opts);
    };
  }, 120_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.close();
    await world?.stop();
  });

  const record = async (): Promise<StoreRecord[]> => new FileSubmissionStore(cluster.stateDir).load();
  const submitIds = (records: StoreRecord[]) => records.flatMap((r) => (r.t === 'submit' ? [r.id] : []));
  const seenIds = (records: StoreRecord[]) => records.flatMap((r) => (r.t === 'seen' ? r.ids : []));
  const duplicateOf = (id: string) => cluster.schedulerLines.filter((l) => l.includes('"sqs-bridge.duplicate"') && l.includes(`"envelope":"${id}"`));

  it('drops the copy: the id survives the compaction and the restart, the work is not recorded again', async () => {
    // Prepare: round A computed and released, then enough rounds for compactions to drop A's submission
    const a = client.map((x: number) => x * 5, [1, 2, 3]);
    expect(await client.gather(a)).toEqual([5, 10, 15]);
    const submitA = captured.filter((c) => c.kind === 'submit').at(-1);
    expect(submitA).toBeDefined();
    const idA = (submitA as { id: string }).id;
    for (const f of a) f.release();
    for (let round = 0; round < 12; round++) {
      const items = Array.from({ length: 5 }, (_, i) => 1000 * (round + 1) + i);
      const fs = client.map((x: number) => x + 1, items);
      expect(await client.gather(fs)).toEqual(items.map((x) => x + 1));
      for (const f of fs) f.release();
    }
    await waitFor(
      async () => {
        const r = await record();
        return !submitIds(r).includes(idA) && seenIds(r).includes(idA);
      },
      { timeoutMs: 60_000, what: "a compaction that dropped round A's submission and kept its id" },
    );

    // Act: kill -9, restart, then a copy of A's envelope (a new deduplication id, as for a redelivery SQS did not filter)
    await cluster.killScheduler();
    await cluster.restartScheduler();
    await world.sqs.send(
      new SendMessageCommand({ QueueUrl: world.route.requestQueueUrl, MessageBody: (submitA as { body: string }).body, MessageGroupId: (submitA as { group: string }).group, MessageDeduplicationId: `copy-${idA}` }),
    );

    // Assess: dropped as a duplicate by the restarted bridge, not recorded again; the session keeps working
    await waitFor(() => duplicateOf(idA).length > 0, { timeoutMs: 60_000, what: `the restarted bridge to drop the copy of ${idA}` });
    expect(submitIds(await record())).not.toContain(idA);
    expect(await client.gather(client.map((x: number) => x - 1, [10, 20]))).toEqual([9, 19]);
    expect(submitIds(await record())).not.toContain(idA);
  });
});
