import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from '../../../client/index.ts';
import { runCombined, runCombinedLocally, sameSectors } from '../../../examples/combined.ts';
import { runDataframe, runLocally, sameSummary, type TradesSpec } from '../../../examples/dataframe.ts';

/**
 * Issue 15 #4: the dataframe and combined examples at small sizes on a real
 * local cluster equal the same computation in one process.
 */

let cluster: LocalCluster;

beforeAll(async () => {
  cluster = await LocalCluster.start({ nWorkers: 2 });
});

afterAll(async () => {
  await cluster?.close();
});

const spec: TradesSpec = { rows: 40_000, securities: 150, days: 60, partitions: 6 };

describe('examples', () => {
  it('dataframe.ts: setIndex, groupBy().apply rolling mean and groupBy().agg per date equal the single-process run', async () => {
    const { daily } = await runDataframe(cluster, spec);
    const local = runLocally(spec);
    expect(daily.length).toBe(60);
    expect(daily.reduce((n, d) => n + d.trades, 0)).toBe(spec.rows);
    expect(sameSummary(daily, local)).toBe(true);
  });

  it('combined.ts: a client-side reference table joined with a cluster aggregation equals the single-process run', async () => {
    const { sectors } = await runCombined(cluster, spec);
    const local = runCombinedLocally(spec);
    expect(sectors.length).toBe(7);
    expect(sectors.reduce((n, s) => n + s.securities, 0)).toBe(spec.securities);
    expect(sameSectors(sectors, local)).toBe(true);
  });
});
