import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { systemClock } from '../../shared/core/clock.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import { getOptionalString, type Env } from '../../shared/core/env.ts';
import { randomIds } from '../../shared/core/ids.ts';
import { harvestConfigFromEnv } from '../../shared/harvest/config.ts';
import type { HarvestConfig } from '../../shared/harvest/types.ts';
import { quotaPolicyFromEnv, type QuotaPolicy } from '../../shared/quota/config.ts';
import { kubectlEditPolicyFromEnv, type KubectlEditPolicy } from '../../shared/access/kubectl-edit.ts';
import { createDynamoDbClusterStore } from '../../adapters/store/dynamodb.ts';
import { SqsWorkQueue } from '../../adapters/queue/sqs.ts';
import { CachedPrices, DynamoDbPriceCache } from '../../adapters/pricing/price-list.ts';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { ApiDeps } from './api.ts';
import { readApiConfig, type ApiConfig } from './config.ts';
import { powertoolsLogger } from './logger.ts';

/**
 * The production dependencies of the API functions: the DynamoDB store, the
 * SQS queue, the system clock, random ids and the Powertools logger. Built
 * once per cold start (see `lazyHandler`); clients connect on first use.
 */
export function apiDepsFromConfig(config: ApiConfig, options: { templatesDir?: string; harvest?: HarvestConfig; quotas?: QuotaPolicy; priceCache?: boolean; kubectlEdit?: KubectlEditPolicy } = {}): ApiDeps {
  const store = createDynamoDbClusterStore({
    tableName: config.tableName,
    region: config.region,
    transactions: config.transactions,
    ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}),
  });
  const queue = new SqsWorkQueue({
    ...(config.queueUrl ? { queueUrl: config.queueUrl } : {}),
    ...(config.queueName ? { queueName: config.queueName } : {}),
    region: config.region,
    ...(config.sqsEndpoint ? { endpoint: config.sqsEndpoint } : {}),
  });
  // RECC_PRICE_CACHE=off: plans use the static table and nothing reads the cache (the ci stage, run offline by `serverless invoke local`).
  const priceSource = options.priceCache === false ? undefined : new CachedPrices({
    cache: new DynamoDbPriceCache({
      client: DynamoDBDocumentClient.from(new DynamoDBClient({ region: config.region, ...(config.dynamodbEndpoint ? { endpoint: config.dynamodbEndpoint } : {}) })),
      tableName: config.tableName,
    }),
    region: config.region,
  });
  return {
    store,
    queue,
    ...(priceSource ? { priceSource } : {}),
    clock: systemClock,
    ids: randomIds,
    identity: config.identity,
    logger: powertoolsLogger({ serviceName: 'recc-api', logLevel: config.logLevel }),
    ...(options.templatesDir ? { templatesDir: options.templatesDir } : {}),
    ...(options.harvest ? { harvest: options.harvest } : {}),
    ...(options.quotas ? { quotas: options.quotas } : {}),
    ...(options.kubectlEdit ? { kubectlEdit: options.kubectlEdit } : {}),
  };
}

/**
 * Read the configuration from the environment (once) and build the
 * dependencies. The harvest config (`RECC_HARVEST_*`) is the harvester's, so
 * the `reapAt` the API shows matches when the harvester actually reaps.
 */
export function apiDepsFromEnv(env: Env = process.env): ApiDeps {
  const config = readApiConfig(env);
  const harvest = harvestConfigFromEnv(env);
  const templatesDir = findTemplatesDir(env);
  // RECC_QUOTAS: per-user and per-group limits (shared/quota/config.ts); unset = the built-in defaults.
  const quotas = quotaPolicyFromEnv(env);
  // RECC_KUBECTL_EDIT: who may have kubectl --edit (shared/access/kubectl-edit.ts); groups are RECC_QUOTAS's.
  const kubectlEdit = kubectlEditPolicyFromEnv(env, quotas);
  const priceCache = getOptionalString(env, 'RECC_PRICE_CACHE') ?? 'on';
  if (priceCache !== 'on' && priceCache !== 'off') throw new ConfigError('invalid API configuration', [{ path: 'RECC_PRICE_CACHE', message: `must be "on" or "off", got "${priceCache}"` }]);
  return apiDepsFromConfig(config, { harvest, quotas, kubectlEdit, priceCache: priceCache === 'on', ...(templatesDir ? { templatesDir } : {}) });
}

/**
 * Where the template files are: TEMPLATES_DIR, else `templates/` under the
 * Lambda task root (serverless.yml packages them there), else under the
 * working directory (`serverless invoke local`); undefined = the repository's.
 */
export function findTemplatesDir(env: Env): string | undefined {
  const explicit = getOptionalString(env, 'TEMPLATES_DIR');
  if (explicit) return explicit;
  const taskRoot = getOptionalString(env, 'LAMBDA_TASK_ROOT');
  for (const dir of [taskRoot ? join(taskRoot, 'templates') : undefined, join(process.cwd(), 'templates')]) {
    if (dir && existsSync(dir)) return dir;
  }
  return undefined;
}
