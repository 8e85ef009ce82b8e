import { describe, expect, it } from 'vitest';
import { InMemoryAlertLedger } from '../../../adapters/store/alert-ledger-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runCostReporter } from '../../../control/cost-reporter.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { Notification, Notifier } from '../../../shared/ports/notifier.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';

/** A Notifier that keeps what it was asked to send (a port fake, not a stub of recc code). */
class RecordingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  constructor(readonly channel: string) {}
  async send(n: Notification): Promise<void> {
    this.sent.push(n);
  }
}

const NOV = Date.UTC(2026, 10, 1);

describe('Function: runCostReporter', () => {
  it('stores cost to date on live records and the final cost on ended ones, once', async () => {
    // Prepare: alice RUNNING since Nov 1 (1 × c5.xlarge, $0.18/h); bob's cluster ran 10 h and was deleted.
    const store = new InMemoryClusterStore();
    await storeRunningSince(store, { id: 'c-a', owner: 'alice', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
    const b = await storeRunningSince(store, { id: 'c-b', owner: 'bob', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV });
    const d = transition(b, 'DELETING', { actor: 'bob', at: new Date(NOV + 10 * 3_600_000).toISOString() });
    const deleting = await store.put(d.next, b.version, d.change);
    const e = transition(deleting, 'DELETED', { actor: 'provisioner', at: new Date(NOV + 10 * 3_600_000).toISOString() });
    await store.put(e.next, deleting.version, e.change);
    const clock = new ManualClock(NOV + 24 * 3_600_000);
    const deps = { store, clock, logger: silentLogger, config: costConfigFromEnv({}), ledger: new InMemoryAlertLedger(), notifiers: [] };

    // Act
    const first = await runCostReporter(deps);
    const again = await runCostReporter(deps);

    // Assess
    expect(first.costsUpdated).toBe(2);
    expect(again.costsUpdated).toBe(0);
    const a = await store.get('c-a');
    const bob = await store.get('c-b');
    expect(a?.cost).toMatchObject({ toDate: 4.32, perHour: 0.18, asOf: new Date(NOV + 24 * 3_600_000).toISOString() });
    expect(a?.cost?.projected).toBeGreaterThan(4.32);
    expect(bob?.cost).toEqual({ toDate: 1.8, perHour: 0, asOf: new Date(NOV + 24 * 3_600_000).toISOString() });
    expect(first.byUser.groups.map((g) => [g.key, g.cost])).toEqual([
      ['alice', 4.32],
      ['bob', 1.8],
    ]);
    expect(first.byJob.total).toBe(6.12);
  });

  it('alerts per namespace as well as per user, once per channel', async () => {
    const store = new InMemoryClusterStore();
    await storeRunningSince(store, { id: 'c-a', owner: 'alice', plan: pricedPlan('r5.4xlarge', [3, 3]), workers: 6, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
    const slack = new RecordingNotifier('slack');
    const email = new RecordingNotifier('email');
    const config = costConfigFromEnv({ RECC_COST_USER_BUDGET_USD: '2000', RECC_COST_NAMESPACE_BUDGET_USD: '500', RECC_COST_ALERT_THRESHOLDS: '100%', RECC_USER_EMAIL_DOMAIN: 'example.org', RECC_SMTP_HOST: '127.0.0.1', RECC_ALERT_EMAIL_FROM: 'recc@example.org' });
    const deps = { store, clock: new ManualClock(Date.UTC(2026, 10, 16)), logger: silentLogger, config, ledger: new InMemoryAlertLedger(), notifiers: [slack, email] };

    const report = await runCostReporter(deps);
    await runCostReporter(deps);

    // MTD $729.36, forecast $1,458.72: the namespace ($500 budget) crosses on both measures, alice ($2,000) on neither.
    expect(report.alerts.map((a) => [a.scope, a.group, a.measure, a.threshold, a.channel, a.outcome])).toEqual([
      ['namespace', 'recc-alice-a', 'month-to-date', 500, 'slack', 'sent'],
      ['namespace', 'recc-alice-a', 'month-to-date', 500, 'email', 'sent'],
      ['namespace', 'recc-alice-a', 'forecast', 500, 'slack', 'sent'],
      ['namespace', 'recc-alice-a', 'forecast', 500, 'email', 'sent'],
    ]);
    expect(slack.sent.map((n) => n.subject)).toEqual([
      'recc cost alert: namespace recc-alice-a: month to date $729.36 > $500 threshold on a $500 budget',
      'recc cost alert: namespace recc-alice-a: forecasted month $1,458.72 > $500 threshold on a $500 budget',
    ]);
    expect(email.sent).toHaveLength(2);
    expect(email.sent.map((n) => n.to)).toEqual([['alice@example.org'], ['alice@example.org']]);
  });
});
