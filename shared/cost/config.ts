import { ConfigError, type ErrorDetail } from '../core/errors.ts';
import { getBoolean, getNumber, getOptionalString, getString, type Env } from '../core/env.ts';
import { ALERT_SCOPES, type AlertRules, type AlertScope, type BudgetConfig, type ThresholdSpec } from './alerts.ts';
import { MAIL_DOMAIN } from './recipients.ts';

/**
 * Cost reporter configuration, read once from the environment and validated;
 * every problem is listed in one ConfigError. Secrets (SMTP password, webhook
 * URL) are kept in the object but never logged (see `describeCostConfig`).
 *
 * | variable | meaning | default |
 * |---|---|---|
 * | RECC_COST_USER_BUDGET_USD | monthly budget per user | 1000 |
 * | RECC_COST_USER_BUDGETS | per-user budgets `alice=2000,bob=500` | — |
 * | RECC_COST_NAMESPACE_BUDGET_USD | monthly budget per namespace | the user budget |
 * | RECC_COST_ALERT_THRESHOLDS | comma list: `80%` (share of the budget) or dollars `1000` (no separators) | `80%,100%` |
 * | RECC_COST_JOB_BUDGET_USD | monthly budget per scheduled job (all its runs) | the namespace budget |
 * | RECC_COST_JOB_BUDGETS | per-job budgets `nightly=200,alice/hourly=50` (a bare name: every owner's job of that name; `owner/job`: one user's) | — |
 * | RECC_COST_ALERT_SCOPES | `user,namespace,job` | all three |
 * | RECC_COST_TOP_CLUSTERS | clusters named per alert | 3 |
 * | RECC_SLACK_WEBHOOK_URL | Slack incoming webhook (http/https) | off |
 * | RECC_EMAIL_TRANSPORT | `none`, `smtp` or `ses` | `smtp` if RECC_SMTP_HOST set, else `none` |
 * | RECC_ALERT_EMAIL_FROM / RECC_ALERT_EMAIL_TO | sender / comma list of recipients | required for email |
 * | RECC_USER_EMAIL_DOMAIN | user alerts also go to `<user>@<domain>` | — |
 * | RECC_SMTP_HOST, RECC_SMTP_PORT, RECC_SMTP_SECURE, RECC_SMTP_USER, RECC_SMTP_PASSWORD | SMTP relay | port 587 |
 * | RECC_BUDGETS_ENABLED | keep one AWS Budget per user | false |
 * | RECC_AWS_ACCOUNT_ID | account of the budgets | required when enabled |
 * | RECC_BUDGET_NAME_PREFIX | budget name = prefix + user | `recc-user-` |
 * | RECC_BUDGET_FORECAST_PERCENT | FORECASTED notification threshold, % of budget | 100 |
 * | RECC_COST_TAG_USER | cost-allocation tag that names the user | `user` |
 * | RECC_BUDGET_SNS_TOPIC_ARN | budget notification subscriber (else e-mail) | — |
 */
export interface SmtpConfig {
  host: string;
  port: number;
  secure: boolean;
  user?: string;
  password?: string;
}

export interface EmailConfig {
  transport: 'smtp' | 'ses';
  from: string;
  to: string[];
  userDomain?: string;
  smtp?: SmtpConfig;
}

export interface AwsBudgetsConfig {
  accountId: string;
  /** Budget names are `<prefix><user>`; IAM policies scope on the prefix. */
  namePrefix: string;
  forecastThresholdPercent: number;
  userTagKey: string;
  snsTopicArn?: string;
  /** E-mail subscribers when no SNS topic: `<user>@<domain>` or the alert recipients. */
  emailDomain?: string;
  emailTo: string[];
}

export interface CostConfig {
  rules: AlertRules;
  slackWebhookUrl?: string;
  email?: EmailConfig;
  budgets?: AwsBudgetsConfig;
}

export function parseThresholds(raw: string, path: string, details: ErrorDetail[]): ThresholdSpec[] {
  const out: ThresholdSpec[] = [];
  for (const part of raw.split(',').map((s) => s.trim()).filter(Boolean)) {
    const percent = part.endsWith('%');
    const n = Number((percent ? part.slice(0, -1) : part).replace(/^\$/, ''));
    if (!Number.isFinite(n) || n <= 0) {
      details.push({ path, message: `"${part}" is not a positive amount or percentage` });
      continue;
    }
    out.push(percent ? { kind: 'percent', value: n } : { kind: 'amount', value: n });
  }
  if (out.length === 0 && details.every((d) => d.path !== path)) details.push({ path, message: 'lists no threshold' });
  return out;
}

const EMAIL = /^[^\s@]+@[^\s@]+$/;

