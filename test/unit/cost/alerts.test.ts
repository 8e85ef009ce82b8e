import { describe, expect, it } from 'vitest';
import type { CostGroup } from '../../../shared/cost/aggregate.ts';
import { alertKey, budgetFor, findCrossings, formatAlert, type AlertRules } from '../../../shared/cost/alerts.ts';
import { costConfigFromEnv, describeCostConfig } from '../../../shared/cost/config.ts';
import { formatUsd, formatUsdCents } from '../../../shared/cost/money.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

const NOV16 = Date.UTC(2026, 10, 16); // 15 of 30 days elapsed

const group: CostGroup = {
  key: 'alice',
  cost: 512.04,
  nodeHours: 1200,
  clusters: 3,
  perHour: 2.03,
  top: [
    { clusterId: 'c-a2', name: 'train', owner: 'alice', namespace: 'recc-alice-a2', job: 'train', status: 'RUNNING', cost: 400, nodeHours: 900, perHour: 2.03 },
    { clusterId: 'c-a1', name: 'etl', owner: 'alice', namespace: 'recc-alice-a1', job: 'etl', status: 'DELETED', cost: 100.04, nodeHours: 250, perHour: 0 },
    { clusterId: 'c-a3', name: 'x', owner: 'alice', namespace: 'recc-alice-a3', status: 'DELETED', cost: 12, nodeHours: 50, perHour: 0 },
  ],
};

const rules: AlertRules = {
  budgets: { userBudgetUsd: 2000, userBudgets: {}, namespaceBudgetUsd: 500 },
  thresholds: [{ kind: 'amount', value: 1000 }],
  scopes: ['user', 'namespace'],
  topClusters: 2,
};

describe('Function: findCrossings', () => {
  it('reports a forecast above the threshold while month to date is below it', () => {
    // Act
    const crossings = findCrossings('user', group, NOV16, rules);

    // Assess
    expect(crossings).toHaveLength(1);
    expect(crossings[0]).toMatchObject({
      scope: 'user',
      key: 'alice',
      period: '2026-11',
      measure: 'forecast',
      threshold: 1000,
      budget: 2000,
      value: 1024.08,
    });
    expect(crossings[0]?.top.map((t) => t.clusterId)).toEqual(['c-a2', 'c-a1']);
  });

  it('resolves percentage thresholds against the budget and reports both measures', () => {
    const crossings = findCrossings('user', group, NOV16, { ...rules, thresholds: [{ kind: 'percent', value: 25 }, { kind: 'percent', value: 50 }, { kind: 'percent', value: 90 }] });
    expect(crossings.map((c) => [c.measure, c.threshold, c.thresholdLabel])).toEqual([
      ['month-to-date', 500, '25%'],
      ['forecast', 500, '25%'],
      ['forecast', 1000, '50%'],
    ]);
  });

  it('uses per-user budgets', () => {
    const crossings = findCrossings('user', group, NOV16, {
      ...rules,
      budgets: { ...rules.budgets, userBudgets: { alice: 10_000 } },
      thresholds: [{ kind: 'percent', value: 10 }],
    });
    expect(crossings.map((c) => [c.measure, c.threshold, c.budget])).toEqual([['forecast', 1000, 10_000]]);
  });

  it('reports nothing at or below the threshold', () => {
    expect(findCrossings('user', { ...group, cost: 500 }, NOV16, rules)).toEqual([]);
  });
});

describe('Function: formatAlert', () => {
  it('states budget, threshold, forecast and the top clusters', () => {
    const [crossing] = findCrossings('user', group, NOV16, rules);
    const message = formatAlert(crossing!);
    expect(message.subject).toBe('recc cost alert: user alice: forecasted month $1,024.08 > $1,000 threshold on a $2,000 budget');
    expect(message.text).toBe(
      [
        'recc cost alert for user alice (2026-11): forecasted month $1,024.08 > $1,000 threshold on a $2,000 budget.',
        'Month to date $512.04 after 15 of 30 days; forecast $1,024.08 (linear on elapsed days).',
        'Threshold $1,000 ($1,000) of a $2,000 monthly budget.',
        'Top clusters:',
        '  c-a2 train (alice, recc-alice-a2, job train, RUNNING): $400.00 this month, $2.03/h now',
        '  c-a1 etl (alice, recc-alice-a1, job etl, DELETED): $100.04 this month, $0.00/h now',
      ].join('\n'),
    );
    expect(message.user).toBe('alice');
  });
});

describe('Function: alertKey', () => {
  it('is distinct per period, scope, key, measure, threshold and channel', () => {
    const [c] = findCrossings('user', group, NOV16, rules);
    expect(alertKey(c!, 'slack')).toBe('cost-alert#2026-11#user#alice#forecast#1000.00#slack');
    expect(alertKey(c!, 'email')).not.toBe(alertKey(c!, 'slack'));
    expect(alertKey({ ...c!, period: '2026-12' }, 'slack')).not.toBe(alertKey(c!, 'slack'));
  });
});

describe('Function: formatUsd', () => {
  it('writes whole dollars without cents and other amounts with cents', () => {
    expect(formatUsd(1000)).toBe('$1,000');
    expect(formatUsd(1024.08)).toBe('$1,024.08');
    expect(formatUsd(0.004)).toBe('$0');
    expect(formatUsdCents(3)).toBe('$3.00');
  });
});

