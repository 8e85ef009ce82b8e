import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';

/**
 * A researcher's task module, bundled by `client.module()` with its own copy
 * of apache-arrow, returns Arrow Tables. They travel as IPC like any other
 * table: a consumer on another worker (inline, or in the same module), and
 * the client, see every row. Before, the worker's Arrow wrote such a table as
 * an empty one (instanceof holds across copies; Arrow's writer does not).
 */
describe('Tables made by a task module bundled with its own apache-arrow', () => {
  it('arrive intact on another worker, in a module consumer, nested in a value, and at the client', async () => {
    // Prepare
    await using cluster = await LocalCluster.start({ nWorkers: 0 });
    await cluster.addWorker({ name: 'wa', resources: { A: 1 } });
    await cluster.addWorker({ name: 'wb', resources: { B: 1 } });
    await using client = await Client.connect(cluster);
    const mod = await client.module(fileURLToPath(new URL('./fixtures/own-arrow-tasks.ts', import.meta.url)));
    const n = 100_000;
    const inlineSummary = (t: { numRows: number; getChild(c: string): { get(i: number): unknown } | null }) => {
      let pxSum = 0;
      let nullNames = 0;
      for (let i = 0; i < t.numRows; i++) {
        pxSum += (t.getChild('px')?.get(i) as number | null) ?? 0;
        if (t.getChild('name')?.get(i) === null) nullNames++;
      }
      return { rows: t.numRows, pxSum, nullNames, venue5: t.getChild('venue')?.get(5), name7: t.getChild('name')?.get(7) };
    };
    let pxSum = 0;
    for (let i = 0; i < n; i++) if (i % 13 !== 0) pxSum += i * 0.25;
    const expected = { rows: n, pxSum, nullNames: Math.ceil(n / 11), venue5: 'XLON', name7: 'SEC7' };

    // Act
    const ownCopy = await client.submitWith({ resources: { A: 1 } }, mod.fn('carriesOwnArrow')).result();
    const made = client.submitWith({ resources: { A: 1 } }, mod.fn('makeTable'), n);
    const onB = await client.submitWith({ resources: { B: 1 } }, inlineSummary, made).result();
    const inModule = await client.submitWith({ resources: { B: 1 } }, mod.fn('summarise'), made).result();
    const atClient = inlineSummary((await made.result()) as never);
    const nested = (await client.submitWith({ resources: { A: 1 } }, mod.fn('wrapped'), 1000).result()) as { label: string; table: { numRows: number; getChild(c: string): { get(i: number): unknown } } };

    // Assess
    expect(ownCopy).toBe(true);
    expect(onB).toEqual(expected);
    expect(inModule).toEqual(expected);
    expect(atClient).toEqual(expected);
    expect(nested.label).toBe('nested');
    expect(nested.table.numRows).toBe(990);
    expect(nested.table.getChild('id').get(0)).toBe(10);
    expect(nested.table.getChild('venue').get(0)).toBe('XNAS');
  });

  it('a forged table from a task fails that task with the broken part named; the worker keeps running', async () => {
    await using cluster = await LocalCluster.start({ nWorkers: 1 });
    await using client = await Client.connect(cluster);
    const forge = () => {
      class Forged {
        schema = { fields: [{ name: 'x', type: { typeId: 2, bitWidth: 12, isSigned: true }, nullable: true }] };
        batches = [];
      }
      Object.defineProperty(Forged.prototype, Symbol.for('apache-arrow/Table'), { value: true });
      return new Forged();
    };
    const plain = () => ({ [Symbol.for('apache-arrow/Table')]: true, batches: [1], numRows: 1, schema: { fields: [] } });

    await expect(client.submit(forge).result()).rejects.toThrow(/schema\.fields\[0\]\.type\.bitWidth: expected 8, 16, 32 or 64, got 12/);
    expect(await client.submit(plain).result()).toEqual({ batches: [1], numRows: 1, schema: { fields: [] } });
    expect(await client.submit((x: number) => x + 1, 1).result()).toBe(2);
  });
});
