import { z } from 'zod';
import { getBoolean, getOptionalString, getString, type Env } from '../../shared/core/env.ts';
import { ConfigError, type ErrorDetail } from '../../shared/core/errors.ts';
import { ACCOUNT_ID, IAM_NAME, IDENTITY_CENTER_ROLE_PREFIX, ROLE_ARN, type IdentityConfig } from './identity.ts';

/**
 * Configuration of the API functions, read once per cold start from the
 * environment serverless.yml sets (plain strings only: CloudFormation
 * references there would break `serverless invoke local`).
 *
 * | variable | meaning |
 * |---|---|
 * | TABLE_NAME | the DynamoDB table (required) |
 * | QUEUE_URL | the provisioning queue URL; or QUEUE_NAME + AWS account, resolved at run time |
 * | RECC_ALLOWED_ACCOUNTS | AWS accounts whose principals may be mapped to users (required; comma or space separated) |
 * | RECC_ALLOWED_ROLES | role names or role ARNs, `*` wildcard, space separated (default `AWSReservedSSO_*`) |
 * | RECC_ADMIN_ROLE_ARNS | role ARNs whose sessions are admins, space separated |
 * | RECC_SOURCE_IDENTITY_ROLES | role ARNs whose trust policy requires sts:SourceIdentity = session name, space separated |
 * | RECC_PRINCIPAL_USERS | JSON object: full IAM user ARN or role ARN → user |
 * | RECC_CLUSTER_ROLE_ARNS | role ARNs of the clusters' own pods (Pod Identity): they act for a cluster's owner on that cluster only, with a proof under its token |
 * | REGION (or AWS_REGION) | AWS region |
 * | DYNAMODB_ENDPOINT, SQS_ENDPOINT | emulator endpoints for local use |
 * | DYNAMODB_TRANSACTIONS | false for dynalite (no transactions) |
 * | LOG_LEVEL | DEBUG, INFO, WARN or ERROR |
 */
export interface ApiConfig {
  tableName: string;
  queueUrl?: string;
  queueName?: string;
  identity: IdentityConfig;
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
    identity: readIdentityConfig(env),
    region: getOptionalString(env, 'REGION') ?? getString(env, 'AWS_REGION', 'us-east-1'),
    ...(dynamodbEndpoint ? { dynamodbEndpoint } : {}),
    ...(sqsEndpoint ? { sqsEndpoint } : {}),
    transactions: getBoolean(env, 'DYNAMODB_TRANSACTIONS', true),
    logLevel: (['DEBUG', 'INFO', 'WARN', 'ERROR'].includes(level) ? level : 'INFO') as ApiConfig['logLevel'],
  };
}

// ---------------------------------------------------------------------------
// identity (issue 18): which principals are which users, validated once

/** The identity settings as given, before validation (`identityConfig` fills the defaults). */
export interface IdentityConfigInput {
  allowedAccounts: readonly string[];
  /** @default ['AWSReservedSSO_*'] (every Identity Center role of the allowed accounts) */
  allowedRoles?: readonly string[];
  adminRoleArns?: readonly string[];
  sourceIdentityRoles?: readonly string[];
  principalUsers?: Readonly<Record<string, string>>;
  clusterRoleArns?: readonly string[];
}

const ENV_NAMES: Record<keyof IdentityConfigInput, string> = {
  allowedAccounts: 'RECC_ALLOWED_ACCOUNTS',
  allowedRoles: 'RECC_ALLOWED_ROLES',
  adminRoleArns: 'RECC_ADMIN_ROLE_ARNS',
  sourceIdentityRoles: 'RECC_SOURCE_IDENTITY_ROLES',
  principalUsers: 'RECC_PRINCIPAL_USERS',
  clusterRoleArns: 'RECC_CLUSTER_ROLE_ARNS',
};

