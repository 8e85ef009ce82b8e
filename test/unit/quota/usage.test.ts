import { describe, expect, it } from 'vitest';
import { formatQuota } from '../../../cli/commands/quota.ts';
import { transition, revise } from '../../../shared/lifecycle/machine.ts';
import { QuotaExceededError } from '../../../shared/quota/errors.ts';
import { quotaViolations } from '../../../shared/quota/limits.ts';
import { fromUnits, toUnits, usageDeltas, usageOf, ZERO_USAGE } from '../../../shared/quota/usage.ts';
import { sampleCluster, sampleSpec, t } from '../../support/cluster-records.ts';

describe('Module: shared/quota', () => {
  const counted = () => {
    const { record } = sampleCluster({ id: 'c-u1', owner: 'alice', at: t(0) });
    return { ...record, quotaScopes: ['user:alice', 'group:rates'], spec: sampleSpec({ resources: { GPU: 1 } }) };
  };

  it('counts requested vCPUs, GPUs and the hourly price in exact integer units while live', () => {
    const r = counted();
    expect(usageOf(r)).toEqual({ clusters: 1, vcpus: 2500, gpus: 2, costPerHour: 180_000 });
    const deleting = transition(r, 'DELETING', { actor: 'alice', at: t(1) }).next;
    expect(usageOf(deleting)).toEqual(ZERO_USAGE);
    const { quotaScopes: _none, ...legacy } = r;
    expect(usageOf(legacy)).toEqual(ZERO_USAGE);
  });

  it('derives per-scope deltas from the two records, dropping scopes that do not change', () => {
    const r = counted();
    const up = revise(r, { at: t(1), patch: { desiredWorkers: 4, spec: { ...r.spec, nWorkers: 4 } } });
    const deltas = usageDeltas(r, up);
    expect([...deltas.keys()]).toEqual(['user:alice', 'group:rates']);
    expect(deltas.get('user:alice')).toMatchObject({ clusters: 0, vcpus: 2000, gpus: 2 });
    expect(usageDeltas(r, revise(r, { at: t(2), patch: { name: 'renamed' } })).size).toBe(0);
  });

  it('rounds shown amounts up into units, so rounding never loosens a limit, and back', () => {
    expect(toUnits('vcpus', 0.1 + 0.2)).toBe(300);
    expect(toUnits('costPerHour', 0.1234567)).toBe(123_457);
    expect(fromUnits('costPerHour', 1_500_000)).toBe(1.5);
  });

  it('reports only growing dimensions over their limit', () => {
    const usage = { clusters: 2, vcpus: 4000, gpus: 0, costPerHour: 0 };
    const delta = { clusters: 1, vcpus: -1000, gpus: 1, costPerHour: 10 };
    expect(quotaViolations('user:a', usage, delta, { clusters: 2, vcpus: 1000, gpus: 1 })).toEqual([{ scope: 'user:a', dimension: 'clusters', limit: 2, usage: 2, adds: 1 }]);
    expect(quotaViolations('user:a', usage, delta, undefined)).toEqual([]);
    const err = new QuotaExceededError([{ scope: 'group:rates', dimension: 'costPerHour', limit: 5_000_000, usage: 4_500_000, adds: 1_000_000 }]);
    expect(err.message).toMatch(/^quota exceeded for group rates: limit \$5\.00 \$\/hour, in use \$4\.50, this request adds \$1\.00/);
  });

  it('prints one row per scope and names the full ones', () => {
    const text = formatQuota({
      user: 'alice',
      scopes: [
        { scope: 'user:alice', kind: 'user', name: 'alice', limits: { clusters: 2, vcpus: 10, gpus: null, costPerHour: 5 }, usage: { clusters: 2, vcpus: 4.5, gpus: 0, costPerHour: 0.36 }, available: { clusters: 0, vcpus: 5.5, gpus: null, costPerHour: 4.64 } },
      ],
    });
    expect(text.split('\n')).toEqual([
      'Quotas of alice (a cluster counts against every scope below while REQUESTED, PROVISIONING or RUNNING):',
      'SCOPE       clusters used / limit  vCPUs used / limit  GPUs used / limit  $/hour used / limit',
      'user alice  2 / 2                  4.5 / 10            0 / unlimited      $0.36 / $5.00',
      '',
      'full: user alice: clusters at the limit',
    ]);
  });
});
