import { describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { formatCosts, parseSince } from '../../../cli/commands/cost-format.ts';
import { queryCosts } from '../../../control/costs.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { ValidationError } from '../../../shared/core/errors.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';

/** `GET /costs` use case and the `recc cost` formatting, with a fixed clock and price table. */
const NOV = Date.UTC(2026, 10, 1);
const NOV16 = Date.UTC(2026, 10, 16);

async function scenario() {
  const store = new InMemoryClusterStore();
  // alice: 1 × c5.xlarge ($0.18/h) for 15 days = $64.80; bob: 1 × m5.2xlarge ($0.394/h) for 10 days = $94.56.
  await storeRunningSince(store, { id: 'c-a', owner: 'alice', job: 'etl', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
  await storeRunningSince(store, { id: 'c-b', owner: 'bob', job: 'etl', plan: pricedPlan('m5.2xlarge', [4]), workers: 4, since: Date.UTC(2026, 10, 6), idleTimeoutMinutes: 60 * 24 * 60 });
  return { store, clock: new ManualClock(NOV16) };
}

describe('Function: queryCosts', () => {
  it('shows a user only their own clusters', async () => {
    const deps = await scenario();
    const costs = await queryCosts(deps, { user: 'alice', admin: false }, {});
    expect(costs.scope).toBe('own');
    expect(costs.groups.map((g) => [g.key, g.cost])).toEqual([['alice', 64.8]]);
    expect(costs.month).toEqual({ month: '2026-11', monthToDate: 64.8, forecast: 129.6, elapsedDays: 15, daysInMonth: 30 });
    expect(costs.from).toBe(new Date(NOV).toISOString());
    expect(costs.to).toBe(new Date(NOV16).toISOString());
  });

  it('shows an admin everyone, grouped as asked', async () => {
    const deps = await scenario();
    const byUser = await queryCosts(deps, { user: 'root', admin: true }, { groupBy: 'user' });
    const byJob = await queryCosts(deps, { user: 'root', admin: true }, { groupBy: 'job', from: '2026-11-11', to: '2026-11-16T00:00:00Z' });
    expect(byUser.groups.map((g) => [g.key, g.cost])).toEqual([
      ['bob', 94.56],
      ['alice', 64.8],
    ]);
    // 5 days: alice 5 × 24 × 0.18 = 21.60, bob 5 × 24 × 0.394 = 47.28; two users' `etl` are two jobs, each with its owner.
    expect(byJob.groups.map((g) => [g.key, g.owner, g.job, g.cost, g.clusters])).toEqual([
      ['bob/etl', 'bob', 'etl', 47.28, 1],
      ['alice/etl', 'alice', 'etl', 21.6, 1],
    ]);
  });

  it('lists every invalid parameter', async () => {
    const deps = await scenario();
    const error = await queryCosts(deps, { user: 'alice', admin: false }, { groupBy: 'team', from: 'yesterday', to: '2026-13-99' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect((error as ValidationError).details.map((d) => d.path)).toEqual(['groupBy', 'from', 'to']);
  });

  it('refuses a period that ends before it starts', async () => {
    const deps = await scenario();
    const error = await queryCosts(deps, { user: 'alice', admin: false }, { from: '2026-11-10', to: '2026-11-01' }).catch((e: unknown) => e);
    expect((error as ValidationError).details).toEqual([{ path: 'from', message: 'must be before to' }]);
  });
});

describe('Function: parseSince', () => {
  it('accepts durations, month and ISO dates', () => {
    expect(parseSince('7d', NOV16)).toBe('2026-11-09T00:00:00.000Z');
    expect(parseSince('36h', NOV16)).toBe('2026-11-14T12:00:00.000Z');
    expect(parseSince('month', NOV16 + 5_000)).toBe('2026-11-01T00:00:00.000Z');
    expect(parseSince('2026-11-03', NOV16)).toBe('2026-11-03T00:00:00.000Z');
  });

  it('rejects anything else with a ValidationError naming --since', () => {
    expect(() => parseSince('last week', NOV16)).toThrow(ValidationError);
    try {
      parseSince('0d', NOV16);
    } catch (err) {
      expect((err as ValidationError).details[0]?.path).toBe('since');
    }
  });
});

describe('Function: parseSince (for --until)', () => {
  it('names --until in the error when given flag until', () => {
    // Act
    const act = () => parseSince('soon', NOV16, 'until');

    // Assess
    expect(act).toThrow(/invalid --until/);
    try {
      act();
    } catch (err) {
      expect((err as ValidationError).details[0]?.path).toBe('until');
    }
  });
});

describe('Function: formatCosts', () => {
  it('prints a table with totals and the month forecast', async () => {
    const deps = await scenario();
    const text = formatCosts(await queryCosts(deps, { user: 'root', admin: true }, {}));
    expect(text.split('\n')).toEqual([
      'Costs by user, 2026-11-01T00:00:00.000Z → 2026-11-16T00:00:00.000Z (all users)',
      'USER   COST     NODE-HOURS  CLUSTERS  $/HOUR NOW  TOP CLUSTER',
      'bob    $94.56   240.00      1         $0.39       c-b ($94.56)',
      'alice  $64.80   360.00      1         $0.18       c-a ($64.80)',
      'TOTAL  $159.36  600.00',
      'Month 2026-11: to date $159.36, forecast $318.72 (linear on 15 of 30 days)',
    ]);
  });
});
