import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SlackNotifier } from '../../../adapters/notify/slack.ts';
import { DynamoDbAlertLedger } from '../../../adapters/store/alert-ledger-dynamodb.ts';
import { createTable } from '../../../adapters/store/dynamodb-table.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runCostReporter, type CostReporterDeps } from '../../../control/cost-reporter.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';
import { makeDocumentClient, startDynalite, uniqueTableName, type DynamoDbEmulator } from '../../support/dynamodb.ts';
import { startHttpCapture, type HttpCapture } from '../../support/notify-capture.ts';

/**
 * Slack alerts from the cost reporter reach a local HTTP capture server
 * exactly once per threshold and period. The dedupe state lives in the
 * DynamoDB alert ledger (dynalite), as on AWS.
 *
 * Scenario: alice runs 2 × r5.4xlarge (6 workers, $2.016 EC2 + $0.01 = $2.026/h)
 * from 2026-11-01 00:00 UTC; her budget is $2,000 and the threshold $1,000.
 */
const day = (d: number, hour = 0): number => Date.UTC(2026, 10, d, hour);

describe('Class: SlackNotifier (through runCostReporter)', () => {
  let dynamo: DynamoDbEmulator;
  let capture: HttpCapture;
  let deps: CostReporterDeps;
  let clock: ManualClock;
  let tableName: string;

  beforeAll(async () => {
    dynamo = await startDynalite();
  });
  afterAll(async () => {
    await dynamo?.stop();
  });

  beforeEach(async () => {
    capture = await startHttpCapture();
    clock = new ManualClock(day(16));
    const store = new InMemoryClusterStore();
    await storeRunningSince(store, { id: 'c-train', owner: 'alice', job: 'train', plan: pricedPlan('r5.4xlarge', [3, 3]), workers: 6, since: day(1), idleTimeoutMinutes: 60 * 24 * 60 });
    const client = makeDocumentClient(dynamo.endpoint);
    tableName = uniqueTableName('recc-alerts');
    await createTable(client, tableName);
    const config = costConfigFromEnv({
      RECC_COST_USER_BUDGET_USD: '2000',
      RECC_COST_ALERT_THRESHOLDS: '1000',
      RECC_COST_ALERT_SCOPES: 'user',
      RECC_SLACK_WEBHOOK_URL: capture.url,
    });
    deps = {
      store,
      clock,
      logger: silentLogger,
      config,
      ledger: new DynamoDbAlertLedger({ client, tableName, now: () => clock.now() }),
      notifiers: [new SlackNotifier({ webhookUrl: config.slackWebhookUrl! })],
    };
  });
  afterEach(async () => {
    await capture.close();
  });

  const texts = (): string[] => capture.requests.map((r) => (JSON.parse(r.body) as { text: string }).text.split('\n')[0] ?? '');

  it('posts each alert exactly once per threshold and period', async () => {
    // Act: Nov 16 (15 days: MTD $729.36, forecast $1,458.72), run three times.
    const first = await runCostReporter(deps);
    clock.advance(3_600_000);
    await runCostReporter(deps);
    await runCostReporter(deps);

    // Assess
    expect(first.alerts.map((a) => [a.group, a.measure, a.threshold, a.outcome])).toEqual([['alice', 'forecast', 1000, 'sent']]);
    expect(capture.requests).toHaveLength(1);
    expect(capture.requests[0]).toMatchObject({ method: 'POST', path: '/services/T000/B000/XXXX', headers: { 'content-type': 'application/json' } });
    expect(texts()).toEqual(['recc cost alert: user alice: forecasted month $1,458.72 > $1,000 threshold on a $2,000 budget']);
    const body = JSON.parse(capture.requests[0]!.body) as { text: string };
    expect(body.text).toContain('Month to date $729.36 after 15 of 30 days; forecast $1,458.72');
    expect(body.text).toContain('c-train c-train (alice, recc-alice-train, job train, RUNNING): $729.36 this month, $2.03/h now');

    // Act: Nov 25, month to date crosses $1,000 too (24 days × 24 h × $2.026 = $1,166.98).
    clock.set(day(25));
    await runCostReporter(deps);
    await runCostReporter(deps);

    // Assess: one more message, for the month-to-date measure.
    expect(texts()).toEqual([
      'recc cost alert: user alice: forecasted month $1,458.72 > $1,000 threshold on a $2,000 budget',
      'recc cost alert: user alice: month to date $1,166.98 > $1,000 threshold on a $2,000 budget',
    ]);

    // Act: a new period (Dec 2, one day: MTD $48.62, forecast $1,507.22).
    clock.set(Date.UTC(2026, 11, 2));
    await runCostReporter(deps);
    await runCostReporter(deps);

    // Assess
    expect(texts()).toHaveLength(3);
    expect(texts()[2]).toBe('recc cost alert: user alice: forecasted month $1,507.22 > $1,000 threshold on a $2,000 budget');
  });

  it('keeps the dedupe state in DynamoDB, so a new reporter instance does not send again', async () => {
    await runCostReporter(deps);
    const fresh: CostReporterDeps = {
      ...deps,
      ledger: new DynamoDbAlertLedger({ client: makeDocumentClient(dynamo.endpoint), tableName, now: () => clock.now() }),
      notifiers: [new SlackNotifier({ webhookUrl: capture.url })],
    };

    const report = await runCostReporter(fresh);

    expect(report.alerts.map((a) => a.outcome)).toEqual(['already-sent']);
    expect(capture.requests).toHaveLength(1);
  });

  it('retries an alert the webhook refused on the next run, and delivers it once', async () => {
    capture.respondWith.push(500);

    const failed = await runCostReporter(deps);
    const retried = await runCostReporter(deps);
    const after = await runCostReporter(deps);

    expect(failed.alerts.map((a) => [a.outcome, a.error])).toEqual([['failed', 'slack notification failed: the webhook answered 500 (invalid_payload)']]);
    expect(retried.alerts.map((a) => a.outcome)).toEqual(['sent']);
    expect(after.alerts.map((a) => a.outcome)).toEqual(['already-sent']);
    expect(capture.requests).toHaveLength(2);
  });

  it('sends once when two reporters run at the same time', async () => {
    await Promise.all([runCostReporter(deps), runCostReporter({ ...deps, notifiers: [new SlackNotifier({ webhookUrl: capture.url })] })]);
    expect(capture.requests).toHaveLength(1);
  });
});
