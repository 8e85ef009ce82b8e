import { describe, expect, it } from 'vitest';
import { budgetSubscribers } from '../../../adapters/budgets/aws-budgets.ts';
import { DynamoDbAlertLedger } from '../../../adapters/store/alert-ledger-dynamodb.ts';
import { createTable, deleteTable } from '../../../adapters/store/dynamodb.ts';
import { DynamoDbJobStore } from '../../../adapters/store/jobs-dynamodb.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runCostReporter } from '../../../control/cost-reporter.ts';
import { queryCosts } from '../../../control/costs.ts';
import { formatCosts } from '../../../cli/commands/cost-format.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { costConfigFromEnv } from '../../../shared/cost/config.ts';
import { isSafeLocalPart, userEmailAddress } from '../../../shared/cost/recipients.ts';
import { handleRunEvent, newRunRecord } from '../../../shared/jobs/run-machine.ts';
import type { JobRecord, RunRecord } from '../../../shared/jobs/types.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { Notification, Notifier } from '../../../shared/ports/notifier.ts';
import { sampleJob } from '../../conformance/job-store.ts';
import { pricedPlan, storeRunningSince } from '../../support/cost-fixtures.ts';
import { startDynalite, uniqueTableName } from '../../support/dynamodb.ts';
import { useDynamoDb } from '../../support/dynamodb-suite.ts';

/**
 * Issue 13 #4: cost per job and per run (`recc cost --by job`), job budgets
 * and alerts naming the job, one alert per failed run (claimed in the
 * persisted AlertLedger: DynamoDB on dynalite here, as on AWS and `recc up`),
 * and alert addresses that a crafted owner cannot turn into other recipients.
 */
class RecordingNotifier implements Notifier {
  readonly sent: Notification[] = [];
  constructor(readonly channel: string) {}
  async send(n: Notification): Promise<void> {
    this.sent.push(n);
  }
}

const NOV = Date.UTC(2026, 10, 1);
const HOUR = 3_600_000;
const dynamo = useDynamoDb(() => startDynalite());

/** A run's cluster: tagged with the job and the run (as the run driver creates it), RUNNING since `since`, ended after `hours`. */
async function runCluster(store: InMemoryClusterStore, id: string, owner: string, job: string, run: string, since: number, hours?: number) {
  const record = await storeRunningSince(store, { id, owner, job, plan: pricedPlan('c5.xlarge', [2]), workers: 2, since, idleTimeoutMinutes: 60 * 24 * 60 });
  const tagged = await store.put({ ...record, spec: { ...record.spec, tags: { ...record.spec.tags, 'recc-job': job, 'recc-run': run } }, version: record.version + 1 }, record.version);
  if (hours === undefined) return tagged;
  const end = new Date(since + hours * HOUR).toISOString();
  const d = transition(tagged, 'DELETING', { actor: 'run-driver', at: end });
  const deleting = await store.put(d.next, tagged.version, d.change);
  const e = transition(deleting, 'DELETED', { actor: 'provisioner', at: end });
  return store.put(e.next, deleting.version, e.change);
}

/** A run stored as it reached `outcome` (with `reason`) at `at`: every step through the transition table and the store. */
async function endedRun(jobs: DynamoDbJobStore, job: JobRecord, scheduledAt: number, outcome: 'SUCCEEDED' | 'FAILED', at: number, reason?: string): Promise<RunRecord> {
  const created = newRunRecord({ id: `r-${job.id.slice(2)}-${scheduledAt}`, jobId: job.id, jobName: job.name, owner: job.owner, scheduledAt: new Date(scheduledAt).toISOString(), trigger: 'schedule', at: new Date(scheduledAt).toISOString(), ttlDays: 30 }, { actor: 't', stimulusId: 's' });
  let run = (await jobs.createRun(created.run, created.change)).run;
  const policy = { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 };
  const ctx = { actor: 'run-driver', at: new Date(at).toISOString() };
  for (const event of [
    { type: 'start', stimulusId: 'start', preRunningDeadline: ctx.at, activeDeadline: new Date(at + HOUR).toISOString() },
    { type: 'cluster-requested', stimulusId: 'c', clusterId: 'c-x' },
    { type: 'cluster-running', stimulusId: 'r' },
    { type: 'driver-started', stimulusId: 'd' },
    { type: 'driver-exited', stimulusId: 'e', exitCode: outcome === 'SUCCEEDED' ? 0 : 3, signal: null, stderrTail: reason ?? '' },
  ] as const) {
    const s = handleRunEvent(run, event, policy, ctx);
    if (s.kind === 'ignored') throw new Error(s.why);
    run = await jobs.putRun(s.next, run.version, s.kind === 'changed' ? s.change : undefined);
  }
  return run;
}