export function costConfigFromEnv(env: Env): CostConfig {
  const details: ErrorDetail[] = [];
  const num = (name: string, fallback: number, check: (n: number) => boolean, what: string): number => {
    try {
      const n = getNumber(env, name, fallback);
      if (!check(n)) details.push({ path: name, message: `must be ${what}, got ${n}` });
      return n;
    } catch (err) {
      if (err instanceof ConfigError) details.push(...err.details);
      else throw err;
      return fallback;
    }
  };
  const bool = (name: string, fallback: boolean): boolean => {
    try {
      return getBoolean(env, name, fallback);
    } catch (err) {
      if (err instanceof ConfigError) details.push(...err.details);
      else throw err;
      return fallback;
    }
  };
  const positive = (n: number) => n > 0;

  const budgetConfig = budgetsFromEnv(env, details);
  const thresholds = parseThresholds(getString(env, 'RECC_COST_ALERT_THRESHOLDS', '80%,100%'), 'RECC_COST_ALERT_THRESHOLDS', details);
  const scopes: AlertScope[] = [];
  for (const s of getString(env, 'RECC_COST_ALERT_SCOPES', 'user,namespace,job').split(',').map((x) => x.trim()).filter(Boolean)) {
    if ((ALERT_SCOPES as readonly string[]).includes(s)) scopes.push(s as AlertScope);
    else details.push({ path: 'RECC_COST_ALERT_SCOPES', message: `"${s}" is not one of ${ALERT_SCOPES.join(', ')}` });
  }
  const topClusters = num('RECC_COST_TOP_CLUSTERS', 3, (n) => Number.isInteger(n) && n >= 0, 'a whole number ≥ 0');

  const slackWebhookUrl = getOptionalString(env, 'RECC_SLACK_WEBHOOK_URL');
  if (slackWebhookUrl !== undefined) {
    let ok = false;
    try {
      const u = new URL(slackWebhookUrl);
      ok = u.protocol === 'https:' || u.protocol === 'http:';
    } catch {}
    if (!ok) details.push({ path: 'RECC_SLACK_WEBHOOK_URL', message: 'must be an http(s) URL' });
  }

  const smtpHost = getOptionalString(env, 'RECC_SMTP_HOST');
  const transport = getString(env, 'RECC_EMAIL_TRANSPORT', smtpHost ? 'smtp' : 'none');
  const recipients = (getOptionalString(env, 'RECC_ALERT_EMAIL_TO') ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  for (const r of recipients) if (!EMAIL.test(r)) details.push({ path: 'RECC_ALERT_EMAIL_TO', message: `"${r}" is not an e-mail address` });
  const userDomain = getOptionalString(env, 'RECC_USER_EMAIL_DOMAIN');
  if (userDomain !== undefined && !MAIL_DOMAIN.test(userDomain)) details.push({ path: 'RECC_USER_EMAIL_DOMAIN', message: `"${userDomain.slice(0, 80)}" is not a mail domain such as corp.example` });
  let email: EmailConfig | undefined;
  if (transport === 'smtp' || transport === 'ses') {
    const from = getOptionalString(env, 'RECC_ALERT_EMAIL_FROM');
    if (!from || !EMAIL.test(from)) details.push({ path: 'RECC_ALERT_EMAIL_FROM', message: 'must be an e-mail address when e-mail alerts are on' });
    if (recipients.length === 0 && !userDomain) {
      details.push({ path: 'RECC_ALERT_EMAIL_TO', message: 'is required when e-mail alerts are on (or set RECC_USER_EMAIL_DOMAIN)' });
    }
    let smtp: SmtpConfig | undefined;
    if (transport === 'smtp') {
      if (!smtpHost) details.push({ path: 'RECC_SMTP_HOST', message: 'is required when RECC_EMAIL_TRANSPORT is smtp' });
      const port = num('RECC_SMTP_PORT', 587, (n) => Number.isInteger(n) && n > 0 && n < 65536, 'a TCP port');
      const user = getOptionalString(env, 'RECC_SMTP_USER');
      const password = getOptionalString(env, 'RECC_SMTP_PASSWORD');
      smtp = { host: smtpHost ?? '', port, secure: bool('RECC_SMTP_SECURE', port === 465), ...(user ? { user } : {}), ...(password ? { password } : {}) };
    }
    email = { transport, from: from ?? '', to: recipients, ...(userDomain ? { userDomain } : {}), ...(smtp ? { smtp } : {}) };
  } else if (transport !== 'none') {
    details.push({ path: 'RECC_EMAIL_TRANSPORT', message: `"${transport}" is not one of none, smtp, ses` });
  }

  let budgets: AwsBudgetsConfig | undefined;
  if (bool('RECC_BUDGETS_ENABLED', false)) {
    const accountId = getOptionalString(env, 'RECC_AWS_ACCOUNT_ID');
    if (!accountId || !/^\d{12}$/.test(accountId)) details.push({ path: 'RECC_AWS_ACCOUNT_ID', message: 'must be a 12-digit AWS account id when budgets are enabled' });
    const forecastThresholdPercent = num('RECC_BUDGET_FORECAST_PERCENT', 100, positive, 'a positive percentage');
    const snsTopicArn = getOptionalString(env, 'RECC_BUDGET_SNS_TOPIC_ARN');
    if (!snsTopicArn && !userDomain && recipients.length === 0) {
      details.push({ path: 'RECC_BUDGET_SNS_TOPIC_ARN', message: 'budgets need a subscriber: set it, RECC_USER_EMAIL_DOMAIN or RECC_ALERT_EMAIL_TO' });
    }
    const namePrefix = getString(env, 'RECC_BUDGET_NAME_PREFIX', 'recc-user-');
    if (/[:\\]/.test(namePrefix)) details.push({ path: 'RECC_BUDGET_NAME_PREFIX', message: 'may not contain ":" or "\\"' });
    budgets = {
      accountId: accountId ?? '',
      namePrefix,
      forecastThresholdPercent,
      userTagKey: getString(env, 'RECC_COST_TAG_USER', 'user'),
      ...(snsTopicArn ? { snsTopicArn } : {}),
      ...(userDomain ? { emailDomain: userDomain } : {}),
      emailTo: recipients,
    };
  }

  if (details.length > 0) throw new ConfigError('invalid cost reporter configuration', details);
  return {
    rules: { budgets: budgetConfig, thresholds, scopes, topClusters },
    ...(slackWebhookUrl ? { slackWebhookUrl } : {}),
    ...(email ? { email } : {}),
    ...(budgets ? { budgets } : {}),
  };
}

/**
 * The monthly budgets alone (`RECC_COST_*_BUDGET*`): the cost reporter alerts
 * on them and the API charts them (`GET /costs/series`), so both read the
 * same variables the same way.
 */
export function budgetConfigFromEnv(env: Env): BudgetConfig {
  const details: ErrorDetail[] = [];
  const budgets = budgetsFromEnv(env, details);
  if (details.length > 0) throw new ConfigError('invalid budget configuration', details);
  return budgets;
}

function budgetsFromEnv(env: Env, details: ErrorDetail[]): BudgetConfig {
  const num = (name: string, fallback: number): number => {
    try {
      const n = getNumber(env, name, fallback);
      if (!(n > 0)) details.push({ path: name, message: `must be a positive number of dollars, got ${n}` });
      return n;
    } catch (err) {
      if (err instanceof ConfigError) details.push(...err.details);
      else throw err;
      return fallback;
    }
  };
  const userBudgetUsd = num('RECC_COST_USER_BUDGET_USD', 1000);
  // No prototype: a user named `__proto__` or `constructor` is just a key (on `{}`, `__proto__ = 500` is silently dropped).
  const userBudgets: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const part of (getOptionalString(env, 'RECC_COST_USER_BUDGETS') ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [user, amount] = part.split('=').map((s) => s.trim());
    const n = Number(amount);
    if (!user || !Number.isFinite(n) || n <= 0) {
      details.push({ path: 'RECC_COST_USER_BUDGETS', message: `"${part}" is not user=dollars` });
    } else {
      userBudgets[user] = n;
    }
  }
  const namespaceBudgetUsd = num('RECC_COST_NAMESPACE_BUDGET_USD', userBudgetUsd);
  const jobBudgetUsd = num('RECC_COST_JOB_BUDGET_USD', namespaceBudgetUsd);
  // No prototype: a job named `__proto__` or `constructor` is just a key.
  const jobBudgets: Record<string, number> = Object.create(null) as Record<string, number>;
  for (const part of (getOptionalString(env, 'RECC_COST_JOB_BUDGETS') ?? '').split(',').map((s) => s.trim()).filter(Boolean)) {
    const [job, amount] = part.split('=').map((s) => s.trim());
    const n = Number(amount);
    if (!job || !Number.isFinite(n) || n <= 0) details.push({ path: 'RECC_COST_JOB_BUDGETS', message: `"${part}" is not job=dollars or owner/job=dollars` });
    else jobBudgets[job] = n;
  }
  return { userBudgetUsd, userBudgets, namespaceBudgetUsd, jobBudgetUsd, jobBudgets };
}

/** A log-safe summary of the configuration (no URLs or passwords). */
export function describeCostConfig(config: CostConfig): Record<string, unknown> {
  return {
    thresholds: config.rules.thresholds,
    scopes: config.rules.scopes,
    userBudgetUsd: config.rules.budgets.userBudgetUsd,
    slack: config.slackWebhookUrl !== undefined,
    email: config.email?.transport ?? 'none',
    budgets: config.budgets !== undefined,
  };
}
