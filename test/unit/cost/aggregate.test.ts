import { describe, expect, it } from 'vitest';
import { aggregateCosts, NO_JOB } from '../../../shared/cost/aggregate.ts';
import { forecastMonth, monthOf } from '../../../shared/cost/forecast.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { pricedPlan } from '../../support/cost-fixtures.ts';
import { running } from '../../support/harvest-fixtures.ts';

/**
 * A fixed month (November 2026, 30 days) and a fixed price table:
 *   c5.xlarge  $0.17/h, m5.2xlarge $0.384/h, r5.4xlarge $1.008/h, control plane share $0.01/h.
 * Times are hours after 2026-11-01T00:00:00Z.
 */
const NOV = Date.UTC(2026, 10, 1);
const h = (hours: number): number => NOV + hours * 3_600_000;
const iso = (hours: number): string => new Date(h(hours)).toISOString();

function cluster(input: { id: string; owner: string; job?: string; plan: ReturnType<typeof pricedPlan>; workers: number; from: number; to?: number }): ClusterRecord {
  const base = running({ id: input.id, owner: input.owner, ...(input.job ? { job: input.job } : {}), plan: input.plan, spec: { nWorkers: input.workers, idleTimeoutMinutes: 30 } });
  // Re-stamp the lifecycle onto the November timeline.
  let r: ClusterRecord = { ...base, createdAt: iso(input.from), updatedAt: iso(input.from), lastActivityAt: iso(input.from), provisioningAt: iso(input.from), runningAt: iso(input.from) };
  if (input.to !== undefined) {
    r = transition(r, 'DELETING', { actor: input.owner, at: iso(input.to) }).next;
    r = transition(r, 'DELETED', { actor: 'provisioner', at: iso(input.to) }).next;
  }
  return r;
}

// alice: etl on 1 × c5.xlarge ($0.18/h) for 10 h; train on 2 × r5.4xlarge ($2.026/h) for 5 h, still running.
// bob:   etl on 1 × m5.2xlarge ($0.394/h) for 100 h.
const NOW = h(100);
const records = [
  cluster({ id: 'c-a1', owner: 'alice', job: 'etl', plan: pricedPlan('c5.xlarge', [2]), workers: 2, from: 0, to: 10 }),
  cluster({ id: 'c-a2', owner: 'alice', job: 'train', plan: pricedPlan('r5.4xlarge', [3, 3]), workers: 6, from: 95 }),
  cluster({ id: 'c-b1', owner: 'bob', job: 'etl', plan: pricedPlan('m5.2xlarge', [4]), workers: 4, from: 0, to: 100 }),
  cluster({ id: 'c-b2', owner: 'bob', plan: pricedPlan('c5.xlarge', [2]), workers: 2, from: 50, to: 52 }),
];