describe('Feature: cost per scheduled job and run', () => {
  it('recc cost --by job lists each job with its runs (one cluster per run), newest first', async () => {
    // Prepare: two runs of nightly (1 h and 2 h on one c5.xlarge at $0.18/h), one of hourly still running, one ad hoc cluster.
    const store = new InMemoryClusterStore();
    await runCluster(store, 'c-n1', 'alice', 'nightly', 'r-n-1', NOV, 1);
    await runCluster(store, 'c-n2', 'alice', 'nightly', 'r-n-2', NOV + 24 * HOUR, 2);
    await runCluster(store, 'c-h1', 'alice', 'hourly', 'r-h-1', NOV + 47 * HOUR);
    await storeRunningSince(store, { id: 'c-adhoc', owner: 'alice', plan: pricedPlan('c5.xlarge', [2]), workers: 2, since: NOV + 47 * HOUR, idleTimeoutMinutes: 600 });
    const clock = new ManualClock(NOV + 48 * HOUR);

    // Act
    const costs = await queryCosts({ store, clock }, { user: 'alice', admin: false }, { groupBy: 'job' });

    // Assess
    const nightly = costs.groups.find((g) => g.key === 'alice/nightly');
    expect(nightly).toMatchObject({ owner: 'alice', job: 'nightly', cost: 0.54, clusters: 2 });
    expect(nightly?.runs).toEqual([
      { run: 'r-n-2', clusterId: 'c-n2', status: 'DELETED', startedAt: new Date(NOV + 24 * HOUR).toISOString(), cost: 0.36, nodeHours: 2 },
      { run: 'r-n-1', clusterId: 'c-n1', status: 'DELETED', startedAt: new Date(NOV).toISOString(), cost: 0.18, nodeHours: 1 },
    ]);
    expect(costs.groups.find((g) => g.key === 'alice/hourly')?.runs).toEqual([{ run: 'r-h-1', clusterId: 'c-h1', status: 'RUNNING', startedAt: new Date(NOV + 47 * HOUR).toISOString(), cost: 0.18, nodeHours: 1 }]);
    expect(costs.groups.find((g) => g.key === '(no job)')?.runs).toEqual([]);
    const text = formatCosts(costs);
    expect(text).toMatch(/^ {2}r-n-2 +\$0\.36 +2\.00 +1 +c-n2 DELETED 2026-11-02 00:00$/m);
    expect(text.indexOf('nightly')).toBeLessThan(text.indexOf('r-n-2'));
    expect(text.indexOf('r-n-2')).toBeLessThan(text.indexOf('r-n-1'));
  });

  it('a job over its budget sends the Slack and e-mail alert naming the job, to its owner, once per channel', async () => {
    // Prepare: nightly's runs cost $30.24 in 7 days against a $20 job budget; alice ($1,000) and her namespaces are far below theirs.
    const store = new InMemoryClusterStore();
    for (let day = 0; day < 7; day += 1) await runCluster(store, `c-n${day}`, 'alice', 'nightly', `r-n-${day}`, NOV + day * 24 * HOUR, 24);
    const slack = new RecordingNotifier('slack');
    const email = new RecordingNotifier('email');
    const config = costConfigFromEnv({ RECC_COST_JOB_BUDGETS: 'nightly=20', RECC_COST_ALERT_THRESHOLDS: '100%', RECC_USER_EMAIL_DOMAIN: 'example.org', RECC_SMTP_HOST: '127.0.0.1', RECC_ALERT_EMAIL_FROM: 'recc@example.org' });
    const deps = { store, clock: new ManualClock(NOV + 7 * 24 * HOUR), logger: silentLogger, config, ledger: new DynamoDbAlertLedgerOnTable(), notifiers: [slack, email] };
    await deps.ledger.ready();

    // Act
    const report = await runCostReporter(deps);
    await runCostReporter({ ...deps, ledger: deps.ledger.again() });
    await deps.ledger.drop();

    // Assess
    const jobAlerts = report.alerts.filter((a) => a.scope === 'job');
    expect(jobAlerts.map((a) => [a.group, a.measure, a.channel, a.outcome])).toEqual([
      ['alice/nightly', 'month-to-date', 'slack', 'sent'],
      ['alice/nightly', 'month-to-date', 'email', 'sent'],
      ['alice/nightly', 'forecast', 'slack', 'sent'],
      ['alice/nightly', 'forecast', 'email', 'sent'],
    ]);
    expect(report.alerts.filter((a) => a.scope !== 'job')).toEqual([]);
    expect(slack.sent[0]?.subject).toBe('recc cost alert: job alice/nightly: month to date $30.24 > $20 threshold on a $20 budget');
    expect(slack.sent[0]?.text).toContain('c-n0 c-n0 (alice, recc-alice-n0, job nightly, DELETED): $4.32 this month');
    expect(email.sent.map((n) => n.to)).toEqual([['alice@example.org'], ['alice@example.org']]);
    expect(slack.sent).toHaveLength(2);
    expect(report.forecasts.find((f) => f.scope === 'job')).toMatchObject({ key: 'alice/nightly', budget: 20 });
  });

  it("two users' jobs of the same name stay apart: the admin's --by job shows each with its owner, budgets and alerts per owner", async () => {
    // Prepare: alice's nightly ran 1 h, bob's nightly 3 h (same name, different owners); alice's namesake job under "bob/…" too.
    const store = new InMemoryClusterStore();
    await runCluster(store, 'c-a1', 'alice', 'nightly', 'r-a-1', NOV, 1);
    await runCluster(store, 'c-b1', 'bob', 'nightly', 'r-b-1', NOV, 3);
    await runCluster(store, 'c-b2', 'bob', 'nightly', 'r-b-2', NOV + 24 * HOUR, 3);
    const clock = new ManualClock(NOV + 48 * HOUR);

    // Act
    const admin = await queryCosts({ store, clock }, { user: 'root-admin', admin: true }, { groupBy: 'job' });
    const alice = await queryCosts({ store, clock }, { user: 'alice', admin: false }, { groupBy: 'job' });

    // Assess: two groups, each with its owner, runs and cost; nothing merged.
    expect(admin.groups.map((g) => [g.key, g.owner, g.job, g.cost, g.clusters, g.runs?.map((r) => r.run)])).toEqual([
      ['bob/nightly', 'bob', 'nightly', 1.08, 2, ['r-b-2', 'r-b-1']],
      ['alice/nightly', 'alice', 'nightly', 0.18, 1, ['r-a-1']],
    ]);
    expect(alice.groups.map((g) => [g.key, g.cost])).toEqual([['alice/nightly', 0.18]]);
    const text = formatCosts(admin);
    expect(text).toMatch(/^JOB +OWNER +COST/m);
    expect(text).toMatch(/^nightly +bob +\$1\.08 +6\.00 +2 /m);
    expect(text).toMatch(/^nightly +alice +\$0\.18 +1\.00 +1 /m);

    // A bare job name budgets every owner's job of that name; owner/job budgets one user's.
    const slack = new RecordingNotifier('slack');
    const config = costConfigFromEnv({ RECC_COST_JOB_BUDGETS: 'nightly=1, bob/nightly=0.5', RECC_COST_ALERT_THRESHOLDS: '100%', RECC_COST_ALERT_SCOPES: 'job' });
    const ledger = new DynamoDbAlertLedgerOnTable();
    await ledger.ready();
    const report = await runCostReporter({ store, clock, logger: silentLogger, config, ledger, notifiers: [slack] });
    await ledger.drop();
    expect(report.forecasts.filter((f) => f.scope === 'job').map((f) => [f.key, f.budget]).sort()).toEqual([
      ['alice/nightly', 1],
      ['bob/nightly', 0.5],
    ]);
    // bob's $1.08 is over his $0.50; alice's $0.18 month to date is under her $1 (its forecast over 30 days is not).
    const monthToDate = report.alerts.filter((a) => a.measure === 'month-to-date').map((a) => a.group);
    expect(monthToDate).toEqual(['bob/nightly']);
    expect(slack.sent.find((n) => n.subject.includes('month to date'))?.subject).toBe('recc cost alert: job bob/nightly: month to date $1.08 > $0.50 threshold on a $0.50 budget');
  });
});

