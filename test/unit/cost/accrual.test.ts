import { describe, expect, it } from 'vitest';
import { accrue, costChanged, costToDate, hourlyRate, instancesFor, nodeHours } from '../../../shared/cost/accrual.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { t } from '../../support/cluster-records.ts';
import { pricedPlan, PRICE_TABLE } from '../../support/cost-fixtures.ts';
import { recordAt, running } from '../../support/harvest-fixtures.ts';

const at = (minutes: number): number => Date.parse(t(minutes));

function deleted(record: ClusterRecord, deletingAt: number, deletedAt: number): ClusterRecord {
  const d = transition(record, 'DELETING', { actor: 'alice', at: t(deletingAt) }).next;
  return transition(d, 'DELETED', { actor: 'provisioner', at: t(deletedAt) }).next;
}

// Two c5.xlarge nodes (4 + 4 workers): 2 × $0.17 + $0.01 control plane = $0.35/h.
const plan = pricedPlan('c5.xlarge', [4, 4]);

describe('Function: hourlyRate and instancesFor', () => {
  it('uses the plan price when the cluster runs the planned workers', () => {
    expect(instancesFor(plan, 8)).toBe(2);
    expect(hourlyRate(plan, 8)).toBeCloseTo(2 * PRICE_TABLE['c5.xlarge'] + 0.01, 10);
  });

  it('adds whole nodes when scaled up and keeps the scheduler node when scaled down', () => {
    expect(instancesFor(plan, 9)).toBe(3);
    expect(instancesFor(plan, 16)).toBe(4);
    expect(instancesFor(plan, 4)).toBe(1);
    expect(instancesFor(plan, 1)).toBe(1);
    expect(hourlyRate(plan, 16)).toBeCloseTo(4 * 0.17 + 0.01, 10);
  });
});

describe('Function: accrue', () => {
  it('charges node-hours × price from PROVISIONING until now for a live cluster', () => {
    // Prepare: provisioning at minute 10, running at 14; now is minute 100 (1.5 h billed).
    const record = running({ id: 'c-1', provisioningAt: 10, runningAt: 14, plan, spec: { nWorkers: 8, idleTimeoutMinutes: 30 } });

    // Act
    const cost = accrue({ ...record, lastActivityAt: t(90) }, at(100));

    // Assess: 1.5 h × $0.35 = $0.525; projected to the idle reap at minute 120 (+20 min = $0.116667).
    expect(cost).toEqual({ toDate: 0.525, perHour: 0.35, asOf: t(100), projected: 0.641666667, projectedUntil: t(120) });
  });

  it('stops charging at endedAt once the cluster is DELETED', () => {
    const record = deleted(running({ id: 'c-1', provisioningAt: 0, runningAt: 5, plan, spec: { nWorkers: 8 } }), 50, 60);
    expect(accrue(record, at(600))).toEqual({ toDate: 0.35, perHour: 0, asOf: t(600) });
    expect(costToDate(record, at(6000))).toBe(0.35);
  });

  it('charges nothing before PROVISIONING', () => {
    const { record } = recordAt('REQUESTED', { id: 'c-1', plan, spec: { nWorkers: 8 } });
    expect(accrue(record, at(30))).toEqual({ toDate: 0, perHour: 0.35, asOf: t(30) });
  });

  it('accrues incrementally at the old rate, then switches to the new rate after a scale', () => {
    // Prepare: cost stored at minute 60 at $0.35/h; then scaled to 16 workers (4 nodes, $0.69/h).
    const base = running({ id: 'c-1', provisioningAt: 0, plan, spec: { nWorkers: 8, idleTimeoutMinutes: 600 } });
    const record: ClusterRecord = { ...base, desiredWorkers: 16, cost: { toDate: 0.35, perHour: 0.35, asOf: t(60) } };

    // Act
    const at120 = accrue(record, at(120));
    const at180 = accrue({ ...record, cost: at120 }, at(180));

    // Assess
    expect(at120.toDate).toBeCloseTo(0.7, 10);
    expect(at120.perHour).toBeCloseTo(0.69, 10);
    expect(at180.toDate).toBeCloseTo(0.7 + 0.69, 10);
  });

  it('gives the same figure whether accrued once or every five minutes at a constant rate', () => {
    const record = running({ id: 'c-1', provisioningAt: 0, plan, spec: { nWorkers: 8, idleTimeoutMinutes: 600 } });
    let r = record;
    for (let m = 5; m <= 240; m += 5) r = { ...r, cost: accrue(r, at(m)) };
    expect(r.cost?.toDate).toBeCloseTo(accrue(record, at(240)).toDate, 5);
    expect(accrue(record, at(240)).toDate).toBeCloseTo(4 * 0.35, 10);
  });

  it('projects no cost for clusters that are not RUNNING', () => {
    const { record } = recordAt('PROVISIONING', { id: 'c-1', plan });
    expect(accrue(record, at(10), DEFAULT_HARVEST_CONFIG).projected).toBeUndefined();
  });
});

describe('Function: nodeHours', () => {
  it('counts node-hours inside the window only', () => {
    const record = deleted(running({ id: 'c-1', provisioningAt: 0, plan, spec: { nWorkers: 8 } }), 100, 120);
    expect(nodeHours(record, at(60), at(600), at(600))).toBeCloseTo(2 * 1, 10);
  });
});

describe('Function: costChanged', () => {
  it('is true for a first figure, a cent of change or a rate change only', () => {
    const c = { toDate: 1, perHour: 0.35, asOf: t(0) };
    expect(costChanged(undefined, c)).toBe(true);
    expect(costChanged(c, { ...c, toDate: 1.004, asOf: t(1) })).toBe(false);
    expect(costChanged(c, { ...c, toDate: 1.01 })).toBe(true);
    expect(costChanged(c, { ...c, perHour: 0 })).toBe(true);
  });
});
