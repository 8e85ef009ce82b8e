import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../../functions/routes.ts';
import { tableDefinition } from '../../../adapters/store/dynamodb.ts';
import { readApiConfig } from '../../../functions/commons/config.ts';
import { eksConfigFromEnv } from '../../../adapters/eks/config.ts';
import { CONTROL_PLANE_GROUP } from '../../../adapters/eks/manifests/control-plane-rbac.ts';
import { CfnSchemaValidator } from '../../support/cfn-schema.ts';
import { REPO_ROOT, invokeResult, runServerless } from '../../support/serverless-cli.ts';

/**
 * `serverless package --stage ci` offline (osls 4.3.1 + serverless-esbuild),
 * then checks on the packaged CloudFormation: every route is AWS_IAM, no IAM
 * statement has `Resource: "*"` unless its actions support nothing narrower,
 * the table/queue/schedules are there, and the route table matches.
 * Also `serverless invoke local` of the functions that need no AWS.
 */

/** Actions that support no resource-level permissions, so `Resource: "*"` is required. */
const STAR_ONLY_ACTIONS = new Set([
  'autoscaling:DescribeAutoScalingGroups',
  'autoscaling:DescribeAutoScalingInstances',
  'autoscaling:DescribeScalingActivities',
  'ec2:DescribeInstances',
  'ec2:DescribeLaunchTemplateVersions',
  'ec2:DescribeSubnets',
  'ec2:DescribeSecurityGroups',
  'pricing:GetProducts',
  'sqs:ListQueues',
  'ce:GetCostAndUsage',
  'xray:PutTraceSegments',
  'xray:PutTelemetryRecords',
]);

type Json = Record<string, any>;