describe('Function: costConfigFromEnv', () => {
  it('reads thresholds, budgets, Slack and SMTP settings', () => {
    const config = costConfigFromEnv({
      RECC_COST_USER_BUDGET_USD: '2000',
      RECC_COST_USER_BUDGETS: 'alice=5000, bob=500',
      RECC_COST_JOB_BUDGETS: 'nightly=300, __proto__=7',
      RECC_COST_ALERT_THRESHOLDS: '80%, $1000',
      RECC_SLACK_WEBHOOK_URL: 'https://hooks.slack.example/services/T/B/X',
      RECC_SMTP_HOST: '127.0.0.1',
      RECC_SMTP_PORT: '2525',
      RECC_ALERT_EMAIL_FROM: 'recc@example.org',
      RECC_ALERT_EMAIL_TO: 'finops@example.org',
      RECC_SMTP_PASSWORD: 'hunter2',
      RECC_SMTP_USER: 'recc',
    });
    expect(config.rules).toEqual({
      budgets: { userBudgetUsd: 2000, userBudgets: expect.objectContaining({ alice: 5000, bob: 500 }), namespaceBudgetUsd: 2000, jobBudgetUsd: 2000, jobBudgets: expect.objectContaining({ nightly: 300 }) },
      thresholds: [
        { kind: 'percent', value: 80 },
        { kind: 'amount', value: 1000 },
      ],
      scopes: ['user', 'namespace', 'job'],
      topClusters: 3,
    });
    // `__proto__` is a job name like any other, never the budgets object's prototype.
    expect(Object.getPrototypeOf(config.rules.budgets.jobBudgets)).toBeNull();
    expect(budgetFor('job', '__proto__', config.rules.budgets)).toBe(7);
    expect(budgetFor('job', 'constructor', config.rules.budgets)).toBe(2000);
    expect(config.email).toEqual({
      transport: 'smtp',
      from: 'recc@example.org',
      to: ['finops@example.org'],
      smtp: { host: '127.0.0.1', port: 2525, secure: false, user: 'recc', password: 'hunter2' },
    });
    expect(JSON.stringify(describeCostConfig(config))).not.toMatch(/hunter2|hooks\.slack/);
  });

  it('keeps budgets of users named __proto__, constructor or toString as plain keys', () => {
    const config = costConfigFromEnv({ RECC_COST_USER_BUDGET_USD: '2000', RECC_COST_USER_BUDGETS: '__proto__=500, constructor=300, alice=5000' });
    const budgets = config.rules.budgets;
    expect(Object.getPrototypeOf(budgets.userBudgets)).toBeNull();
    expect(Object.keys(budgets.userBudgets).sort()).toEqual(['__proto__', 'alice', 'constructor']);
    expect(budgetFor('user', '__proto__', budgets)).toBe(500);
    expect(budgetFor('user', 'constructor', budgets)).toBe(300);
    expect(budgetFor('user', 'alice', budgets)).toBe(5000);
    // Names nobody configured fall back to the default, never to an inherited function.
    for (const name of ['toString', 'hasOwnProperty', 'valueOf', 'bob']) expect(budgetFor('user', name, budgets), name).toBe(2000);
    // The alert for `__proto__` is against its own $500 budget (80% = $400), not the default $2,000.
    const crossings = findCrossings('user', { ...group, key: '__proto__', cost: 450 }, NOV16, { ...config.rules, thresholds: [{ kind: 'percent', value: 80 }] });
    expect(crossings.map((c) => [c.key, c.measure, c.budget, c.threshold])).toEqual([
      ['__proto__', 'month-to-date', 500, 400],
      ['__proto__', 'forecast', 500, 400],
    ]);
    expect(formatAlert(crossings[0]!).subject).toContain('user __proto__');
    // The same names in the other order: the prototype is still untouched.
    const reversed = costConfigFromEnv({ RECC_COST_USER_BUDGETS: 'constructor=1, __proto__=2' }).rules.budgets;
    expect([budgetFor('user', 'constructor', reversed), budgetFor('user', '__proto__', reversed)]).toEqual([1, 2]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('lists every problem at once', () => {
    let error: unknown;
    try {
      costConfigFromEnv({
        RECC_COST_USER_BUDGET_USD: '-5',
        RECC_COST_ALERT_THRESHOLDS: 'lots',
        RECC_COST_ALERT_SCOPES: 'user,team',
        RECC_SLACK_WEBHOOK_URL: 'not a url',
        RECC_EMAIL_TRANSPORT: 'smtp',
        RECC_BUDGETS_ENABLED: 'yes',
        RECC_AWS_ACCOUNT_ID: '12',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).details.map((d) => d.path)).toEqual([
      'RECC_COST_USER_BUDGET_USD',
      'RECC_COST_NAMESPACE_BUDGET_USD',
      'RECC_COST_JOB_BUDGET_USD',
      'RECC_COST_ALERT_THRESHOLDS',
      'RECC_COST_ALERT_SCOPES',
      'RECC_SLACK_WEBHOOK_URL',
      'RECC_ALERT_EMAIL_FROM',
      'RECC_ALERT_EMAIL_TO',
      'RECC_SMTP_HOST',
      'RECC_AWS_ACCOUNT_ID',
      'RECC_BUDGET_SNS_TOPIC_ARN',
    ]);
  });

  it('defaults to 80% and 100% of a $1,000 budget with no channels', () => {
    const config = costConfigFromEnv({});
    expect(config.rules.thresholds).toEqual([
      { kind: 'percent', value: 80 },
      { kind: 'percent', value: 100 },
    ]);
    expect(config.slackWebhookUrl).toBeUndefined();
    expect(config.email).toBeUndefined();
    expect(config.budgets).toBeUndefined();
  });
});
