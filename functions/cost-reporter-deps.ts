import { BudgetsClient } from '@aws-sdk/client-budgets';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { AwsBudgetKeeper, budgetSubscribers } from '../adapters/budgets/aws-budgets.ts';
import { notifiersFromConfig } from '../adapters/notify/index.ts';
import { DynamoDbAlertLedger } from '../adapters/store/alert-ledger-dynamodb.ts';
import { DynamoDbJobStore } from '../adapters/store/jobs-dynamodb.ts';
import { dynamoDbStoreConfigFromEnv } from '../adapters/store/config.ts';
import { DynamoDbClusterStore } from '../adapters/store/dynamodb.ts';
import type { CostReporterHandlerDeps } from './cost-reporter.ts';
import { PricingClient } from '@aws-sdk/client-pricing';
import { DynamoDbPriceCache, PRICING_REGION, refreshPricesIfStale } from '../adapters/pricing/price-list.ts';
import { systemClock } from '../shared/core/clock.ts';
import type { Env } from '../shared/core/env.ts';
import { costConfigFromEnv, describeCostConfig } from '../shared/cost/config.ts';
import { harvestConfigFromEnv } from '../shared/harvest/config.ts';
import { powertoolsLogger } from './commons/logger.ts';

/**
 * Build the cost reporter's dependencies from the environment, once per cold
 * start: the DynamoDB store and alert ledger (same table), the notifiers the
 * configuration asks for (Slack, SMTP or SES), and the AWS Budgets keeper
 * when `RECC_BUDGETS_ENABLED`. Every setting is validated first
 * (`costConfigFromEnv`, `harvestConfigFromEnv`, `dynamoDbStoreConfigFromEnv`).
 */
export async function costReporterDepsFromEnv(env: Env): Promise<CostReporterHandlerDeps> {
  const storeConfig = dynamoDbStoreConfigFromEnv(env);
  const config = costConfigFromEnv(env);
  const harvest = harvestConfigFromEnv(env);
  const logger = powertoolsLogger({ serviceName: 'recc-cost-reporter' });
  const client = new DynamoDBClient({ region: storeConfig.region, ...(storeConfig.endpoint ? { endpoint: storeConfig.endpoint } : {}) });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  const budgets = config.budgets
    ? new AwsBudgetKeeper({
        client: new BudgetsClient({ region: 'us-east-1' }),
        accountId: config.budgets.accountId,
        namePrefix: config.budgets.namePrefix,
        forecastThresholdPercent: config.budgets.forecastThresholdPercent,
        userTagKey: config.budgets.userTagKey,
        subscribers: budgetSubscribers(config.budgets),
      })
    : undefined;
  logger.info('cost reporter configured', describeCostConfig(config));
  return {
    store: new DynamoDbClusterStore(doc, storeConfig),
    clock: systemClock,
    logger,
    config,
    harvest,
    ledger: new DynamoDbAlertLedger({ client: doc, tableName: storeConfig.tableName }),
    // Scheduled jobs on the same table: job budgets come from the clusters; failed runs are alerted once each.
    jobs: new DynamoDbJobStore(doc, { tableName: storeConfig.tableName }),
    notifiers: await notifiersFromConfig(config, { region: storeConfig.region }),
    ...(budgets ? { budgets } : {}),
    // The Price List API answers in us-east-1 only; prices are cached for the stage's region.
    refreshPrices: () =>
      refreshPricesIfStale({
        pricing: new PricingClient({ region: PRICING_REGION }),
        cache: new DynamoDbPriceCache({ client: doc, tableName: storeConfig.tableName }),
        region: storeConfig.region,
        now: () => new Date(),
        logger,
      }),
  };
}
