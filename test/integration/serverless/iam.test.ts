import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO_ROOT, runServerless } from '../../support/serverless-cli.ts';
import { SdkCallGraph, type SdkCommand } from './sdk-calls.ts';
import { schedulerRoutePolicy } from '../../../adapters/cluster-queues/scheduler-policy.ts';

/**
 * Issue 17 #6: every Lambda role grants exactly the IAM actions its functions'
 * code can send (derived statically from the handler's call graph down to the
 * `new XxxCommand(` of each AWS SDK client), plus what the runtime needs (logs,
 * the SQS trigger). Both ways: nothing missing, nothing extra.
 */

type Json = Record<string, any>;

/** IAM prefix of each SDK client package. */
const PREFIX: Record<string, string> = {
  '@aws-sdk/client-dynamodb': 'dynamodb',
  '@aws-sdk/client-sqs': 'sqs',
  '@aws-sdk/client-auto-scaling': 'autoscaling',
  '@aws-sdk/client-eks': 'eks',
  '@aws-sdk/client-scheduler': 'scheduler',
  '@aws-sdk/client-sesv2': 'ses',
  '@aws-sdk/client-s3': 's3',
  '@aws-sdk/client-pricing': 'pricing',
  '@aws-sdk/client-cloudwatch-logs': 'logs',
};

/** The document client's commands are the low-level ones under other names. */
const DOCUMENT_CLIENT: Record<string, string[]> = {
  GetCommand: ['dynamodb:GetItem'],
  PutCommand: ['dynamodb:PutItem'],
  UpdateCommand: ['dynamodb:UpdateItem'],
  DeleteCommand: ['dynamodb:DeleteItem'],
  QueryCommand: ['dynamodb:Query'],
  ScanCommand: ['dynamodb:Scan'],
  BatchGetCommand: ['dynamodb:BatchGetItem'],
  BatchWriteCommand: ['dynamodb:BatchWriteItem'],
  TransactGetCommand: ['dynamodb:GetItem'],
};

/** TransactWriteItems is authorized per item (there is no TransactWriteItems action). */
const TRANSACT_ITEM: Record<string, string> = { Put: 'dynamodb:PutItem', Update: 'dynamodb:UpdateItem', Delete: 'dynamodb:DeleteItem', ConditionCheck: 'dynamodb:ConditionCheckItem' };

/**
 * Actions an API call needs besides its own (AWS docs "Amazon EC2 Auto Scaling API
 * permissions": a group from a launch template launches, tags and passes the node role).
 */
const ALSO_NEEDS: Record<string, string[]> = {
  'autoscaling:CreateAutoScalingGroup': ['ec2:RunInstances', 'ec2:CreateTags', 'iam:PassRole'],
  'scheduler:CreateSchedule': ['iam:PassRole'],
  'scheduler:UpdateSchedule': ['iam:PassRole'],
  'eks:CreatePodIdentityAssociation': ['iam:PassRole'],
};

/** Budgets authorizes every call through two actions. */
const BUDGETS: Record<string, string> = {
  CreateBudgetCommand: 'budgets:ModifyBudget',
  UpdateBudgetCommand: 'budgets:ModifyBudget',
  DeleteBudgetCommand: 'budgets:ModifyBudget',
  CreateNotificationCommand: 'budgets:ModifyBudget',
  UpdateNotificationCommand: 'budgets:ModifyBudget',
  DeleteNotificationCommand: 'budgets:ModifyBudget',
  DescribeBudgetCommand: 'budgets:ViewBudget',
  DescribeNotificationsForBudgetCommand: 'budgets:ViewBudget',
};