const account = z.string().regex(ACCOUNT_ID, 'must be a 12-digit AWS account id');
const rolePattern = z
  .string()
  .regex(/^[A-Za-z0-9_+=,.@:*/-]{1,2048}$/, 'must be a role name or role ARN (ASCII IAM characters, * as wildcard)')
  .refine((p) => !p.startsWith('arn:') || /^arn:[a-z*-]+:iam::[\d*]+:role\/[^/]+$/.test(p), 'a role ARN pattern must look like arn:aws:iam::ACCOUNT:role/NAME (assumed-role ARNs carry no role path)');
const roleArn = z
  .string()
  .regex(ROLE_ARN, 'must be a role ARN without a path, arn:aws:iam::ACCOUNT:role/NAME (assumed-role ARNs carry no role path, and role names are unique per account)');
const user = z.string().regex(IAM_NAME, 'must be 1-64 ASCII characters A-Z a-z 0-9 _+=,.@- (no look-alike letters)');
/** A principal-table key: the full ARN of an IAM user, or a role ARN (every session of the role). */
const principalKey = /^arn:(aws|aws-cn|aws-us-gov):iam::(\d{12}):(user\/(?:[\x21-\x2e\x30-\x7e]+\/)*[A-Za-z0-9_+=,.@-]{1,64}|role\/[A-Za-z0-9_+=,.@-]{1,64})$/;

const identitySchema = z
  .object({
    allowedAccounts: z.array(account).min(1, 'list at least one account'),
    allowedRoles: z.array(rolePattern).default([`${IDENTITY_CENTER_ROLE_PREFIX}*`]),
    adminRoleArns: z.array(roleArn).default([]),
    sourceIdentityRoles: z.array(roleArn).default([]),
    // A record of strings; keys are checked below (zod's record would also accept any key).
    principalUsers: z.record(z.string(), user).default({}),
    clusterRoleArns: z.array(roleArn).default([]),
  })
  .strict()
  .superRefine((input, ctx) => {
    const allowed = new Set(input.allowedAccounts);
    const accountOf = (arn: string): string | undefined => /^arn:[^:]+:iam::(\d{12}):/.exec(arn)?.[1];
    const checkAccount = (arn: string, path: (string | number)[]) => {
      const acct = accountOf(arn);
      if (acct && !allowed.has(acct)) ctx.addIssue({ code: 'custom', path, message: `account ${acct} is not in allowedAccounts, so this entry could never apply` });
    };
    input.adminRoleArns.forEach((arn, i) => checkAccount(arn, ['adminRoleArns', i]));
    input.sourceIdentityRoles.forEach((arn, i) => checkAccount(arn, ['sourceIdentityRoles', i]));
    // A cluster role's sessions act only for one proven cluster: no other mapping may also give them a user or admin.
    // The stage's own role, named by its exact ARN (account included), so allowedAccounts (human principals) does not apply.
    input.clusterRoleArns.forEach((arn, i) => {
      const elsewhere = [
        input.adminRoleArns.includes(arn) ? 'adminRoleArns' : undefined,
        input.sourceIdentityRoles.includes(arn) ? 'sourceIdentityRoles' : undefined,
        Object.prototype.hasOwnProperty.call(input.principalUsers, arn) ? 'principalUsers' : undefined,
        input.allowedRoles.includes(arn) ? 'allowedRoles' : undefined,
      ].filter((x): x is string => x !== undefined);
      if (elsewhere.length > 0) ctx.addIssue({ code: 'custom', path: ['clusterRoleArns', i], message: `is also in ${elsewhere.join(', ')}; a cluster role must be mapped only through a cluster proof` });
    });
    for (const key of Object.keys(input.principalUsers)) {
      if (!principalKey.test(key)) {
        ctx.addIssue({ code: 'custom', path: ['principalUsers', key], message: 'keys must be the full ARN of an IAM user (arn:aws:iam::ACCOUNT:user/PATH/NAME) or a role ARN without a path (arn:aws:iam::ACCOUNT:role/NAME)' });
      } else checkAccount(key, ['principalUsers', key]);
    }
  });

function configDetails(issues: readonly { path: readonly PropertyKey[]; message: string }[], pathName: (field: string) => string): ErrorDetail[] {
  return issues.map((issue) => {
    const [field = '', ...rest] = issue.path.map(String);
    return { path: [pathName(field), ...rest].filter(Boolean).join('.'), message: issue.message };
  });
}