describe('Feature: an alert per failed run', () => {
  it('sends one alert per failed run and channel to the job owner, kept in the persisted ledger across reporter runs; succeeded and old runs send none', async () => {
    // Prepare
    const tableName = uniqueTableName('recc-run-alerts');
    await createTable(dynamo.client, tableName);
    try {
      const jobs = new DynamoDbJobStore(dynamo.client, { tableName });
      const now = NOV + 10 * 24 * HOUR;
      const job = await jobs.createJob(sampleJob('alice', 'nightly', NOV));
      await endedRun(jobs, job, now - 2 * HOUR, 'FAILED', now - HOUR, 'Error: s3://prices/2026-11-10 is missing');
      await endedRun(jobs, job, now - 26 * HOUR, 'SUCCEEDED', now - 25 * HOUR);
      await endedRun(jobs, job, now - 9 * 24 * HOUR, 'FAILED', now - 9 * 24 * HOUR, 'old news');
      const slack = new RecordingNotifier('slack');
      const email = new RecordingNotifier('email');
      const config = costConfigFromEnv({ RECC_USER_EMAIL_DOMAIN: 'example.org', RECC_SMTP_HOST: '127.0.0.1', RECC_ALERT_EMAIL_FROM: 'recc@example.org' });
      const base = { store: new InMemoryClusterStore(), clock: new ManualClock(now), logger: silentLogger, config, notifiers: [slack, email], jobs };

      // Act: two reporter runs, each with its own ledger object on the same table (two Lambda invocations).
      const first = await runCostReporter({ ...base, ledger: new DynamoDbAlertLedger({ client: dynamo.client, tableName }) });
      const second = await runCostReporter({ ...base, ledger: new DynamoDbAlertLedger({ client: dynamo.client, tableName }) });

      // Assess
      const failedId = `r-${job.id.slice(2)}-${now - 2 * HOUR}`;
      expect(first.runAlerts.map((a) => [a.runId, a.job, a.channel, a.outcome])).toEqual([
        [failedId, 'nightly', 'slack', 'sent'],
        [failedId, 'nightly', 'email', 'sent'],
      ]);
      expect(second.runAlerts.map((a) => a.outcome)).toEqual(['already-sent', 'already-sent']);
      expect(slack.sent).toHaveLength(1);
      expect(slack.sent[0]?.subject).toBe(`recc job nightly: run ${failedId} FAILED`);
      expect(slack.sent[0]?.text).toContain('Reason: the driver exited with status 3; stderr: Error: s3://prices/2026-11-10 is missing');
      expect(email.sent.map((n) => n.to)).toEqual([['alice@example.org']]);
    } finally {
      await deleteTable(dynamo.client, tableName);
    }
  });
});

