import {
  BudgetsClient,
  CreateBudgetCommand,
  CreateNotificationCommand,
  DescribeNotificationsForBudgetCommand,
  DuplicateRecordException,
  UpdateBudgetCommand,
  UpdateNotificationCommand,
  type Budget,
  type BudgetsClientResolvedConfig,
  type Notification,
  type ServiceInputTypes,
  type ServiceOutputTypes,
} from '@aws-sdk/client-budgets';
import { mockClient, type AwsStub } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AwsBudgetKeeper, budgetSubscribers } from '../../../adapters/budgets/aws-budgets.ts';
import { BudgetSyncFailedError } from '../../../adapters/budgets/errors.ts';
import { InMemoryAlertLedger } from '../../../adapters/store/alert-ledger-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runCostReporter } from '../../../control/cost-reporter.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';

/**
 * The AWS Budgets adapter against aws-sdk-client-mock with state: the mock
 * keeps the account's budgets and notifications like the service does
 * (CreateBudget of an existing name → DuplicateRecordException), so the test
 * checks the outcome — one budget per user — not only which calls were made.
 */
const ACCOUNT = '123456789012';

type BudgetsMock = AwsStub<ServiceInputTypes, ServiceOutputTypes, BudgetsClientResolvedConfig>;

class FakeBudgetsAccount {
  readonly budgets = new Map<string, Budget>();
  readonly notifications = new Map<string, Notification[]>();

  install(mock: BudgetsMock) {
    mock.on(CreateBudgetCommand).callsFake((input: { AccountId: string; Budget: Budget; NotificationsWithSubscribers?: { Notification: Notification }[] }) => {
      const name = input.Budget.BudgetName!;
      if (this.budgets.has(name)) {
        throw new DuplicateRecordException({ message: `the budget ${name} already exists`, $metadata: {} });
      }
      this.budgets.set(name, structuredClone(input.Budget));
      this.notifications.set(name, (input.NotificationsWithSubscribers ?? []).map((n) => structuredClone(n.Notification)));
      return {};
    });
    mock.on(UpdateBudgetCommand).callsFake((input: { NewBudget: Budget }) => {
      this.budgets.set(input.NewBudget.BudgetName!, structuredClone(input.NewBudget));
      return {};
    });
    mock.on(DescribeNotificationsForBudgetCommand).callsFake((input: { BudgetName: string }) => ({ Notifications: structuredClone(this.notifications.get(input.BudgetName) ?? []) }));
    mock.on(CreateNotificationCommand).callsFake((input: { BudgetName: string; Notification: Notification }) => {
      this.notifications.set(input.BudgetName, [...(this.notifications.get(input.BudgetName) ?? []), structuredClone(input.Notification)]);
      return {};
    });
    mock.on(UpdateNotificationCommand).callsFake((input: { BudgetName: string; OldNotification: Notification; NewNotification: Notification }) => {
      const list = (this.notifications.get(input.BudgetName) ?? []).map((n) => (n.NotificationType === input.OldNotification.NotificationType ? structuredClone(input.NewNotification) : n));
      this.notifications.set(input.BudgetName, list);
      return {};
    });
  }
}