export function actionsFor(c: SdkCommand): string[] {
  const bare = c.command.replace(/Command$/, '');
  let actions: string[];
  if (c.pkg === '@aws-sdk/lib-dynamodb') {
    if (c.command === 'TransactWriteCommand') actions = (c.transactItems ?? []).map((k) => TRANSACT_ITEM[k] as string);
    else actions = DOCUMENT_CLIENT[c.command] ?? [];
  } else if (c.pkg === '@aws-sdk/client-budgets') {
    actions = BUDGETS[c.command] ? [BUDGETS[c.command] as string] : [];
  } else if (PREFIX[c.pkg]) {
    actions = [`${PREFIX[c.pkg]}:${bare}`];
  } else actions = [];
  if (actions.length === 0) throw new Error(`no IAM mapping for ${c.pkg} ${c.command} (${c.file}); add one to iam.test.ts`);
  return actions.flatMap((a) => [a, ...(ALSO_NEEDS[a] ?? [])]);
}

const asList = (v: unknown): unknown[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]);

describe('IAM least privilege (issue 17 #6)', () => {
  let dir: string;
  let resources: Json;
  let functions: Json;
  let graph: SdkCallGraph;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'recc-iam-'));
    const run = await runServerless(['package', '--stage', 'ci', '--package', dir], { timeoutMs: 280_000 });
    expect(run.code, `serverless package failed:\n${run.stdout}\n${run.stderr}`).toBe(0);
    resources = (JSON.parse(readFileSync(join(dir, 'cloudformation-template-update-stack.json'), 'utf8')) as Json).Resources;
    functions = (JSON.parse(readFileSync(join(dir, 'serverless-state.json'), 'utf8')) as Json).service.functions;
    const entries = Object.values(functions).map((f: Json) => `${String(f.handler).replace(/\.[^.]+$/, '')}.ts`);
    // The sequential writer is dynalite's (no transactions); every deployed function runs with DYNAMODB_TRANSACTIONS=true (checked below).
    graph = new SdkCallGraph(entries, { repoRoot: REPO_ROOT, excludeFiles: ['adapters/store/dynamodb-sequential.ts'] });
  }, 300_000);

  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const lambdaOf = (fn: string): Json => resources[`${fn[0]!.toUpperCase()}${fn.slice(1)}LambdaFunction`] as Json;

  it('deploys every function with DynamoDB transactions on (so the sequential writer is never used)', () => {
    for (const fn of Object.keys(functions)) expect(lambdaOf(fn).Properties.Environment.Variables.DYNAMODB_TRANSACTIONS, fn).toBe('true');
  });

  it('grants each Lambda role exactly the actions its functions send, plus logs and their triggers', () => {
    const needed = new Map<string, Map<string, string>>();
    for (const [fn, def] of Object.entries(functions) as [string, Json][]) {
      const role = lambdaOf(fn).Properties.Role['Fn::GetAtt'][0] as string;
      const why = needed.get(role) ?? new Map<string, string>();
      needed.set(role, why);
      const entry = `${String(def.handler).replace(/\.[^.]+$/, '')}.ts`;
      for (const c of graph.commandsFrom(entry)) for (const a of actionsFor(c)) why.set(a, `${fn}: ${c.command} via ${c.path.join(' → ')}`);
      for (const a of ['logs:CreateLogStream', 'logs:PutLogEvents']) why.set(a, `${fn}: Lambda runtime logs`);
      if ((def.events ?? []).some((e: Json) => e.sqs)) for (const a of ['sqs:ReceiveMessage', 'sqs:DeleteMessage', 'sqs:GetQueueAttributes']) why.set(a, `${fn}: SQS trigger`);
    }
    expect(needed.size).toBeGreaterThan(5);
    const problems: string[] = [];
    for (const [role, why] of needed) {
      const granted = new Set<string>();
      for (const p of resources[role].Properties.Policies ?? []) for (const s of asList(p.PolicyDocument.Statement) as Json[]) for (const a of asList(s.Action)) granted.add(String(a));
      for (const [a, reason] of why) if (!granted.has(a)) problems.push(`${role} lacks ${a} (${reason})`);
      for (const a of granted) if (!why.has(a)) problems.push(`${role} grants ${a}, which no code of its functions sends`);
    }
    expect(problems).toEqual([]);
  });

  it("gives every cluster's scheduler (Pod Identity) only its own cluster's queues and payloads, as rendered from the queue contract (issue 12)", () => {
    // Resolve the few intrinsics the role uses, with placeholder account values.
    const bucket = String(resources.PayloadBucket.Properties.BucketName);
    const resolve = (v: unknown): unknown => {
      if (Array.isArray(v)) return v.map(resolve);
      if (v && typeof v === 'object') {
        const o = v as Json;
        if ('Fn::Sub' in o) return String(o['Fn::Sub']).replace('${AWS::Partition}', 'aws').replace('${AWS::Region}', 'us-east-1').replace('${AWS::AccountId}', '123456789012');
        if ('Fn::Join' in o) return (resolve(o['Fn::Join'][1]) as unknown[]).join(o['Fn::Join'][0]);
        if ('Fn::GetAtt' in o && o['Fn::GetAtt'][0] === 'PayloadBucket') return `arn:aws:s3:::${bucket}`;
        if ('Fn::GetAtt' in o && o['Fn::GetAtt'][0] === 'ClustersTable') return 'arn:aws:dynamodb:us-east-1:123456789012:table/ClustersTable';
        return Object.fromEntries(Object.entries(o).map(([k, x]) => [k, resolve(x)]));
      }
      return v;
    };
    const role = resources.ClusterSchedulerRole.Properties;
    expect(role.AssumeRolePolicyDocument.Statement[0].Principal.Service).toBe('pods.eks.amazonaws.com');
    expect(role.AssumeRolePolicyDocument.Statement[0].Action).toEqual(['sts:AssumeRole', 'sts:TagSession']);
    const prefix = String(lambdaOf('provisioner').Properties.Environment.Variables.RECC_CLUSTER_QUEUE_PREFIX);
    expect(lambdaOf('provisioner').Properties.Environment.Variables.RECC_PAYLOAD_BUCKET).toBe(bucket);
    expect(resolve(role.Policies[0].PolicyDocument)).toEqual(
      schedulerRoutePolicy({ partition: 'aws', region: 'us-east-1', accountId: '123456789012', queuePrefix: prefix, payloadBucket: bucket, tableArn: 'arn:aws:dynamodb:us-east-1:123456789012:table/ClustersTable' }),
    );
  });

  it("lets a cluster's pods (a job run's driver) call only the cluster routes of the API, and names their role to the API functions (issue 13)", () => {
    const role = resources.ClusterSchedulerRole.Properties;
    const invoke = (role.Policies as Json[]).flatMap((p) => asList(p.PolicyDocument.Statement) as Json[]).filter((s) => asList(s.Action).some((a) => String(a).startsWith('execute-api:')));
    expect(invoke.length).toBe(1);
    expect(asList(invoke[0]!.Action)).toEqual(['execute-api:Invoke']);
    const routes = (asList(invoke[0]!.Resource) as Json[]).map((r) => String(r['Fn::Sub']).replace(/^.*\$\{HttpApi\}\/\*\//, ''));
    expect(routes.sort()).toEqual(['DELETE/clusters/*', 'GET/clusters/*', 'PATCH/clusters/*', 'POST/clusters/*/heartbeat']);
    for (const fn of ['getCluster', 'scaleCluster', 'deleteCluster', 'heartbeat', 'clusterLogs']) {
      expect(String(lambdaOf(fn).Properties.Environment.Variables.RECC_CLUSTER_ROLE_ARNS), fn).toBe(`arn:aws:iam::${String(lambdaOf(fn).Properties.Environment.Variables.RECC_CLUSTER_ROLE_ARNS).split(':')[4]}:role/${String(role.RoleName)}`);
      expect(String(role.RoleName)).toMatch(/^recc-.+-cluster-scheduler$/);
    }
  });

  it('lets the Lambdas create cluster queues only with their tags and manage only tagged ones (ABAC)', () => {
    for (const role of ['ProvisionerRole', 'HarvesterRole']) {
      const statements = (resources[role].Properties.Policies as Json[]).flatMap((p) => asList(p.PolicyDocument.Statement) as Json[]);
      for (const s of statements.filter((x) => asList(x.Action).some((a) => /^sqs:(CreateQueue|TagQueue)$/.test(String(a))))) {
        expect(s.Condition?.StringEquals?.['aws:RequestTag/recc.io/managed-by'], role).toBe('recc');
        expect(s.Condition?.Null?.['aws:RequestTag/cluster'], role).toBe('false');
      }
      const manage = statements.filter((x) => asList(x.Action).some((a) => /^sqs:(DeleteQueue|SetQueueAttributes|ListQueueTags)$/.test(String(a))));
      expect(manage.length, role).toBeGreaterThan(0);
      for (const s of manage) {
        expect(s.Condition?.StringEquals?.['aws:ResourceTag/recc.io/managed-by'], role).toBe('recc');
        expect(s.Condition?.Null?.['aws:ResourceTag/cluster'], role).toBe('false');
      }
    }
  });

  it("lets RunInstances use only recc's tagged launch templates and the stage's own subnets", () => {
    for (const role of ['ProvisionerRole', 'HarvesterRole']) {
      const statements = (resources[role].Properties.Policies as Json[]).flatMap((p) => asList(p.PolicyDocument.Statement) as Json[]);
      const run = statements.filter((x) => asList(x.Action).includes('ec2:RunInstances'));
      expect(run.length, role).toBe(3);
      for (const s of run) expect(asList(s.Action), role).toEqual(['ec2:RunInstances']);
      // The launch template only with recc's tag.
      const withTemplate = run.filter((s) => JSON.stringify(s.Resource).includes('launch-template/'));
      expect(withTemplate, role).toHaveLength(1);
      expect(withTemplate[0]!.Condition?.StringEquals?.['ec2:ResourceTag/recc.io/managed-by'], role).toBe('recc');
      // Subnets: only the stage's, by the ec2:SubnetID condition key (any subnet statement without it would allow all).
      const withSubnets = run.filter((s) => JSON.stringify(s.Resource).includes('subnet/'));
      expect(withSubnets, role).toHaveLength(1);
      expect(withSubnets[0]!.Condition?.StringEquals?.['ec2:SubnetID'], role).toEqual({ 'Fn::Split': [',', 'subnet-0aaaaaaaaaaaaaaa1,subnet-0bbbbbbbbbbbbbbb2'] });
      // The other RunInstances statement names none of the two (a template or a subnet there would be unscoped).
      const rest = run.filter((s) => s !== withTemplate[0] && s !== withSubnets[0]);
      expect(JSON.stringify(rest), role).not.toMatch(/launch-template\/|subnet\//);
    }
  });

  it('lets CreateTags only tag at launch, and PassRole only to EC2 (the scheduler role only to EKS Pod Identity)', () => {
    for (const role of ['ProvisionerRole', 'HarvesterRole']) {
      const statements = (resources[role].Properties.Policies as Json[]).flatMap((p) => asList(p.PolicyDocument.Statement) as Json[]);
      const tags = statements.filter((x) => asList(x.Action).includes('ec2:CreateTags'));
      expect(tags.length, role).toBeGreaterThan(0);
      for (const s of tags) {
        expect(asList(s.Action), role).toEqual(['ec2:CreateTags']);
        expect(s.Condition?.StringEquals?.['ec2:CreateAction'], role).toBe('RunInstances');
      }
      const pass = statements.filter((s) => asList(s.Action).includes('iam:PassRole'));
      expect(pass.length, role).toBeGreaterThan(0);
      for (const s of pass) {
        const schedulerRole = JSON.stringify(s.Resource).includes('ClusterSchedulerRole');
        expect(s.Condition?.StringEquals?.['iam:PassedToService'], role).toBe(schedulerRole ? 'pods.eks.amazonaws.com' : 'ec2.amazonaws.com');
      }
    }
  });
});
