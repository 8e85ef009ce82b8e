import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { accrue } from '../../../shared/cost/accrual.ts';
import { aggregateCosts, GROUP_BY } from '../../../shared/cost/aggregate.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { pricedPlan } from '../../support/cost-fixtures.ts';
import { running } from '../../support/harvest-fixtures.ts';
import { t } from '../../support/cluster-records.ts';

/** Properties of cost accrual and aggregation over random clusters and accrual schedules. */
const at = (m: number): number => Date.parse(t(m));

const clusterArb = fc.record({
  owner: fc.constantFrom('alice', 'bob', 'carol'),
  job: fc.constantFrom('etl', 'train', undefined),
  type: fc.constantFrom('c5.xlarge' as const, 'm5.2xlarge' as const, 'r5.4xlarge' as const),
  nodes: fc.integer({ min: 1, max: 4 }),
  start: fc.integer({ min: 0, max: 5000 }),
  duration: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
});

type ClusterInput = { owner: string; job: string | undefined; type: 'c5.xlarge' | 'm5.2xlarge' | 'r5.4xlarge'; nodes: number; start: number; duration: number | undefined };

function build(c: ClusterInput, i: number): ClusterRecord {
  const plan = pricedPlan(c.type, Array.from({ length: c.nodes }, () => 2));
  let r = running({ id: `c-${i}`, owner: c.owner, ...(c.job ? { job: c.job } : {}), createdAt: c.start, provisioningAt: c.start, runningAt: c.start, plan, spec: { nWorkers: 2 * c.nodes, idleTimeoutMinutes: 30 } });
  if (c.duration !== undefined) {
    r = transition(r, 'DELETING', { actor: c.owner, at: t(c.start + c.duration) }).next;
    r = transition(r, 'DELETED', { actor: 'provisioner', at: t(c.start + c.duration) }).next;
  }
  return r;
}

describe('Property: cost accrual', () => {
  it('accruing at any schedule gives the same cost as accruing once, and never decreases', () => {
    fc.assert(
      fc.property(clusterArb, fc.array(fc.integer({ min: 0, max: 12000 }), { maxLength: 30 }), fc.integer({ min: 0, max: 12000 }), (c, stamps, end) => {
        const record = build(c, 0);
        let r = record;
        let last = 0;
        for (const m of [...stamps].sort((a, b) => a - b).filter((m) => m <= end)) {
          r = { ...r, cost: accrue(r, at(m)) };
          expect(r.cost!.toDate).toBeGreaterThanOrEqual(last - 1e-9);
          last = r.cost!.toDate;
        }
        expect(accrue(r, at(end)).toDate).toBeCloseTo(accrue(record, at(end)).toDate, 6);
      }),
      { numRuns: 500 },
    );
  });
});

describe('Property: cost aggregation', () => {
  it('gives the same total whatever the grouping, and splitting the period adds up', () => {
    fc.assert(
      fc.property(fc.array(clusterArb, { minLength: 1, maxLength: 8 }), fc.integer({ min: 0, max: 12000 }), (cs, split) => {
        const records = cs.map(build);
        const now = at(12000);
        const totals = GROUP_BY.map((groupBy) => aggregateCosts(records, { groupBy, from: at(0), to: now, now }).total);
        for (const total of totals) expect(total).toBeCloseTo(totals[0]!, 1);
        const whole = aggregateCosts(records, { groupBy: 'user', from: at(0), to: now, now }).total;
        const a = aggregateCosts(records, { groupBy: 'user', from: at(0), to: at(split), now }).total;
        const b = aggregateCosts(records, { groupBy: 'user', from: at(split), to: now, now }).total;
        // Each group and line is rounded to cents: allow a cent per cluster.
        expect(Math.abs(a + b - whole)).toBeLessThanOrEqual(0.01 * records.length * 2 + 1e-9);
      }),
      { numRuns: 300 },
    );
  });
});