describe('Class: AwsBudgetKeeper', () => {
  let mock: BudgetsMock;
  let account: FakeBudgetsAccount;
  let keeper: AwsBudgetKeeper;

  beforeEach(() => {
    mock = mockClient(BudgetsClient);
    account = new FakeBudgetsAccount();
    account.install(mock);
    keeper = new AwsBudgetKeeper({
      client: new BudgetsClient({ region: 'us-east-1' }),
      accountId: ACCOUNT,
      forecastThresholdPercent: 100,
      userTagKey: 'user',
      subscribers: budgetSubscribers({ emailDomain: 'example.org', emailTo: [] }),
    });
  });
  afterEach(() => mock.restore());

  it('creating twice makes one budget, filtered by the user tag, with a FORECASTED notification', async () => {
    // Act
    const first = await keeper.ensureUserBudget({ user: 'alice', amountUsd: 2000 });
    const second = await keeper.ensureUserBudget({ user: 'alice', amountUsd: 2000 });

    // Assess
    expect([first.outcome, second.outcome]).toEqual(['created', 'updated']);
    expect([...account.budgets.keys()]).toEqual(['recc-user-alice']);
    expect(account.budgets.get('recc-user-alice')).toEqual({
      BudgetName: 'recc-user-alice',
      BudgetType: 'COST',
      TimeUnit: 'MONTHLY',
      BudgetLimit: { Amount: '2000.00', Unit: 'USD' },
      FilterExpression: { Tags: { Key: 'user', Values: ['alice'], MatchOptions: ['EQUALS'] } },
      Metrics: ['UnblendedCost'],
    });
    expect(account.notifications.get('recc-user-alice')).toEqual([
      { NotificationType: 'FORECASTED', ComparisonOperator: 'GREATER_THAN', Threshold: 100, ThresholdType: 'PERCENTAGE' },
    ]);
    expect(mock.commandCalls(CreateBudgetCommand)[0]?.args[0].input).toMatchObject({
      AccountId: ACCOUNT,
      NotificationsWithSubscribers: [{ Subscribers: [{ SubscriptionType: 'EMAIL', Address: 'alice@example.org' }] }],
    });
    expect(mock.commandCalls(CreateNotificationCommand)).toHaveLength(0);
    expect(mock.commandCalls(UpdateNotificationCommand)).toHaveLength(0);
  });

  it('updates the limit and the notification threshold of an existing budget', async () => {
    await keeper.ensureUserBudget({ user: 'alice', amountUsd: 2000 });
    const changed = new AwsBudgetKeeper({
      client: new BudgetsClient({ region: 'us-east-1' }),
      accountId: ACCOUNT,
      forecastThresholdPercent: 80,
      subscribers: budgetSubscribers({ snsTopicArn: 'arn:aws:sns:us-east-1:123456789012:recc-budgets', emailTo: [] }),
    });

    await changed.ensureUserBudget({ user: 'alice', amountUsd: 3000 });

    expect(account.budgets.size).toBe(1);
    expect(account.budgets.get('recc-user-alice')?.BudgetLimit).toEqual({ Amount: '3000.00', Unit: 'USD' });
    expect(account.notifications.get('recc-user-alice')?.map((n) => n.Threshold)).toEqual([80]);
  });

  it('recreates a FORECASTED notification that was deleted out of band', async () => {
    await keeper.ensureUserBudget({ user: 'alice', amountUsd: 2000 });
    account.notifications.set('recc-user-alice', []);

    await keeper.ensureUserBudget({ user: 'alice', amountUsd: 2000 });

    expect(account.notifications.get('recc-user-alice')).toHaveLength(1);
    expect(mock.commandCalls(CreateNotificationCommand)[0]?.args[0].input).toMatchObject({
      AccountId: ACCOUNT,
      BudgetName: 'recc-user-alice',
      Subscribers: [{ SubscriptionType: 'EMAIL', Address: 'alice@example.org' }],
    });
  });

  it('wraps other errors in BudgetSyncFailedError', async () => {
    mock.on(CreateBudgetCommand).rejects(Object.assign(new Error('denied'), { name: 'AccessDeniedException' }));
    await expect(keeper.ensureUserBudget({ user: 'bob', amountUsd: 10 })).rejects.toBeInstanceOf(BudgetSyncFailedError);
  });

  it('keeps one budget per user across cost-reporter runs', async () => {
    // Prepare
    const store = new InMemoryClusterStore();
    const plan = pricedPlan('c5.xlarge', [2]);
    await storeRunningSince(store, { id: 'c-a', owner: 'alice', plan, workers: 2, since: Date.UTC(2026, 10, 1) });
    await storeRunningSince(store, { id: 'c-b', owner: 'bob', plan, workers: 2, since: Date.UTC(2026, 10, 2) });
    const config = costConfigFromEnv({ RECC_COST_USER_BUDGET_USD: '500', RECC_COST_USER_BUDGETS: 'bob=750' });
    const clock = new ManualClock(Date.UTC(2026, 10, 10));
    const deps = { store, clock, logger: silentLogger, config, ledger: new InMemoryAlertLedger(), notifiers: [], budgets: keeper };

    // Act
    const first = await runCostReporter(deps);
    clock.advance(3_600_000);
    const second = await runCostReporter(deps);

    // Assess
    expect(first.budgets).toEqual([
      { user: 'alice', budgetName: 'recc-user-alice', outcome: 'created' },
      { user: 'bob', budgetName: 'recc-user-bob', outcome: 'created' },
    ]);
    expect(second.budgets.map((b) => b.outcome)).toEqual(['updated', 'updated']);
    expect([...account.budgets.keys()].sort()).toEqual(['recc-user-alice', 'recc-user-bob']);
    expect(account.budgets.get('recc-user-bob')?.BudgetLimit?.Amount).toBe('750.00');
  });
});
