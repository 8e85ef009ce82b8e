import { getBoolean, getOptionalString, getString, type Env } from '../../shared/core/env.ts';

/**
 * Configuration of the API functions, read once per cold start from the
 * environment serverless.yml sets (plain strings only: CloudFormation
 * references there would break `serverless invoke local`).
 *
 * | variable | meaning |
 * |---|---|
 * | TABLE_NAME | the DynamoDB table (required) |
 * | QUEUE_URL | the provisioning queue URL; or QUEUE_NAME + AWS account, resolved at run time |
 * | ADMIN_ROLE_NAMES | comma-separated IAM role names whose sessions are admins |
 * | REGION (or AWS_REGION) | AWS region |
 * | DYNAMODB_ENDPOINT, SQS_ENDPOINT | emulator endpoints for local use |
 * | DYNAMODB_TRANSACTIONS | false for dynalite (no transactions) |
 * | LOG_LEVEL | DEBUG, INFO, WARN or ERROR |
 */
export interface ApiConfig {
  tableName: string;
  queueUrl?: string;
  queueName?: string;
  adminRoleNames: string[];
  region: string;
  dynamodbEndpoint?: string;
  sqsEndpoint?: string;
  transactions: boolean;
  logLevel: 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';
}

export function readApiConfig(env: Env): ApiConfig {
  const level = (getOptionalString(env, 'LOG_LEVEL') ?? 'INFO').toUpperCase();
  const queueUrl = getOptionalString(env, 'QUEUE_URL');
  const queueName = getOptionalString(env, 'QUEUE_NAME');
  const dynamodbEndpoint = getOptionalString(env, 'DYNAMODB_ENDPOINT');
  const sqsEndpoint = getOptionalString(env, 'SQS_ENDPOINT');
  return {
    tableName: getString(env, 'TABLE_NAME'),
    ...(queueUrl ? { queueUrl } : {}),
    ...(queueName ? { queueName } : {}),
    adminRoleNames: (getOptionalString(env, 'ADMIN_ROLE_NAMES') ?? '')
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
    region: getOptionalString(env, 'REGION') ?? getString(env, 'AWS_REGION', 'us-east-1'),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(sqsEndpoint ? { sqsEndpoint } : {}),
    transactions: getBoolean(env, 'DYNAMODB_TRANSACTIONS', true),
    logLevel: (['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level) ? level : 'INFO') as ApiConfig['logLevel'],
  };
}