function compileIdentity(input: unknown, pathName: (field: string) => string): IdentityConfig {
  // Own enumerable keys only: a "__proto__" key from JSON.parse must be seen, not swallowed.
  const raw = input as { principalUsers?: unknown };
  const table = raw && typeof raw === 'object' && raw.principalUsers && typeof raw.principalUsers === 'object' ? Object.entries(raw.principalUsers) : [];
  const protoKeys = table.filter(([k]) => k === '__proto__');
  const result = identitySchema.safeParse(input);
  const details = result.success ? [] : configDetails(result.error.issues, pathName);
  for (const [k] of protoKeys) {
    if (!details.some((d) => d.path === `${pathName('principalUsers')}.${k}`)) details.push({ path: `${pathName('principalUsers')}.${k}`, message: 'is not an IAM user or role ARN' });
  }
  if (!result.success || details.length) throw new ConfigError('the identity configuration is invalid', details);
  const config = result.data;
  return Object.freeze({
    allowedAccounts: Object.freeze([...config.allowedAccounts]),
    allowedRoles: Object.freeze([...config.allowedRoles]),
    adminRoleArns: Object.freeze([...config.adminRoleArns]),
    sourceIdentityRoles: Object.freeze([...config.sourceIdentityRoles]),
    principalUsers: new Map(table as [string, string][]),
    clusterRoleArns: Object.freeze([...config.clusterRoleArns]),
  });
}

/** Validate identity settings given in code (tests, the local stack); ConfigError naming every problem. */
export function identityConfig(input: IdentityConfigInput): IdentityConfig {
  return compileIdentity(input, (field) => field);
}

/** Space-separated list (IAM names may contain commas; account ids may also be comma-separated). */
function list(env: Env, name: string, commas = false): string[] | undefined {
  const raw = getOptionalString(env, name);
  return raw === undefined ? undefined : raw.split(commas ? /[\s,]+/ : /\s+/).filter(Boolean);
}

/** Read the identity settings from the environment once, failing fast with a ConfigError naming each variable. */
export function readIdentityConfig(env: Env): IdentityConfig {
  const details: ErrorDetail[] = [];
  if (getOptionalString(env, 'ADMIN_ROLE_NAMES') !== undefined) {
    details.push({ path: 'ADMIN_ROLE_NAMES', message: 'is no longer read: admins come only from role ARNs; set RECC_ADMIN_ROLE_ARNS and remove ADMIN_ROLE_NAMES' });
  }
  let principalUsers: unknown;
  const table = getOptionalString(env, 'RECC_PRINCIPAL_USERS');
  if (table !== undefined) {
    try {
      principalUsers = JSON.parse(table) as unknown;
    } catch (err) {
      details.push({ path: 'RECC_PRINCIPAL_USERS', message: `must be a JSON object of ARN → user (${(err as Error).message})` });
    }
    if (principalUsers !== undefined && (typeof principalUsers !== 'object' || principalUsers === null || Array.isArray(principalUsers))) {
      details.push({ path: 'RECC_PRINCIPAL_USERS', message: 'must be a JSON object of ARN → user' });
      principalUsers = undefined;
    }
  }
  const input: Record<string, unknown> = { allowedAccounts: list(env, 'RECC_ALLOWED_ACCOUNTS', true) ?? [] };
  const optional = {
    allowedRoles: list(env, 'RECC_ALLOWED_ROLES'),
    adminRoleArns: list(env, 'RECC_ADMIN_ROLE_ARNS'),
    sourceIdentityRoles: list(env, 'RECC_SOURCE_IDENTITY_ROLES'),
    principalUsers,
    clusterRoleArns: list(env, 'RECC_CLUSTER_ROLE_ARNS'),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) input[k] = v;
  let config: IdentityConfig | undefined;
  try {
    config = compileIdentity(input, (field) => ENV_NAMES[field as keyof IdentityConfigInput] ?? field);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    details.push(...err.details);
  }
  if (!config || details.length) throw new ConfigError('the identity configuration is invalid', details);
  return config;
}
