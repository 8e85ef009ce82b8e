import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { riskForDate, summarize } from '../../../examples/backfill-tasks.ts';
import { windowsFor } from '../../../examples/backfill-job.ts';
import { businessDays, ensureDataset } from '../../../examples/dataset.ts';

const root = mkdtempSync(join(tmpdir(), 'recc-example-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('Function: ensureDataset', () => {
  it('writes one seeded file per business day and reuses a complete dataset', async () => {
    // Act
    const first = await ensureDataset({ dir: join(root, 'a'), securities: 20, years: 0.1 });
    const again = await ensureDataset({ dir: join(root, 'a'), securities: 20, years: 0.1 });
    const twin = await ensureDataset({ dir: join(root, 'b'), securities: 20, years: 0.1 });

    // Assess
    expect(first.created).toBe(true);
    expect(again).toMatchObject({ created: false, dates: first.dates });
    expect(first.dates).toEqual(businessDays('2023-01-02', 26));
    const day = first.dates[5] as string;
    const text = readFileSync(join(first.dir, `date=${day}`, 'prices.csv'), 'utf8');
    expect(text.split('\n')[0]).toBe('symbol,close,volume');
    expect(text.trim().split('\n')).toHaveLength(21);
    expect(readFileSync(join(twin.dir, `date=${day}`, 'prices.csv'), 'utf8')).toBe(text);
  });
});

describe('Function: riskForDate', () => {
  it('finds a minimum-variance portfolio no riskier than equal weights, for every date', async () => {
    // Prepare
    const ds = await ensureDataset({ dir: join(root, 'c'), securities: 40, years: 0.3 });

    // Act
    const days = windowsFor(ds.dates, 20).map((window) => riskForDate({ dataDir: ds.dir, window }));
    const summary = summarize(days);

    // Assess
    expect(days).toHaveLength(ds.dates.length - 19);
    for (const d of days) {
      expect(d.securities).toBe(40);
      expect(d.minVarVol).toBeGreaterThan(0);
      expect(d.minVarVol).toBeLessThanOrEqual(d.equalWeightVol * (1 + 1e-9));
      expect(d.avgCorrelation).toBeGreaterThan(-1);
      expect(d.avgCorrelation).toBeLessThan(1);
    }
    expect(summary).toMatchObject({ days: days.length, from: ds.dates[19], to: ds.dates.at(-1) });
    expect(summary.diversificationRatio).toBeGreaterThanOrEqual(1);
    expect(summarize([...days].reverse())).toEqual(summary);
  });
});

describe('Function: windowsFor', () => {
  it('gives each date with a full lookback its window, oldest first', () => {
    expect(windowsFor(['d1', 'd2', 'd3', 'd4'], 3)).toEqual([
      ['d1', 'd2', 'd3'],
      ['d2', 'd3', 'd4'],
    ]);
  });
});