describe('Feature: alert addresses cannot be injected through the owner', () => {
  const crafted = ['bob@evil.example', 'alice,mallory@evil.example', 'alice mallory', 'alice\nBcc: mallory@evil.example', 'alice\r\n', '<mallory@evil.example>', '.alice', 'al..ice', 'alice.', '"alice"@x', '', 'a'.repeat(65), 'alice;mallory', '__proto__x%'];

  it('refuses every owner that is not a plain mailbox name, and keeps plain ones', () => {
    for (const owner of crafted) expect(userEmailAddress(owner, 'example.org'), JSON.stringify(owner)).toBeUndefined();
    for (const owner of ['alice', 'a.lice', 'alice+jobs', 'j_doe-2', 'constructor', '__proto__']) expect(isSafeLocalPart(owner), owner).toBe(true);
    expect(userEmailAddress('alice', 'example.org')).toBe('alice@example.org');
    expect(userEmailAddress('alice', 'example.org,evil.example')).toBeUndefined();
    expect(() => costConfigFromEnv({ RECC_USER_EMAIL_DOMAIN: 'example.org>, mallory@evil.example' })).toThrow(ConfigError);
  });

  it('a cost alert for a crafted owner goes to the configured recipients only; the budget subscribers too', async () => {
    // Prepare: the owner name is an address list; its namespace crosses its budget.
    const store = new InMemoryClusterStore();
    const owner = 'alice,mallory@evil.example';
    await storeRunningSince(store, { id: 'c-x', owner, plan: pricedPlan('r5.4xlarge', [3, 3]), workers: 6, since: NOV, idleTimeoutMinutes: 60 * 24 * 60 });
    const email = new RecordingNotifier('email');
    const config = costConfigFromEnv({ RECC_COST_USER_BUDGET_USD: '100', RECC_COST_ALERT_THRESHOLDS: '100%', RECC_USER_EMAIL_DOMAIN: 'example.org', RECC_SMTP_HOST: '127.0.0.1', RECC_ALERT_EMAIL_FROM: 'recc@example.org', RECC_ALERT_EMAIL_TO: 'finops@example.org' });

    // Act
    const report = await runCostReporter({ store, clock: new ManualClock(Date.UTC(2026, 10, 16)), logger: silentLogger, config, ledger: new (await import('../../../adapters/store/alert-ledger-memory.ts')).InMemoryAlertLedger(), notifiers: [email] });

    // Assess: alerts were sent, none with the crafted addresses.
    expect(report.alerts.filter((a) => a.outcome === 'sent').length).toBeGreaterThan(0);
    for (const n of email.sent) expect(n.to).toBeUndefined();
    expect(budgetSubscribers({ emailDomain: 'example.org', emailTo: ['finops@example.org'] })(owner)).toEqual([{ SubscriptionType: 'EMAIL', Address: 'finops@example.org' }]);
    expect(budgetSubscribers({ emailDomain: 'example.org', emailTo: [] })('alice')).toEqual([{ SubscriptionType: 'EMAIL', Address: 'alice@example.org' }]);
  });
});

/** The DynamoDB ledger on a fresh dynalite table; `again()` is a second ledger object on the same table. */
class DynamoDbAlertLedgerOnTable extends DynamoDbAlertLedger {
  private static readonly tables = new WeakMap<object, string>();
  readonly table: string;
  constructor(table = uniqueTableName('recc-ledger')) {
    super({ client: dynamo.client, tableName: table });
    this.table = table;
  }
  ready(): Promise<void> {
    return createTable(dynamo.client, this.table);
  }
  again(): DynamoDbAlertLedger {
    return new DynamoDbAlertLedger({ client: dynamo.client, tableName: this.table });
  }
  drop(): Promise<void> {
    return deleteTable(dynamo.client, this.table);
  }
}
