import {
  BudgetsClient,
  CreateBudgetCommand,
  CreateNotificationCommand,
  DescribeNotificationsForBudgetCommand,
  UpdateBudgetCommand,
  UpdateNotificationCommand,
  type Budget,
  type Notification as BudgetNotification,
  type Subscriber,
} from '@aws-sdk/client-budgets';
import type { BudgetKeeper, UserBudgetRequest, UserBudgetResult } from '../../shared/ports/budgets.ts';
import { userEmailAddress } from '../../shared/cost/recipients.ts';
import { BudgetSyncFailedError } from './errors.ts';

/**
 * One AWS Budget per user: a monthly COST budget named `recc-user-<user>`,
 * filtered by the user's cost-allocation tag (`FilterExpression` on tag
 * `userTagKey` = user; every AWS resource of a cluster carries it, see
 * `shared/definition/render.ts`), with a FORECASTED notification at
 * `forecastThresholdPercent` % of the limit.
 *
 * Idempotent create-or-update: `CreateBudget` (budget and notification in one
 * call); on `DuplicateRecordException` → `UpdateBudget`, then the FORECASTED
 * notification is created if missing or updated if its threshold differs.
 * Calling it any number of times leaves exactly one budget per user.
 */
export interface AwsBudgetKeeperOptions {
  client: BudgetsClient;
  accountId: string;
  forecastThresholdPercent: number;
  /** Cost-allocation tag key that names the user. @default 'user' */
  userTagKey?: string;
  /** Notification subscribers for a user: an SNS topic or e-mail addresses. */
  subscribers: (user: string) => Subscriber[];
  /** @default 'recc-user-' */
  namePrefix?: string;
}

export class AwsBudgetKeeper implements BudgetKeeper {
  constructor(private readonly options: AwsBudgetKeeperOptions) {}

  budgetName(user: string): string {
    // Budget names may not contain ':' or '\'.
    return `${this.options.namePrefix ?? 'recc-user-'}${user.replace(/[:\\]/g, '_')}`;
  }

  budgetFor(request: UserBudgetRequest): Budget {
    return {
      BudgetName: this.budgetName(request.user),
      BudgetType: 'COST',
      TimeUnit: 'MONTHLY',
      BudgetLimit: { Amount: request.amountUsd.toFixed(2), Unit: 'USD' },
      FilterExpression: {
        Tags: { Key: this.options.userTagKey ?? 'user', Values: [request.user], MatchOptions: ['EQUALS'] },
      },
      Metrics: ['UnblendedCost'],
    };
  }

  notification(): BudgetNotification {
    return {
      NotificationType: 'FORECASTED',
      ComparisonOperator: 'GREATER_THAN',
      Threshold: this.options.forecastThresholdPercent,
      ThresholdType: 'PERCENTAGE',
    };
  }

  async ensureUserBudget(request: UserBudgetRequest): Promise<UserBudgetResult> {
    const { client, accountId } = this.options;
    const budget = this.budgetFor(request);
    const name = budget.BudgetName ?? this.budgetName(request.user);
    const subscribers = this.options.subscribers(request.user);
    try {
      await client.send(
        new CreateBudgetCommand({
          AccountId: accountId,
          Budget: budget,
          NotificationsWithSubscribers: [{ Notification: this.notification(), Subscribers: subscribers }],
        }),
      );
      return { budgetName: name, outcome: 'created' };
    } catch (err) {
      if ((err as { name?: string }).name !== 'DuplicateRecordException') {
        throw new BudgetSyncFailedError(name, 'could not be created', { cause: err });
      }
    }
    try {
      await client.send(new UpdateBudgetCommand({ AccountId: accountId, NewBudget: budget }));
      await this.ensureNotification(name, subscribers);
    } catch (err) {
      if (err instanceof BudgetSyncFailedError) throw err;
      throw new BudgetSyncFailedError(name, 'could not be updated', { cause: err });
    }
    return { budgetName: name, outcome: 'updated' };
  }

  private async ensureNotification(budgetName: string, subscribers: Subscriber[]): Promise<void> {
    const { client, accountId } = this.options;
    const wanted = this.notification();
    const existing: BudgetNotification[] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new DescribeNotificationsForBudgetCommand({ AccountId: accountId, BudgetName: budgetName, ...(nextToken ? { NextToken: nextToken } : {}) }),
      );
      existing.push(...(page.Notifications ?? []));
      nextToken = page.NextToken;
    } while (nextToken);
    const forecasted = existing.find((n) => n.NotificationType === 'FORECASTED');
    if (!forecasted) {
      await client.send(new CreateNotificationCommand({ AccountId: accountId, BudgetName: budgetName, Notification: wanted, Subscribers: subscribers }));
      return;
    }
    if (
      forecasted.Threshold !== wanted.Threshold ||
      forecasted.ComparisonOperator !== wanted.ComparisonOperator ||
      (forecasted.ThresholdType ?? 'PERCENTAGE') !== wanted.ThresholdType
    ) {
      await client.send(
        new UpdateNotificationCommand({ AccountId: accountId, BudgetName: budgetName, OldNotification: forecasted, NewNotification: wanted }),
      );
    }
  }
}

/** Subscribers from configuration: the SNS topic, else `<user>@<domain>` (plain mailbox names only), else the alert recipients. */
export function budgetSubscribers(config: { snsTopicArn?: string; emailDomain?: string; emailTo: readonly string[] }): (user: string) => Subscriber[] {
  return (user) => {
    if (config.snsTopicArn) return [{ SubscriptionType: 'SNS', Address: config.snsTopicArn }];
    // A crafted owner never becomes a subscriber address: such a budget notifies the configured recipients.
    const own = config.emailDomain ? userEmailAddress(user, config.emailDomain) : undefined;
    const emails = own !== undefined ? [own] : [...config.emailTo];
    return emails.slice(0, 10).map((Address) => ({ SubscriptionType: 'EMAIL' as const, Address }));
  };
}
