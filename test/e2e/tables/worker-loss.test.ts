import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import type { ProgressEvent } from '../../../client/client.ts';
import { waitFor } from '../../support/wait.ts';
import { groupsOf, rowsOf, sortedJson, tableOfRows } from './reference.ts';

/**
 * Issue 15: kill -9 a worker while groupBy().apply runs its shuffle. The
 * shuffle restarts (the client sees it in its progress events) and the
 * result is complete and correct: never a hang, never partial data.
 */

let cluster: LocalCluster;
let client: Client;

beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 3 });
  client = await Client.connect(cluster);
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

/** Slow per group (so the kill lands while outputs run), then its key and row count. */
function slowCount(g: Table, ctx: { arrow: typeof import('apache-arrow'); key?: Record<string, unknown> }): Table {
  const until = Date.now() + 150;
  while (Date.now() < until) {
    // busy: a group that takes a while
  }
  const a = ctx.arrow;
  return new a.Table({ key: a.vectorFromArray([ctx.key?.key as string], new a.Utf8()), n: a.vectorFromArray([g.numRows], new a.Int32()) });
}

describe('DistributedTable: worker loss during a shuffle', () => {
  it('kill -9 of a worker during groupBy().apply restarts the shuffle and returns the full, correct result', async () => {
    const rows = Array.from({ length: 600 }, (_, i) => ({ key: `s${i % 24}`, k2: i, value: i }));
    const events: ProgressEvent[] = [];
    client.onProgress((e) => events.push(e));
    const t = client.fromTable(tableOfRows(rows), { npartitions: 6 }).groupBy('key').apply(slowCount, { npartitions: 6 });
    const outputs = (await t.parts()).map((p) => (p as { key: string }).key);
    const result = t.toTable();
    // Once an output is running, every worker holds shards of this run: kill one of them.
    await waitFor(async () => (await client.taskStates(outputs)).some((s) => s === 'processing'), { what: 'a shuffle output to start' });
    const victim = cluster.workerProcesses[0];
    expect(victim).toBeDefined();
    process.kill(victim?.pid as number, 'SIGKILL');
    const got = rowsOf(await result);
    const want = [...groupsOf(rows, ['key'])].map(([k, g]) => ({ key: JSON.parse(k)[0], n: g.length }));
    expect(sortedJson(got)).toEqual(sortedJson(want));
    const restarts = events.filter((e) => e.kind === 'shuffle' && /left during the shuffle; restarting it/.test(e.message));
    expect(restarts.length).toBeGreaterThanOrEqual(1);
    expect(restarts[0]?.message).toContain(victim?.name as string);
  });
});
