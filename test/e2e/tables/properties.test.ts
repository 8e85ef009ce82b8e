import fc from 'fast-check';
import type { Table } from 'apache-arrow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, LocalCluster } from '../../../client/index.ts';
import { compareValues } from '../../../shared/shuffle/ranges.ts';
import { groupsOf, round, rowsArb, rowsOf, sortedJson, tableOfRows, type Row } from './reference.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 15: distributed table operations equal the same operations in one
 * process, row for row after sorting, on random tables (nulls everywhere, a
 * key holding half the rows, names like `constructor`), with one partition,
 * empty partitions and more partitions than rows. Real scheduler and worker
 * processes; shuffles go worker to worker.
 */

let cluster: LocalCluster;
let client: Client;

beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2, threadsPerWorker: 1 });
  client = await Client.connect(cluster);
});

afterAll(async () => {
  await client?.close();
  await cluster?.close();
});

/** Per group: its key, row count and the sum of non-null values (an inline function: no captured variables). */
function perGroup(g: Table, ctx: { arrow: typeof import('apache-arrow'); key?: Record<string, unknown> }): Table {
  const values = g.getChild('value');
  let total = 0;
  for (let i = 0; i < g.numRows; i++) total += (values?.get(i) as number | null) ?? 0;
  const a = ctx.arrow;
  return new a.Table({
    key: a.vectorFromArray([ctx.key?.key ?? null], new a.Utf8()),
    n: a.vectorFromArray([g.numRows], new a.Int32()),
    total: a.vectorFromArray([total], new a.Float64()),
  });
}

const cases = fc.record({ rows: rowsArb(120), npartitions: fc.integer({ min: 1, max: 12 }) });
const RUNS = 6;

