import { CloudFormationClient, CloudFormationServiceException, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, DescribeSubnetsCommand, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { DescribeFileSystemsCommand, DescribeMountTargetsCommand, EFSClient, FileSystemNotFound } from '@aws-sdk/client-efs';
import { AccessDeniedException, DescribeAccessEntryCommand, DescribeAddonCommand, DescribeClusterCommand, EKSClient, ListAssociatedAccessPoliciesCommand, ResourceNotFoundException } from '@aws-sdk/client-eks';
import { GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand, NoSuchEntityException, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { formatDoctorReport, runDoctor, type DoctorReport } from '../../../adapters/doctor/checks.ts';
import { runCli } from '../../support/cli-run.ts';

/**
 * Issue 17: `recc doctor --stage NAME` checks a deployment read-only. Offline,
 * each AWS API is aws-sdk-client-mock answering as the service does: the
 * SDK's own exception classes with the real names, status codes and
 * messages (CloudFormation's "Stack with id X does not exist" is a 400
 * ValidationError; EKS not-found is ResourceNotFoundException 404; IAM
 * NoSuchEntity 404; EC2's unmodelled errors carry their code as the name;
 * EFS FileSystemNotFound 404).
 */
const ACCOUNT = '123456789012';
const PROVISIONER = `arn:aws:iam::${ACCOUNT}:role/recc-prod-ProvisionerRole-AbC123`;
const HARVESTER = `arn:aws:iam::${ACCOUNT}:role/recc-prod-HarvesterRole-DeF456`;
const COST = `arn:aws:iam::${ACCOUNT}:role/recc-prod-CostReporterRole-GhI789`;
const NODE_ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/recc-prod-node`;
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----\n').toString('base64');

const config = {
  eksClusterName: 'recc-prod',
  eksLaunchTemplate: 'recc-prod-workers',
  eksNodeInstanceRole: 'recc-prod-node',
  eksSubnetIds: 'subnet-a,subnet-b',
  efsFileSystemId: 'fs-0123456789abcdef0',
  budgetsEnabled: 'true',
  budgetPrefix: 'recc-prod-user-',
};

const meta = (status: number) => ({ $metadata: { httpStatusCode: status, requestId: 'req-1' } });

function stack(overrides: Partial<Stack> = {}, outputs: Record<string, string> = {}): Stack {
  const all: Record<string, string> = {
    HttpApiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com',
    ApiInvokePolicyArn: `arn:aws:iam::${ACCOUNT}:policy/recc-prod-ApiInvokePolicy`,
    ClustersTableName: 'recc-prod-clusters',
    ProvisioningQueueUrl: `https://sqs.eu-west-1.amazonaws.com/${ACCOUNT}/recc-prod-provisioning`,
    ReccStageConfig: JSON.stringify(config),
    ProvisionerRoleArn: PROVISIONER,
    HarvesterRoleArn: HARVESTER,
    CostReporterRoleArn: COST,
    ...outputs,
  };
  return {
    StackName: 'recc-prod',
    StackId: `arn:aws:cloudformation:eu-west-1:${ACCOUNT}:stack/recc-prod/0d6c0a30-1111-2222-3333-444455556666`,
    StackStatus: 'UPDATE_COMPLETE' as const,
    CreationTime: new Date('2026-11-01T00:00:00Z'),
    Outputs: Object.entries(all).map(([OutputKey, OutputValue]) => ({ OutputKey, OutputValue })),
    ...overrides,
  };
}

const mocks = {
  cfn: mockClient(CloudFormationClient),
  eks: mockClient(EKSClient),
  iam: mockClient(IAMClient),
  ec2: mockClient(EC2Client),
  efs: mockClient(EFSClient),
};

