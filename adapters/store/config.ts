import { getBoolean, getOptionalString, getString, type Env } from '../../shared/core/env.ts';
import { checkTableName } from './dynamodb-table.ts';
import type { DynamoDbClusterStoreConfig } from './dynamodb.ts';

/**
 * Read the DynamoDB store config once at start-up (Lambda cold start, local
 * stack). Fails fast with a ConfigError naming the variable.
 *
 * | variable                 | meaning                                             | default          |
 * |--------------------------|-----------------------------------------------------|------------------|
 * | `TABLE_NAME`             | the single table                                    | required         |
 * | `AWS_REGION` / `REGION`  | region                                              | `us-east-1`      |
 * | `DYNAMODB_ENDPOINT`      | emulator endpoint, e.g. `http://127.0.0.1:8000`     | unset (AWS)      |
 * | `DYNAMODB_TRANSACTIONS`  | `false` for dynalite (no TransactWriteItems)        | `true`           |
 */
export function dynamoDbStoreConfigFromEnv(env: Env): DynamoDbClusterStoreConfig {
  const tableName = getString(env, 'TABLE_NAME');
  checkTableName(tableName);
  const endpoint = getOptionalString(env, 'DYNAMODB_ENDPOINT');
  return {
    tableName,
    region: getOptionalString(env, 'AWS_REGION') ?? getString(env, 'REGION', 'us-east-1'),
    transactions: getBoolean(env, 'DYNAMODB_TRANSACTIONS', true),
    ...(endpoint === undefined ? {} : { endpoint }),
  };
}