function statementsOf(resources: Json): { where: string; statement: Json }[] {
  const out: { where: string; statement: Json }[] = [];
  for (const [name, res] of Object.entries(resources)) {
    const docs: Json[] = [];
    if (res.Type === 'AWS::IAM::Role') for (const p of res.Properties?.Policies ?? []) docs.push(p.PolicyDocument);
    if (res.Type === 'AWS::IAM::Policy' || res.Type === 'AWS::IAM::ManagedPolicy') docs.push(res.Properties?.PolicyDocument);
    for (const doc of docs) for (const statement of [doc?.Statement ?? []].flat()) out.push({ where: name, statement });
  }
  return out;
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

describe('serverless package (offline)', () => {
  let dir: string;
  let cfn: Json;
  let state: Json;
  let resources: Json;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'recc-sls-'));
    const run = await runServerless(['package', '--stage', 'ci', '--package', dir], { timeoutMs: 280_000 });
    expect(run.timedOut, `serverless package timed out:\n${run.stdout}\n${run.stderr}`).toBe(false);
    expect(run.code, `serverless package failed:\n${run.stdout}\n${run.stderr}`).toBe(0);
    cfn = JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Json;
    state = JSON.parse(readFileSync(join(dir, 'serverless-state.json'), 'utf8')) as Json;
    resources = cfn.Resources as Json;
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('puts every HTTP route under AWS_IAM authorization', () => {
    const routes = Object.values(resources).filter((r: Json) => r.Type === 'AWS::ApiGatewayV2::Route') as Json[];
    expect(routes.length).toBe(ROUTES.length);
    for (const r of routes) expect(r.Properties.AuthorizationType, r.Properties.RouteKey).toBe('AWS_IAM');
  });

  it('declares exactly the routes of functions/routes.ts, each on its function and handler', () => {
    const declared: string[] = [];
    for (const [name, fn] of Object.entries(state.service.functions as Json)) {
      for (const event of (fn as Json).events ?? []) {
        if (event.httpApi) declared.push(`${event.httpApi.method} ${event.httpApi.path} ${name} ${(fn as Json).handler}`);
      }
    }
    const expected = ROUTES.map((r) => `${r.method} ${r.path} ${r.functionName} ${r.handler}`);
    expect(declared.sort()).toEqual(expected.sort());
  });

  it('has no IAM statement with Resource "*" unless every action in it requires it', () => {
    const statements = statementsOf(resources);
    expect(statements.length).toBeGreaterThan(10);
    for (const { where, statement } of statements) {
      const actions = asList(statement.Action).map(String);
      expect(actions, `${where}: Action "*"`).not.toContain('*');
      for (const a of actions) expect(a.endsWith(':*'), `${where}: wildcard action ${a}`).toBe(false);
      if (asList(statement.Resource).includes('*')) {
        for (const a of actions) expect(STAR_ONLY_ACTIONS.has(a), `${where}: ${a} on Resource "*"`).toBe(true);
      }
    }
  });

  it('offers callers a policy that allows invoking this API and nothing else', () => {
    const policy = resources.ApiInvokePolicy as Json;
    expect(policy.Type).toBe('AWS::IAM::ManagedPolicy');
    expect(policy.Properties.PolicyDocument.Statement).toEqual([
      { Effect: 'Allow', Action: ['execute-api:Invoke'], Resource: { 'Fn::Sub': 'arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${HttpApi}/*' } },
    ]);
  });

  it('gives every function its own scoped role (no shared default role)', () => {
    const fns = Object.entries(resources).filter(([, r]) => (r as Json).Type === 'AWS::Lambda::Function');
    expect(fns.length).toBe(Object.keys(state.service.functions).length);
    for (const [name, fn] of fns) {
      const role = (fn as Json).Properties.Role;
      expect(role?.['Fn::GetAtt']?.[0], name).toMatch(/Role$/);
      expect(role['Fn::GetAtt'][0]).not.toBe('IamRoleLambdaExecution');
    }
    expect(resources.IamRoleLambdaExecution).toBeUndefined();
  });

  it('keeps CloudFormation references out of function environments', () => {
    for (const [name, res] of Object.entries(resources)) {
      if ((res as Json).Type !== 'AWS::Lambda::Function') continue;
      const vars = (res as Json).Properties.Environment?.Variables ?? {};
      for (const [k, v] of Object.entries(vars)) expect(typeof v, `${name}.${k}`).toBe('string');
      expect(vars.TABLE_NAME).toBe('recc-ci-clusters');
    }
  });

  it('gives the API functions an identity config the API accepts (issue 18), and no name-based admin setting', () => {
    const api = new Set(ROUTES.map((r) => r.functionName));
    let checked = 0;
    for (const [name, res] of Object.entries(resources)) {
      if ((res as Json).Type !== 'AWS::Lambda::Function') continue;
      const vars = (res as Json).Properties.Environment?.Variables ?? {};
      expect(vars.ADMIN_ROLE_NAMES, name).toBeUndefined();
      const fn = Object.keys(state.service.functions).find((f) => name === `${f[0]!.toUpperCase()}${f.slice(1)}LambdaFunction`);
      if (!fn || !api.has(fn)) continue;
      expect(readApiConfig(vars).identity.allowedAccounts, name).toEqual(['123456789012']);
      checked += 1;
    }
    expect(checked).toBe(api.size);
  });

  it('creates the table with point-in-time recovery and the store\'s keys and indexes', () => {
    const table = resources.ClustersTable as Json;
    expect(table.Type).toBe('AWS::DynamoDB::Table');
    const p = table.Properties;
    expect(p.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    const def = tableDefinition(p.TableName);
    const sortBy = <T extends Json>(xs: T[], key: string) => [...xs].sort((a, b) => String(a[key]).localeCompare(String(b[key])));
    expect(p.BillingMode).toBe(def.BillingMode);
    expect(p.KeySchema).toEqual(def.KeySchema);
    expect(sortBy(p.AttributeDefinitions, 'AttributeName')).toEqual(sortBy(def.AttributeDefinitions as Json[], 'AttributeName'));
    expect(sortBy(p.GlobalSecondaryIndexes, 'IndexName')).toEqual(sortBy(def.GlobalSecondaryIndexes as Json[], 'IndexName'));
  });

  it('feeds the provisioner from the queue, with a dead-letter queue', () => {
    const queue = resources.ProvisioningQueue.Properties;
    expect(queue.RedrivePolicy.deadLetterTargetArn).toEqual({ 'Fn::GetAtt': ['ProvisioningDeadLetterQueue', 'Arn'] });
    expect(queue.RedrivePolicy.maxReceiveCount).toBeGreaterThan(0);
    const mapping = Object.values(resources).find((r: Json) => r.Type === 'AWS::Lambda::EventSourceMapping') as Json;
    expect(mapping.Properties.EventSourceArn).toEqual({ 'Fn::GetAtt': ['ProvisioningQueue', 'Arn'] });
    expect(mapping.Properties.FunctionName).toEqual({ 'Fn::GetAtt': ['ProvisionerLambdaFunction', 'Arn'] });
  });

  it('schedules the harvester every 5 minutes and the cost reporter', () => {
    const rules = Object.values(resources).filter((r: Json) => r.Type === 'AWS::Events::Rule') as Json[];
    const byTarget = new Map(rules.map((r) => [r.Properties.Targets[0].Arn['Fn::GetAtt'][0], r.Properties.ScheduleExpression]));
    expect(byTarget.get('HarvesterLambdaFunction')).toBe('rate(5 minutes)');
    expect(byTarget.get('CostReporterLambdaFunction')).toMatch(/^(rate|cron)\(/);
  });

  it('packages the templates with the functions that read them', () => {
    expect(existsSync(join(dir, 'templates.zip'))).toBe(true);
    expect(existsSync(join(dir, 'createCluster.zip'))).toBe(true);
  });

  it('gives the EKS functions a configuration the backend accepts, with the EFS file system of published branches (issue 17 item 2)', () => {
    for (const fn of ['ProvisionerLambdaFunction', 'HarvesterLambdaFunction']) {
      const vars = resources[fn].Properties.Environment.Variables as Record<string, string>;
      const config = eksConfigFromEnv({ ...vars, AWS_REGION: 'us-east-1', RECC_EKS_SUBNET_IDS: 'subnet-0a' });
      expect(config.efsFileSystemId, fn).toBe('fs-0123456789abcdef0');
      expect(config.efsRootPath, fn).toBe('/branches');
      // Issue 17 #8: the stage parameter clusterImage, pinned by digest.
      expect(config.image, fn).toMatch(/^123456789012\.dkr\.ecr\.us-east-1\.amazonaws\.com\/recc@sha256:[0-9a-f]{64}$/);
    }
  });

  it('maps the provisioner and harvester roles into the control-plane group with access entries and no access policy (issue 17 item 7)', () => {
    const entries = Object.entries(resources).filter(([, r]) => (r as Json).Type === 'AWS::EKS::AccessEntry');
    expect(entries.map(([name]) => name).sort()).toEqual(['HarvesterAccessEntry', 'ProvisionerAccessEntry']);
    for (const [name, entry] of entries) {
      const p = (entry as Json).Properties;
      expect(p.ClusterName, name).toBe('recc-ci');
      expect(p.PrincipalArn['Fn::GetAtt'][0], name).toBe(name.replace('AccessEntry', 'Role'));
      expect(p.KubernetesGroups, name).toEqual([CONTROL_PLANE_GROUP]);
      expect(p.AccessPolicies, name).toBeUndefined();
    }
  });

  it('routes every alarm (DLQ depth, function errors and throttles, harvester failures, API 5xx) to the ops alert topic, which the opsAlerts function reads (issue 17 item 10)', () => {
    const alarms = Object.entries(resources).filter(([, r]) => (r as Json).Type === 'AWS::CloudWatch::Alarm') as [string, Json][];
    const names = alarms.map(([, a]) => String(a.Properties.AlarmName).replace('recc-ci-', '')).sort();
    expect(names).toEqual(['api-5xx', 'cost-reporter-errors', 'harvester-errors', 'harvester-failures', 'harvester-not-running', 'job-starter-errors', 'provisioner-errors', 'provisioner-throttles', 'provisioning-dlq']);
    for (const [name, a] of alarms) {
      expect(a.Properties.AlarmActions, name).toEqual([{ Ref: 'OpsAlertTopic' }]);
      expect(a.Properties.OKActions, name).toEqual([{ Ref: 'OpsAlertTopic' }]);
    }
    const dlq = resources.ProvisioningDlqAlarm.Properties;
    expect(dlq.Dimensions).toEqual([{ Name: 'QueueName', Value: { 'Fn::GetAtt': ['ProvisioningDeadLetterQueue', 'QueueName'] } }]);
    const filter = resources.HarvesterFailuresMetricFilter.Properties;
    expect(filter.LogGroupName).toBe('/aws/lambda/recc-ci-harvester');
    expect(filter.FilterPattern).toContain('$.message = "harvest finished"');
    const sub = Object.values(resources).find((r: Json) => r.Type === 'AWS::SNS::Subscription') as Json;
    expect(sub.Properties.TopicArn).toEqual({ Ref: 'OpsAlertTopic' });
    expect(sub.Properties.Endpoint).toEqual({ 'Fn::GetAtt': ['OpsAlertsLambdaFunction', 'Arn'] });
  });

  it('logs every API request as a JSON line and throttles every route (issue 17 item 10)', () => {
    const stage = resources.HttpApiStage.Properties;
    expect(stage.DefaultRouteSettings).toMatchObject({ ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 });
    expect(stage.AccessLogSettings.DestinationArn).toEqual({ 'Fn::GetAtt': ['HttpApiLogGroup', 'Arn'] });
    const line = JSON.parse(stage.AccessLogSettings.Format.replaceAll(/\$context\.[A-Za-z.]+/g, 'x')) as Record<string, string>;
    expect(Object.keys(line)).toEqual(expect.arrayContaining(['requestId', 'ip', 'user', 'routeKey', 'status', 'latencyMs']));
    expect(resources.HttpApiLogGroup.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it('publishes the stage configuration recc doctor reads, as JSON', () => {
    const outputs = cfn.Outputs as Json;
    const config = JSON.parse(outputs.ReccStageConfig.Value) as Record<string, string>;
    expect(config).toMatchObject({ eksClusterName: 'recc-ci', eksLaunchTemplate: 'recc-ci-workers', efsFileSystemId: 'fs-0123456789abcdef0', budgetPrefix: 'recc-ci-user-' });
    for (const k of ['ProvisionerRoleArn', 'HarvesterRoleArn', 'CostReporterRoleArn']) expect(outputs[k].Value['Fn::GetAtt'][1], k).toBe('Arn');
  });

  it('validates every resource of the packaged template against the vendored CloudFormation resource provider schemas: 0 errors', () => {
    const validator = new CfnSchemaValidator();
    expect(Object.keys(resources).length).toBeGreaterThan(150);
    expect(validator.validate(cfn as never)).toEqual([]);
    expect(validator.uncheckedPatterns).toEqual([]);
  });

  it('the schema check is not vacuous: it names a misspelt property, a missing required one, a wrong type and a bad enum', () => {
    const broken = structuredClone(cfn) as Json;
    broken.Resources.ProvisionerAccessEntry.Properties.KubernetesGroup = ['x'];
    delete broken.Resources.HarvesterAccessEntry.Properties.ClusterName;
    broken.Resources.ProvisioningQueue.Properties.VisibilityTimeout = '360s';
    broken.Resources.ProvisioningDlqAlarm.Properties.ComparisonOperator = 'Bigger';
    expect(new CfnSchemaValidator().validate(broken as never).sort()).toEqual([
      'HarvesterAccessEntry (AWS::EKS::AccessEntry) /: must have required property \'ClusterName\'',
      'ProvisionerAccessEntry (AWS::EKS::AccessEntry) /: must NOT have additional properties "KubernetesGroup"',
      'ProvisioningDlqAlarm (AWS::CloudWatch::Alarm) /ComparisonOperator: must be equal to one of the allowed values',
      'ProvisioningQueue (AWS::SQS::Queue) /VisibilityTimeout: must be integer',
    ]);
  });

  it('has a sample event for every function', () => {
    const events = readdirSync(join(REPO_ROOT, 'events')).filter((f) => f.endsWith('.json')).map((f) => f.replace(/\.json$/, ''));
    expect(events.sort()).toEqual(Object.keys(state.service.functions).sort());
  });
});

describe('serverless invoke local', () => {
  for (const fn of ['estimate', 'templates']) {
    it(`answers 200 for ${fn} with events/${fn}.json`, async () => {
      const run = await runServerless(['invoke', 'local', '-f', fn, '-p', `events/${fn}.json`, '--stage', 'ci'], { timeoutMs: 200_000 });
      expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
      const result = invokeResult(run.stdout);
      expect(result.statusCode, result.body).toBe(200);
      const body = JSON.parse(result.body);
      if (fn === 'estimate') expect(body.plan.costPerHour).toBeGreaterThan(0);
      else expect(body.templates.map((t: { name: string }) => t.name)).toContain('default');
    }, 240_000);
  }

  it('answers 200 for consoleAssets with events/consoleAssets.json: the page, as HTML under a strict CSP', async () => {
    const run = await runServerless(['invoke', 'local', '-f', 'consoleAssets', '-p', 'events/consoleAssets.json', '--stage', 'ci'], { timeoutMs: 200_000 });
    expect(run.code, `${run.stdout}\n${run.stderr}`).toBe(0);
    const result = invokeResult(run.stdout) as { statusCode: number; body: string; headers: Record<string, string> };
    expect(result.statusCode, result.body).toBe(200);
    expect(result.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(result.headers['content-security-policy']).toMatch(/^default-src 'none'; script-src 'self';/);
    expect(result.body).toMatch(/<script src="\/console\.js" defer><\/script>/);
  }, 240_000);
});