function healthy(): void {
  mocks.cfn.on(DescribeStacksCommand, { StackName: 'recc-prod' }).resolves({ Stacks: [stack()] });
  mocks.eks.on(DescribeClusterCommand, { name: 'recc-prod' }).resolves({
    cluster: { name: 'recc-prod', status: 'ACTIVE', version: '1.30', endpoint: 'https://ABCDEF.gr7.eu-west-1.eks.amazonaws.com', certificateAuthority: { data: CA }, accessConfig: { authenticationMode: 'API_AND_CONFIG_MAP' } },
  });
  for (const arn of [PROVISIONER, HARVESTER]) {
    mocks.eks.on(DescribeAccessEntryCommand, { clusterName: 'recc-prod', principalArn: arn }).resolves({ accessEntry: { principalArn: arn, type: 'STANDARD', kubernetesGroups: ['recc:control-plane'] } });
    mocks.eks.on(ListAssociatedAccessPoliciesCommand, { clusterName: 'recc-prod', principalArn: arn }).resolves({ associatedAccessPolicies: [] });
  }
  mocks.eks.on(DescribeAccessEntryCommand, { clusterName: 'recc-prod', principalArn: NODE_ROLE_ARN }).resolves({ accessEntry: { principalArn: NODE_ROLE_ARN, type: 'EC2_LINUX', kubernetesGroups: ['system:nodes'] } });
  mocks.iam.on(GetRoleCommand, { RoleName: 'recc-prod-node' }).resolves({
    Role: { RoleName: 'recc-prod-node', Arn: NODE_ROLE_ARN, Path: '/', RoleId: 'AROAEXAMPLE', CreateDate: new Date(), AssumeRolePolicyDocument: encodeURIComponent(JSON.stringify({ Version: '2012-10-17', Statement: [{ Effect: 'Allow', Principal: { Service: 'ec2.amazonaws.com' }, Action: 'sts:AssumeRole' }] })) },
  });
  mocks.iam.on(ListAttachedRolePoliciesCommand, { RoleName: 'recc-prod-node' }).resolves({
    AttachedPolicies: ['AmazonEKSWorkerNodePolicy', 'AmazonEKS_CNI_Policy', 'AmazonEC2ContainerRegistryReadOnly'].map((n) => ({ PolicyName: n, PolicyArn: `arn:aws:iam::aws:policy/${n}` })),
  });
  mocks.iam.on(SimulatePrincipalPolicyCommand).resolves({
    EvaluationResults: ['budgets:ViewBudget', 'budgets:ModifyBudget'].map((a) => ({ EvalActionName: a, EvalResourceName: `arn:aws:budgets::${ACCOUNT}:budget/recc-prod-user-doctor-check`, EvalDecision: 'allowed' })),
  });
  mocks.ec2.on(DescribeLaunchTemplateVersionsCommand, { LaunchTemplateName: 'recc-prod-workers', Versions: ['$Latest'] }).resolves({
    LaunchTemplateVersions: [{ LaunchTemplateName: 'recc-prod-workers', VersionNumber: 3, LaunchTemplateData: { MetadataOptions: { HttpEndpoint: 'enabled', HttpTokens: 'required', HttpPutResponseHopLimit: 1, InstanceMetadataTags: 'enabled' } } }],
  });
  mocks.ec2.on(DescribeLaunchTemplatesCommand, { LaunchTemplateNames: ['recc-prod-workers'] }).resolves({
    LaunchTemplates: [{ LaunchTemplateName: 'recc-prod-workers', LaunchTemplateId: 'lt-0123456789abcdef0', Tags: [{ Key: 'recc.io/managed-by', Value: 'recc' }] }],
  });
  mocks.ec2.on(DescribeSubnetsCommand).resolves({ Subnets: [{ SubnetId: 'subnet-a', AvailabilityZone: 'eu-west-1a' }, { SubnetId: 'subnet-b', AvailabilityZone: 'eu-west-1b' }] });
  mocks.eks.on(DescribeAddonCommand, { clusterName: 'recc-prod', addonName: 'aws-efs-csi-driver' }).resolves({ addon: { addonName: 'aws-efs-csi-driver', clusterName: 'recc-prod', status: 'ACTIVE', addonVersion: 'v2.1.0-eksbuild.1' } });
  mocks.efs.on(DescribeFileSystemsCommand, { FileSystemId: config.efsFileSystemId }).resolves({ FileSystems: [{ FileSystemId: config.efsFileSystemId, LifeCycleState: 'available' } as never] });
  mocks.efs.on(DescribeMountTargetsCommand, { FileSystemId: config.efsFileSystemId }).resolves({
    MountTargets: [
      { MountTargetId: 'fsmt-1', FileSystemId: config.efsFileSystemId, SubnetId: 'subnet-a', AvailabilityZoneName: 'eu-west-1a', LifeCycleState: 'available' },
      { MountTargetId: 'fsmt-2', FileSystemId: config.efsFileSystemId, SubnetId: 'subnet-b', AvailabilityZoneName: 'eu-west-1b', LifeCycleState: 'available' },
    ],
  });
}