describe('Function: aggregateCosts', () => {
  it('groups cost to date by user with node-hours and top clusters', () => {
    // Act
    const summary = aggregateCosts(records, { groupBy: 'user', from: NOV, to: NOW, now: NOW });

    // Assess: bob 100 × 0.394 + 2 × 0.18 = 39.76; alice 10 × 0.18 + 5 × 2.026 = 11.93.
    expect(summary.total).toBe(51.69);
    expect(summary.groups.map((g) => [g.key, g.cost, g.nodeHours, g.clusters])).toEqual([
      ['bob', 39.76, 102, 2],
      ['alice', 11.93, 20, 2],
    ]);
    expect(summary.groups[1]?.perHour).toBe(2.03);
    expect(summary.groups[1]?.top.map((t) => [t.clusterId, t.cost])).toEqual([
      ['c-a2', 10.13],
      ['c-a1', 1.8],
    ]);
    expect(summary).toMatchObject({ groupBy: 'user', currency: 'USD', from: iso(0), to: iso(100), asOf: iso(100) });
  });

  it("groups by job per owner (alice's etl and bob's etl are two jobs), with unnamed jobs together", () => {
    const summary = aggregateCosts(records, { groupBy: 'job', from: NOV, to: NOW, now: NOW });
    expect(summary.groups.map((g) => [g.key, g.owner, g.job, g.cost])).toEqual([
      ['bob/etl', 'bob', 'etl', 39.4],
      ['alice/train', 'alice', 'train', 10.13],
      ['alice/etl', 'alice', 'etl', 1.8],
      [NO_JOB, undefined, undefined, 0.36],
    ]);
    expect(summary.total).toBe(51.69);
  });

  it('keeps odd job names as plain keys: __proto__, constructor, names with a slash', () => {
    const odd = [
      cluster({ id: 'c-p', owner: 'alice', job: '__proto__', plan: pricedPlan('c5.xlarge', [2]), workers: 2, from: 0, to: 10 }),
      cluster({ id: 'c-c', owner: 'bob', job: 'constructor', plan: pricedPlan('c5.xlarge', [2]), workers: 2, from: 0, to: 20 }),
      cluster({ id: 'c-s', owner: 'carol', job: 'a/b', plan: pricedPlan('c5.xlarge', [2]), workers: 2, from: 0, to: 30 }),
    ];
    const summary = aggregateCosts(odd, { groupBy: 'job', from: NOV, to: NOW, now: NOW });
    expect(summary.groups.map((g) => [g.key, g.owner, g.job, g.clusters])).toEqual([
      ['carol/a/b', 'carol', 'a/b', 1],
      ['bob/constructor', 'bob', 'constructor', 1],
      ['alice/__proto__', 'alice', '__proto__', 1],
    ]);
  });

  it('groups by namespace, one per cluster', () => {
    const summary = aggregateCosts(records, { groupBy: 'namespace', from: NOV, to: NOW, now: NOW });
    expect(summary.groups.map((g) => g.key)).toEqual(records.map((r) => r.namespace).sort((a, b) => {
      const cost = (ns: string) => summary.groups.find((g) => g.key === ns)?.cost ?? 0;
      return cost(b) - cost(a) || a.localeCompare(b);
    }));
    expect(summary.groups).toHaveLength(4);
    expect(summary.total).toBe(51.69);
  });

  it('counts only the part of each cluster inside the period', () => {
    // Hours 5..51: c-a1 5 h of 0.18; c-b1 46 h of 0.394; c-b2 1 h of 0.18.
    const summary = aggregateCosts(records, { groupBy: 'user', from: h(5), to: h(51), now: NOW });
    expect(summary.groups.map((g) => [g.key, g.cost])).toEqual([
      ['bob', 18.3],
      ['alice', 0.9],
    ]);
  });

  it('leaves out clusters that cost nothing in the period and are over', () => {
    const summary = aggregateCosts(records, { groupBy: 'user', from: h(60), to: h(90), now: NOW });
    expect(summary.groups.map((g) => [g.key, g.cost, g.clusters])).toEqual([['bob', 11.82, 1]]);
  });
});

describe('Function: forecastMonth', () => {
  it('extrapolates month to date linearly on elapsed days', () => {
    // Nov 16 00:00 UTC: 15 of 30 days elapsed.
    expect(forecastMonth(512.04, h(15 * 24))).toEqual({ month: '2026-11', monthToDate: 512.04, forecast: 1024.08, elapsedDays: 15, daysInMonth: 30 });
  });

  it('floors elapsed time at one day early in the month', () => {
    expect(forecastMonth(10, h(6)).forecast).toBe(300);
  });

  it('knows month lengths', () => {
    expect(monthOf(Date.UTC(2028, 1, 10)).days).toBe(29);
    expect(monthOf(Date.UTC(2026, 11, 31, 23)).id).toBe('2026-12');
  });

  it('forecasts the users of the fixed scenario', () => {
    const summary = aggregateCosts(records, { groupBy: 'user', from: NOV, to: NOW, now: NOW });
    // 100 h = 4.1667 days elapsed: bob 39.76 / 4.1667 × 30 = 286.27.
    expect(forecastMonth(summary.groups[0]?.cost ?? 0, NOW).forecast).toBe(286.27);
  });
});
