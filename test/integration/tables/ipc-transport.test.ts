import { Table } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Tables between tasks travel as Arrow IPC: a table made by a task on worker
 * A, consumed by a task on worker B, arrives with its schema and values; under
 * a low memory limit worker A spills tables to disk and reads them back.
 */
describe('Arrow tables between workers', () => {
  it('a table returned on worker A arrives intact on worker B and at the client', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 0 });
    await cluster.addWorker({ name: 'wa', resources: { A: 1 } });
    await cluster.addWorker({ name: 'wb', resources: { B: 1 } });
    await using client = await Client.connect(cluster);
    const make = async (n: number) => {
      // Worker threads offer recc's table layer (and Apache Arrow) to inline tasks under this symbol.
      const layer = (globalThis as Record<symbol, unknown>)[Symbol.for('recc.tables')] as () => Promise<{ arrow: typeof import('apache-arrow') }>;
      const { Table, makeVector, vectorFromArray, Utf8, Float64, DateDay, makeData } = (await layer()).arrow;
      const px = Float64Array.from({ length: n }, (_, i) => i * 0.5);
      return new Table({
        date: makeVector(makeData({ type: new DateDay(), length: n, data: Int32Array.from({ length: n }, (_, i) => 19723 + (i % 30)) })),
        sid: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 11 === 0 ? null : `SEC${i % 97}`)), new Utf8()),
        px: makeVector(px),
        q: vectorFromArray(Array.from({ length: n }, (_, i) => (i % 5 === 0 ? null : i)), new Float64()),
      });
    };
    const check = (t: unknown) => {
      const table = t as { constructor: { name: string }; numRows: number; schema: { fields: Array<{ name: string; type: unknown }> }; getChild(n: string): { get(i: number): unknown } };
      let pxSum = 0;
      let nullSids = 0;
      for (let i = 0; i < table.numRows; i++) {
        pxSum += table.getChild('px').get(i) as number;
        if (table.getChild('sid').get(i) === null) nullSids++;
      }
      return {
        cls: table.constructor.name,
        rows: table.numRows,
        schema: table.schema.fields.map((f) => `${f.name}:${String(f.type)}`),
        pxSum,
        nullSids,
        date7: table.getChild('date').get(7),
        sid7: table.getChild('sid').get(7),
        q5: table.getChild('q').get(5),
      };
    };
    const made = client.submitWith({ resources: { A: 1 } }, make, 200_000);
    const checked = await client.submitWith({ resources: { B: 1 } }, check, made).result();
    const n = 200_000;
    expect(checked).toEqual({
      cls: 'Table',
      rows: n,
      schema: ['date:Date32<DAY>', 'sid:Utf8', 'px:Float64', 'q:Float64'],
      pxSum: (n * (n - 1)) / 4,
      nullSids: Math.ceil(n / 11),
      date7: (19723 + 7) * 86_400_000,
      sid7: 'SEC7',
      q5: null,
    });
    // Where each task ran: the producer on A, the consumer on B (so the bytes crossed between workers).
    const info = await client.schedulerInfo();
    expect(info.workers.find((w) => w.name.startsWith('wa'))?.stored).toBeGreaterThanOrEqual(1);
    const local = await made.result();
    expect(local).toBeInstanceOf(Table);
    expect(check(local)).toEqual(checked);
  });

  it('spills tables to disk under a low memory limit and reads them back intact', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 0 });
    await cluster.addWorker({ name: 'wa', resources: { A: 1 }, memoryLimitGiB: 0.5 });
    await cluster.addWorker({ name: 'wb', resources: { B: 1 } });
    await using client = await Client.connect(cluster);
    const make = async (seed: number) => {
      const layer = (globalThis as Record<symbol, unknown>)[Symbol.for('recc.tables')] as () => Promise<{ arrow: typeof import('apache-arrow') }>;
      const { Table, makeVector } = (await layer()).arrow;
      // 2 M float64 = 16 MiB per table, with the seed in every value.
      const v = Float64Array.from({ length: 2_000_000 }, (_, i) => seed * 1e7 + i);
      return new Table({ v: makeVector(v) });
    };
    const sum = (t: unknown) => {
      const table = t as { numRows: number; getChild(n: string): { toArray(): Float64Array } };
      const a = table.getChild('v').toArray();
      let s = 0;
      for (let i = 0; i < a.length; i++) s += a[i] as number;
      return { rows: table.numRows, sum: s };
    };
    const seeds = Array.from({ length: 20 }, (_, i) => i + 1);
    const tables = seeds.map((s) => client.submitWith({ resources: { A: 1 } }, make, s));
    for (const t of tables) await t.wait();
    // Memory accounting counts table bytes (20 x 16 MB of floats plus IPC framing, in memory or on disk),
    // and some went to disk; heartbeats report both, so wait for one that has seen every result.
    const spilled = await waitFor(async () => {
      const w = (await client.schedulerInfo()).workers.find((x) => x.name.startsWith('wa'));
      return w && Number(w.metrics.spilled) > 0 && Number(w.metrics.spilled) + Number(w.metrics.managed) >= 20 * 16_000_000 ? w : undefined;
    }, { what: 'worker A reporting 20 tables held, some spilled' });
    expect(Number(spilled.metrics.spilled) + Number(spilled.metrics.managed)).toBeLessThan(20 * 16_100_000);
    const sums = await client.gather(tables.map((t) => client.submitWith({ resources: { B: 1 } }, sum, t)));
    const n = 2_000_000;
    expect(sums).toEqual(seeds.map((s) => ({ rows: n, sum: s * 1e7 * n + (n * (n - 1)) / 2 })));
    expect(cluster.allLogs().filter((l) => l.includes('"event":"worker.memory-terminate"'))).toEqual([]);
  });
});