const doctor = (): Promise<DoctorReport> =>
  runDoctor({ stage: 'prod', region: 'eu-west-1', clients: { cloudformation: new CloudFormationClient({}), eks: new EKSClient({}), iam: new IAMClient({}), ec2: new EC2Client({}), efs: new EFSClient({}) } });

const statusOf = (r: DoctorReport) => Object.fromEntries(r.checks.map((c) => [c.id, c.status]));
const check = (r: DoctorReport, id: string) => r.checks.find((c) => c.id === id)!;

describe('Function: runDoctor', () => {
  beforeEach(() => {
    for (const m of Object.values(mocks)) m.reset();
    healthy();
  });
  afterEach(() => {
    for (const m of Object.values(mocks)) m.reset();
  });

  it('passes every check on a healthy deployment, and only reads', async () => {
    // Act
    const report = await doctor();

    // Assess
    expect(statusOf(report)).toEqual({ stack: 'pass', 'eks-cluster': 'pass', 'eks-auth-mode': 'pass', 'access-entries': 'pass', 'node-role': 'pass', 'launch-template': 'pass', efs: 'pass', 'efs-csi': 'pass', budgets: 'pass' });
    expect(report.ok).toBe(true);
    const sent = Object.values(mocks).flatMap((m) => m.calls().map((c) => (c.args[0] as object).constructor.name));
    for (const name of sent) expect(name).toMatch(/^(Describe|Get|List|Simulate)/);
    expect(mocks.iam.commandCalls(SimulatePrincipalPolicyCommand)[0]?.args[0].input).toEqual({
      PolicySourceArn: COST,
      ActionNames: ['budgets:ViewBudget', 'budgets:ModifyBudget'],
      ResourceArns: [`arn:aws:budgets::${ACCOUNT}:budget/recc-prod-user-doctor-check`],
    });
    const table = formatDoctorReport(report);
    expect(table).toContain('All checks passed.');
    expect(table).toMatch(/launch template IMDS\s+PASS/);
  });

  it('fails the stack check when the stack does not exist, says how to deploy, and skips what depends on it', async () => {
    // Prepare
    mocks.cfn.on(DescribeStacksCommand).rejects(new CloudFormationServiceException({ name: 'ValidationError', $fault: 'client', message: 'Stack with id recc-prod does not exist', ...meta(400) }));

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'stack')).toMatchObject({ status: 'fail', detail: 'stack recc-prod does not exist in eu-west-1', fix: 'deploy it: npx serverless deploy --stage prod --region eu-west-1' });
    expect(report.checks.slice(1).every((c) => c.status === 'skip')).toBe(true);
    expect(report.ok).toBe(false);
    expect(mocks.eks.calls()).toHaveLength(0);
  });

  it('fails a stack of an older version that lacks outputs, naming them', async () => {
    // Prepare
    const old = stack({}, {});
    old.Outputs = (old.Outputs ?? []).filter((o) => !['ReccStageConfig', 'HarvesterRoleArn'].includes(o.OutputKey ?? ''));
    mocks.cfn.on(DescribeStacksCommand).resolves({ Stacks: [old] });

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'stack').status).toBe('fail');
    expect(check(report, 'stack').detail).toContain('outputs missing: ReccStageConfig, HarvesterRoleArn');
  });

  it('fails a launch template that allows IMDSv1 or a hop limit of 2, with the command that fixes it', async () => {
    // Prepare
    mocks.ec2.on(DescribeLaunchTemplateVersionsCommand).resolves({
      LaunchTemplateVersions: [{ LaunchTemplateName: 'recc-prod-workers', VersionNumber: 1, LaunchTemplateData: { MetadataOptions: { HttpTokens: 'optional', HttpPutResponseHopLimit: 2 } } }],
    });

    // Act
    const report = await doctor();

    // Assess
    const lt = check(report, 'launch-template');
    expect(lt.status).toBe('fail');
    expect(lt.detail).toContain('HttpTokens is optional, not required');
    expect(lt.detail).toContain('HttpPutResponseHopLimit is 2, not 1');
    expect(lt.detail).toContain('InstanceMetadataTags is not enabled');
    expect(lt.fix).toContain(`aws ec2 create-launch-template-version --launch-template-name recc-prod-workers`);
    expect(lt.fix).toContain('"HttpTokens":"required","HttpPutResponseHopLimit":1');
    expect(formatDoctorReport(report)).toMatch(/How to fix:\n1\. launch template IMDS: aws ec2/);
  });

  it('fails a launch template without the recc tag the IAM policy requires, with the command that tags it', async () => {
    // Prepare
    mocks.ec2.on(DescribeLaunchTemplatesCommand).resolves({ LaunchTemplates: [{ LaunchTemplateName: 'recc-prod-workers', LaunchTemplateId: 'lt-0123456789abcdef0', Tags: [{ Key: 'team', Value: 'quant' }] }] });

    // Act
    const report = await doctor();

    // Assess
    const lt = check(report, 'launch-template');
    expect(lt.status).toBe('fail');
    expect(lt.detail).toContain('is not tagged recc.io/managed-by=recc');
    expect(lt.fix).toBe('aws ec2 create-tags --resources lt-0123456789abcdef0 --tags Key=recc.io/managed-by,Value=recc');
  });

  it('fails a launch template that does not exist (EC2 error code as the error name)', async () => {
    // Prepare
    mocks.ec2.on(DescribeLaunchTemplateVersionsCommand).rejects(
      new EC2ServiceException({ name: 'InvalidLaunchTemplateName.NotFoundException', $fault: 'client', message: "At least one of the launch templates specified in the request does not exist.", ...meta(400) }),
    );

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'launch-template')).toMatchObject({ status: 'fail', detail: 'launch template recc-prod-workers does not exist' });
  });

  it('fails when the harvester has no access entry or the cluster refuses access entries', async () => {
    // Prepare
    mocks.eks.on(DescribeAccessEntryCommand, { clusterName: 'recc-prod', principalArn: HARVESTER }).rejects(new ResourceNotFoundException({ message: `The specified principalArn could not be found.`, ...meta(404) }));
    mocks.eks.on(DescribeClusterCommand).resolves({ cluster: { name: 'recc-prod', status: 'ACTIVE', endpoint: 'https://x.eks.amazonaws.com', certificateAuthority: { data: CA }, accessConfig: { authenticationMode: 'CONFIG_MAP' } } });

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'access-entries').status).toBe('fail');
    expect(check(report, 'access-entries').detail).toContain(`no access entry for ${HARVESTER}`);
    expect(check(report, 'access-entries').fix).toContain('recc render --control-plane-rbac | kubectl apply -f -');
    expect(check(report, 'eks-auth-mode')).toMatchObject({ status: 'fail', fix: 'aws eks update-cluster-config --name recc-prod --access-config authenticationMode=API_AND_CONFIG_MAP' });
  });

  it('flags a control-plane role that was also given cluster admin', async () => {
    // Prepare
    mocks.eks.on(ListAssociatedAccessPoliciesCommand, { clusterName: 'recc-prod', principalArn: PROVISIONER }).resolves({
      associatedAccessPolicies: [{ policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy', accessScope: { type: 'cluster' } }],
    });

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'access-entries').detail).toContain('AmazonEKSClusterAdminPolicy on the whole cluster, more than recc needs');
  });

  it('fails a node role without the CNI policy or an access entry, and an EKS cluster that is not ACTIVE', async () => {
    // Prepare
    mocks.iam.on(ListAttachedRolePoliciesCommand).resolves({ AttachedPolicies: [{ PolicyName: 'AmazonEKSWorkerNodePolicy', PolicyArn: 'arn:aws:iam::aws:policy/AmazonEKSWorkerNodePolicy' }] });
    mocks.eks.on(DescribeAccessEntryCommand, { clusterName: 'recc-prod', principalArn: NODE_ROLE_ARN }).rejects(new ResourceNotFoundException({ message: 'The specified principalArn could not be found.', ...meta(404) }));
    mocks.eks.on(DescribeClusterCommand).resolves({ cluster: { name: 'recc-prod', status: 'UPDATING', endpoint: 'https://x.eks.amazonaws.com', certificateAuthority: { data: CA }, accessConfig: { authenticationMode: 'API' } } });

    // Act
    const report = await doctor();

    // Assess
    const node = check(report, 'node-role');
    expect(node.status).toBe('fail');
    expect(node.detail).toContain('managed policies missing: AmazonEKS_CNI_Policy, AmazonEC2ContainerRegistryReadOnly');
    expect(node.detail).toContain('it has no access entry, so nodes cannot join');
    expect(node.fix).toContain(`aws eks create-access-entry --cluster-name recc-prod --principal-arn ${NODE_ROLE_ARN} --type EC2_LINUX`);
    expect(check(report, 'eks-cluster').detail).toContain('status UPDATING (not ACTIVE)');
  });

  it('fails a missing node role (IAM NoSuchEntity)', async () => {
    // Prepare
    mocks.iam.on(GetRoleCommand).rejects(new NoSuchEntityException({ message: 'The role with name recc-prod-node cannot be found.', ...meta(404) }));

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'node-role')).toMatchObject({ status: 'fail', detail: 'IAM role recc-prod-node does not exist' });
  });

  it('fails EFS without a mount target in a node subnet zone, and a file system that does not exist', async () => {
    // Prepare
    mocks.efs.on(DescribeMountTargetsCommand).resolves({ MountTargets: [{ MountTargetId: 'fsmt-1', FileSystemId: config.efsFileSystemId, SubnetId: 'subnet-a', AvailabilityZoneName: 'eu-west-1a', LifeCycleState: 'available' }] });

    // Act
    const missingZone = await doctor();
    mocks.efs.on(DescribeFileSystemsCommand).rejects(new FileSystemNotFound({ ErrorCode: 'FileSystemNotFound', message: `File system '${config.efsFileSystemId}' does not exist.`, ...meta(404) }));
    const missingFs = await doctor();

    // Assess
    expect(check(missingZone, 'efs')).toMatchObject({ status: 'fail', detail: `${config.efsFileSystemId}: no available mount target in eu-west-1b (subnet-b)` });
    expect(check(missingZone, 'efs').fix).toContain(`aws efs create-mount-target --file-system-id ${config.efsFileSystemId} --subnet-id subnet-b`);
    expect(check(missingFs, 'efs')).toMatchObject({ status: 'fail', detail: `EFS file system ${config.efsFileSystemId} does not exist` });
  });

  it('checks the EFS CSI driver the source volumes need: a missing add-on warns (Helm installs are fine), a degraded one fails', async () => {
    // Prepare
    mocks.eks.on(DescribeAddonCommand).rejects(new ResourceNotFoundException({ message: 'No addon: aws-efs-csi-driver found in cluster: recc-prod', ...meta(404) }));

    // Act
    const missing = await doctor();
    mocks.eks.on(DescribeAddonCommand).resolves({
      addon: { addonName: 'aws-efs-csi-driver', status: 'DEGRADED', health: { issues: [{ code: 'InsufficientNumberOfReplicas', message: 'The add-on is unhealthy because it doesn\'t have the desired number of replicas.' }] } },
    });
    const degraded = await doctor();

    // Assess
    expect(check(missing, 'efs-csi')).toMatchObject({ status: 'warn', fix: 'aws eks create-addon --cluster-name recc-prod --addon-name aws-efs-csi-driver' });
    expect(missing.ok).toBe(true);
    expect(check(degraded, 'efs-csi').status).toBe('fail');
    expect(check(degraded, 'efs-csi').detail).toContain('DEGRADED (InsufficientNumberOfReplicas');
    expect(degraded.ok).toBe(false);
  });

  it('warns (does not fail) when no EFS file system is configured, and skips Budgets when disabled', async () => {
    // Prepare
    mocks.cfn.on(DescribeStacksCommand).resolves({ Stacks: [stack({}, { ReccStageConfig: JSON.stringify({ ...config, efsFileSystemId: '', budgetsEnabled: 'false' }) })] });

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'efs').status).toBe('warn');
    expect(check(report, 'efs-csi').status).toBe('skip');
    expect(check(report, 'budgets').status).toBe('skip');
    expect(report.ok).toBe(true);
    expect(mocks.efs.calls()).toHaveLength(0);
    expect(mocks.iam.commandCalls(SimulatePrincipalPolicyCommand)).toHaveLength(0);
  });

  it('fails Budgets when the simulation denies the cost reporter (an SCP, a boundary)', async () => {
    // Prepare
    mocks.iam.on(SimulatePrincipalPolicyCommand).resolves({
      EvaluationResults: [
        { EvalActionName: 'budgets:ViewBudget', EvalDecision: 'allowed' },
        { EvalActionName: 'budgets:ModifyBudget', EvalDecision: 'explicitDeny' },
      ],
    });

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'budgets')).toMatchObject({ status: 'fail' });
    expect(check(report, 'budgets').detail).toContain('budgets:ModifyBudget explicitDeny');
  });

  it('reports a refused call as that check failing, naming the action, and carries on', async () => {
    // Prepare
    mocks.eks.on(DescribeClusterCommand).rejects(new AccessDeniedException({ message: 'User: arn:aws:sts::123456789012:assumed-role/dev/alice is not authorized to perform: eks:DescribeCluster', ...meta(403) }));

    // Act
    const report = await doctor();

    // Assess
    expect(check(report, 'eks-cluster').status).toBe('fail');
    expect(check(report, 'eks-cluster').detail).toBe('eks:DescribeCluster was denied to your credentials (AccessDeniedException): grant it to run this check');
    expect(check(report, 'launch-template').status).toBe('pass');
  });
});

describe('Command: recc doctor', () => {
  it('refuses a missing or malformed stage with exit 2', async () => {
    const none = await runCli(['doctor', '--json']);
    expect(none.code).toBe(2);
    const bad = await runCli(['doctor', '--stage', '../prod', '--json']);
    expect(bad.code).toBe(2);
    expect(JSON.parse(bad.stdout).error.details[0].path).toBe('stage');
  });

  it('reports every check as failed, without a stack trace, when AWS cannot be reached', async () => {
    // Prepare: credentials that sign, and every endpoint on a closed loopback port (no request leaves this machine).
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '/tmp',
      AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
      AWS_SECRET_ACCESS_KEY: 'secret',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_MAX_ATTEMPTS: '1',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
    };

    // Act
    const run = await runCli(['doctor', '--stage', 'prod', '--json'], { env });

    // Assess
    expect(run.code, run.stderr).toBe(1);
    const out = JSON.parse(run.stdout) as { ok: boolean; data: DoctorReport };
    expect(out.data.checks[0]).toMatchObject({ id: 'stack', status: 'fail' });
    expect(out.data.checks[0]?.detail).toContain('cloudformation:DescribeStacks failed');
    expect(out.data.ok).toBe(false);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});