describe('DistributedTable against a single-process reference', () => {
  it('groupBy(key).apply equals grouping the rows here (hash shuffle)', async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ rows, npartitions }) => {
        const t = client.fromTable(tableOfRows(rows), { npartitions });
        const got = rowsOf(await t.groupBy('key').apply(perGroup).toTable()).map((r) => ({ ...r, total: round(r.total as number) }));
        const want = [...groupsOf(rows, ['key'])].map(([, g]) => ({ key: g[0]?.key ?? null, n: g.length, total: round(g.reduce((s, r) => s + (r.value ?? 0), 0)) }));
        expect(sortedJson(got)).toEqual(sortedJson(want));
      }),
      { numRuns: RUNS },
    );
  });

  it('the same shuffle computed again after its results were released gives the same rows (a new run, not a refused one)', async () => {
    /* toTable() releases what it computed, so the scheduler forgets the shuffle; the second call builds the
       same graph (same keys, same shuffle id). Its shards must not be refused as those of the forgotten run. */
    const rows: Row[] = Array.from({ length: 60 }, (_, i) => ({ key: `k${i % 7}`, k2: (i * 37) % 11, value: i }));
    const t = await client.fromTable(tableOfRows(rows), { npartitions: 4 }).persist();
    const want = [...groupsOf(rows, ['key'])].map(([, g]) => ({ key: g[0]?.key ?? null, n: g.length, total: round(g.reduce((s, r) => s + (r.value ?? 0), 0)) }));
    for (let round_ = 0; round_ < 3; round_++) {
      const got = rowsOf(await t.groupBy('key').apply(perGroup).toTable()).map((r) => ({ ...r, total: round(r.total as number) }));
      expect(sortedJson(got)).toEqual(sortedJson(want));
      const indexed = rowsOf(await t.setIndex('k2', { divisions: [0, 5, 10] }).toTable());
      expect(sortedJson(indexed)).toEqual(sortedJson(rows as unknown as Array<Record<string, unknown>>));
    }
  });

  it('release() lets the workers drop a persisted table; reading it or an uncomputed table derived from it then fails clearly', async () => {
    const rows: Row[] = Array.from({ length: 40 }, (_, i) => ({ key: `k${i % 5}`, k2: i, value: i }));
    const source = client.fromTable(tableOfRows(rows), { npartitions: 3 }).select(['key', 'value']);
    const kept = await source.persist();
    const keys = ((await kept.parts()) as Array<{ key: string }>).map((f) => f.key);
    const computed = rowsOf(await kept.groupBy('key').apply(perGroup).toTable());
    expect(computed).toHaveLength(5);
    const derived = kept.groupBy('key').apply(perGroup);
    await source.release(); // the table persist() was called on releases what persist() kept
    await source.release(); // idempotent
    await expect(kept.parts()).rejects.toMatchObject({ name: 'TableReleasedError' });
    await expect(derived.toTable()).rejects.toThrow(/persisted partitions were released/);
    // The scheduler forgets every partition: each key's story ends in forgotten.
    for (const key of keys) {
      const story = await waitFor(async () => {
        const s = await client.story(key);
        return s.at(-1)?.to === 'forgotten' ? s : undefined;
      }, { what: `partition ${key} to be forgotten` });
      expect(story.at(-1)?.to).toBe('forgotten');
    }
    // The source is lazy again: persisting it computes the partitions anew.
    const again = await source.persist();
    expect(sortedJson(rowsOf(await again.toTable()))).toEqual(sortedJson(rows.map((r) => ({ key: r.key, value: r.value }))));
    await again.release();
  });

  it('setIndex(k2) holds every row once, sorted across partitions (sample pass + range shuffle)', async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ rows, npartitions }) => {
        const t = client.fromTable(tableOfRows(rows), { npartitions }).setIndex('k2');
        const out = rowsOf(await t.toTable());
        expect(sortedJson(out)).toEqual(sortedJson(rows as unknown as Array<Record<string, unknown>>));
        for (let i = 1; i < out.length; i++) expect(compareValues(out[i - 1]?.k2, out[i]?.k2)).toBeLessThanOrEqual(0);
        if (rows.some((r) => r.k2 !== null)) expect(t.divisions?.length).toBeGreaterThanOrEqual(2);
      }),
      { numRuns: RUNS },
    );
  });

  it('groupBy(key).agg equals aggregating here (tree reduction)', async () => {
    await fc.assert(
      fc.asyncProperty(cases, async ({ rows, npartitions }) => {
        const t = client.fromTable(tableOfRows(rows), { npartitions });
        const got = rowsOf(await t.groupBy('key').agg({ value: ['sum', 'count', 'min', 'max', 'mean'] }).toTable()).map((r) => ({
          ...r,
          value_sum: round(r.value_sum as number),
          value_mean: round(r.value_mean as number),
        }));
        const want = [...groupsOf(rows, ['key'])].map(([, g]) => {
          const vs = g.map((r) => r.value).filter((v): v is number => v !== null);
          return {
            key: g[0]?.key ?? null,
            value_sum: round(vs.reduce((a, b) => a + b, 0)),
            value_count: vs.length,
            value_min: vs.length ? Math.min(...vs) : null,
            value_max: vs.length ? Math.max(...vs) : null,
            value_mean: vs.length ? round(vs.reduce((a, b) => a + b, 0) / vs.length) : null,
          };
        });
        expect(sortedJson(got)).toEqual(sortedJson(want));
      }),
      { numRuns: RUNS },
    );
  });

  it('filter, select, mapPartitions and repartition equal the same steps here, keeping row order', async () => {
    await fc.assert(
      fc.asyncProperty(cases, fc.integer({ min: 1, max: 7 }), async ({ rows, npartitions }, n) => {
        const t = client
          .fromTable(tableOfRows(rows), { npartitions })
          .filter((r: Row) => r.key !== 'HOT')
          .mapPartitions((p: Table, ctx: { arrow: typeof import('apache-arrow') }) => {
            const k2 = p.getChild('k2');
            const doubled: Array<number | null> = [];
            for (let i = 0; i < p.numRows; i++) doubled.push(k2?.get(i) === null ? null : (k2?.get(i) as number) * 2);
            return p.select(['key', 'value']).assign(new ctx.arrow.Table({ k4: ctx.arrow.vectorFromArray(doubled, new ctx.arrow.Int32()) }));
          })
          .select(['k4', 'key'])
          .repartition(n);
        const got = rowsOf(await t.toTable());
        const want = rows.filter((r) => r.key !== 'HOT').map((r) => ({ k4: r.k2 === null ? null : r.k2 * 2, key: r.key }));
        expect(got.map((r) => JSON.stringify(r))).toEqual(want.map((r) => JSON.stringify(r)));
        expect((await t.persist()).npartitions).toBe(n);
      }),
      { numRuns: RUNS },
    );
  });

  it('join equals joining here, broadcast and shuffled', async () => {
    await fc.assert(
      fc.asyncProperty(cases, rowsArb(30), fc.boolean(), async ({ rows, npartitions }, rightRows, broadcast) => {
        const left = client.fromTable(tableOfRows(rows), { npartitions });
        const right = client.fromTable(tableOfRows(rightRows), { npartitions: 3 }).select(['key', 'value']);
        const got = rowsOf(await left.join(right, 'key', { broadcastBytes: broadcast ? undefined : 0 }).toTable());
        const want: Array<Record<string, unknown>> = [];
        for (const l of rows) {
          if (l.key === null) continue;
          for (const r of rightRows) if (r.key === l.key) want.push({ key: l.key, k2: l.k2, value: l.value, value_right: r.value });
        }
        expect(sortedJson(got)).toEqual(sortedJson(want));
      }),
      { numRuns: RUNS },
    );
  });

  it('head(n) returns the first rows in order', async () => {
    const rows = fc.sample(rowsArb(80), { numRuns: 1, seed: 7 })[0] as Row[];
    const t = client.fromTable(tableOfRows(rows), { npartitions: 9 });
    expect(rowsOf(await t.head(10))).toEqual(rows.slice(0, 10).map((r) => ({ ...r })));
  });
});
