import { CloudFormationClient, DescribeStacksCommand, type Stack } from '@aws-sdk/client-cloudformation';
import { DescribeLaunchTemplatesCommand, DescribeLaunchTemplateVersionsCommand, DescribeSubnetsCommand, EC2Client } from '@aws-sdk/client-ec2';
import { DescribeFileSystemsCommand, DescribeMountTargetsCommand, EFSClient } from '@aws-sdk/client-efs';
import { DescribeAccessEntryCommand, DescribeAddonCommand, DescribeClusterCommand, EKSClient, ListAssociatedAccessPoliciesCommand, type Cluster } from '@aws-sdk/client-eks';
import { GetRoleCommand, IAMClient, ListAttachedRolePoliciesCommand, SimulatePrincipalPolicyCommand } from '@aws-sdk/client-iam';
import { CONTROL_PLANE_GROUP } from '../eks/manifests/control-plane-rbac.ts';
import type { CheckResult, DoctorReport } from './report.ts';

export * from './report.ts';

/**
 * `recc doctor --stage NAME`: read-only checks of a deployed stage, with the
 * caller's AWS credentials. Every call is a Describe/Get/List/Simulate; none
 * changes anything. A check that cannot run (its input comes from a failed
 * check) is skipped, and an AWS error (access denied, throttling, no network)
 * fails that check with the action that was refused; the report always comes
 * back, never an exception.
 *
 * What is checked, and why:
 * - the CloudFormation stack `recc-<stage>` is complete and has every output
 *   this version needs (`ReccStageConfig` carries the stage parameters);
 * - the EKS cluster is ACTIVE with an https endpoint and a PEM CA, and its
 *   authentication mode admits access entries (API or API_AND_CONFIG_MAP);
 * - the provisioner and harvester roles have their access entries in the
 *   `recc:control-plane` group (serverless.yml, README "Deploy to AWS");
 * - the node role exists, trusts EC2, carries the EKS worker policies and has
 *   an EC2_LINUX access entry so nodes can join;
 * - the node launch template requires IMDSv2 with a hop limit of 1 (pods
 *   cannot reach node credentials) and exposes instance tags (the bootstrap
 *   reads the node group from them);
 * - the EFS file system of published branches is available with a mount
 *   target in every availability zone of the node subnets, and the EFS CSI
 *   driver add-on is active (a cluster's source is a static EFS CSI volume:
 *   without the driver its pods never mount it);
 * - with budgets enabled, the cost reporter's role may view and modify the
 *   stage's budgets (IAM policy simulation).
 */
export interface DoctorClients {
  cloudformation: Pick<CloudFormationClient, 'send'>;
  eks: Pick<EKSClient, 'send'>;
  iam: Pick<IAMClient, 'send'>;
  ec2: Pick<EC2Client, 'send'>;
  efs: Pick<EFSClient, 'send'>;
}

export interface DoctorOptions {
  stage: string;
  region: string;
  /** @default `recc-<stage>` (serverless' stack name) */
  stackName?: string;
  clients: DoctorClients;
}

/** Outputs the stack of this version has (serverless.yml `Outputs`, and serverless' own HttpApiUrl). */
export const REQUIRED_OUTPUTS = ['HttpApiUrl', 'ApiInvokePolicyArn', 'ClustersTableName', 'ProvisioningQueueUrl', 'ReccStageConfig', 'ProvisionerRoleArn', 'HarvesterRoleArn', 'CostReporterRoleArn'] as const;

/** Managed policies a self-managed EKS node role needs (EKS user guide, "Amazon EKS node IAM role"). */
export const NODE_ROLE_POLICIES = ['AmazonEKSWorkerNodePolicy', 'AmazonEKS_CNI_Policy'] as const;
const REGISTRY_POLICIES = ['AmazonEC2ContainerRegistryReadOnly', 'AmazonEC2ContainerRegistryPullOnly'];

interface StageConfig {
  eksClusterName: string;
  eksLaunchTemplate: string;
  eksNodeInstanceRole: string;
  eksSubnetIds: string;
  efsFileSystemId: string;
  budgetsEnabled: string;
  budgetPrefix: string;
}

interface Context {
  stack?: Stack;
  outputs: Record<string, string>;
  config?: StageConfig;
  cluster?: Cluster;
  accountId?: string;
}

/** The AWS error as one line: its name, HTTP status and message (never a stack trace). */
export function describeAwsError(err: unknown, action: string): string {
  const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
  const name = e?.name ?? 'Error';
  const status = e?.$metadata?.httpStatusCode;
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized/i.test(name)) return `${action} was denied to your credentials (${name}): grant it to run this check`;
  if (/CredentialsProviderError|ExpiredToken|InvalidClientTokenId|UnrecognizedClient/i.test(name)) return `no valid AWS credentials for ${action} (${name}): sign in (aws sso login, or set AWS_PROFILE) and run again`;
  return `${action} failed: ${name}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(err)}`;
}

const pass = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'pass', detail });
const fail = (id: string, title: string, detail: string, fix: string): CheckResult => ({ id, title, status: 'fail', detail, fix });
const skip = (id: string, title: string, detail: string): CheckResult => ({ id, title, status: 'skip', detail });
const warn = (id: string, title: string, detail: string, fix: string): CheckResult => ({ id, title, status: 'warn', detail, fix });

function parseStageConfig(raw: string | undefined): StageConfig | undefined {
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Record<string, unknown>;
    const s = (k: string) => (typeof v[k] === 'string' ? (v[k] as string) : '');
    return { eksClusterName: s('eksClusterName'), eksLaunchTemplate: s('eksLaunchTemplate'), eksNodeInstanceRole: s('eksNodeInstanceRole'), eksSubnetIds: s('eksSubnetIds'), efsFileSystemId: s('efsFileSystemId'), budgetsEnabled: s('budgetsEnabled'), budgetPrefix: s('budgetPrefix') };
  } catch {
    return undefined;
  }
}

async function checkStack(o: DoctorOptions, stackName: string, ctx: Context): Promise<CheckResult[]> {
  const title = 'stack and outputs';
  let stack: Stack | undefined;
  try {
    stack = (await o.clients.cloudformation.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (err) {
    const missing = /does not exist/.test((err as Error)?.message ?? '');
    return [fail('stack', title, missing ? `stack ${stackName} does not exist in ${o.region}` : describeAwsError(err, 'cloudformation:DescribeStacks'), missing ? `deploy it: npx serverless deploy --stage ${o.stage} --region ${o.region}` : 'see the detail')];
  }
  if (!stack) return [fail('stack', title, `stack ${stackName} not found`, `deploy it: npx serverless deploy --stage ${o.stage} --region ${o.region}`)];
  ctx.stack = stack;
  ctx.accountId = /^arn:[^:]+:cloudformation:[^:]*:(\d{12}):/.exec(stack.StackId ?? '')?.[1];
  for (const out of stack.Outputs ?? []) if (out.OutputKey && out.OutputValue !== undefined) ctx.outputs[out.OutputKey] = out.OutputValue;
  const status = stack.StackStatus ?? 'UNKNOWN';
  if (!/_COMPLETE$/.test(status) || /ROLLBACK|DELETE/.test(status)) {
    return [fail('stack', title, `stack ${stackName} is ${status}${stack.StackStatusReason ? ` (${stack.StackStatusReason})` : ''}`, 'read the stack events (aws cloudformation describe-stack-events), fix the cause, and deploy again')];
  }
  const missing = REQUIRED_OUTPUTS.filter((k) => !(k in ctx.outputs));
  ctx.config = parseStageConfig(ctx.outputs.ReccStageConfig);
  if (missing.length) return [fail('stack', title, `${status}, but outputs missing: ${missing.join(', ')}`, `deploy this version: npx serverless deploy --stage ${o.stage}`)];
  if (!ctx.config) return [fail('stack', title, 'output ReccStageConfig is not the JSON this version writes', `deploy this version: npx serverless deploy --stage ${o.stage}`)];
  return [pass('stack', title, `${status}; ${Object.keys(ctx.outputs).length} outputs; API ${ctx.outputs.HttpApiUrl}`)];
}

async function checkCluster(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'EKS endpoint and CA';
  const authTitle = 'EKS authentication mode';
  const name = ctx.config?.eksClusterName;
  if (!name) return [skip('eks-cluster', title, 'needs the stack outputs'), skip('eks-auth-mode', authTitle, 'needs the cluster')];
  let cluster: Cluster | undefined;
  try {
    cluster = (await o.clients.eks.send(new DescribeClusterCommand({ name }))).cluster;
  } catch (err) {
    const missing = (err as Error)?.name === 'ResourceNotFoundException';
    return [
      fail('eks-cluster', title, missing ? `EKS cluster ${name} does not exist in ${o.region}` : describeAwsError(err, 'eks:DescribeCluster'), missing ? `create it, or set the stage parameter eksClusterName to the cluster's name and deploy again` : 'see the detail'),
      skip('eks-auth-mode', authTitle, 'needs the cluster'),
    ];
  }
  const out: CheckResult[] = [];
  const problems: string[] = [];
  if (cluster?.status !== 'ACTIVE') problems.push(`status ${cluster?.status ?? 'unknown'} (not ACTIVE)`);
  if (!cluster?.endpoint?.startsWith('https://')) problems.push(`endpoint ${JSON.stringify(cluster?.endpoint ?? '')} is not https`);
  const ca = cluster?.certificateAuthority?.data ?? '';
  const pem = Buffer.from(ca, 'base64').toString('utf8');
  if (!/-----BEGIN CERTIFICATE-----[\s\S]+-----END CERTIFICATE-----/.test(pem)) problems.push('certificate authority data is not a base64 PEM certificate');
  if (problems.length) out.push(fail('eks-cluster', title, `${name}: ${problems.join('; ')}`, 'wait for the cluster to be ACTIVE (aws eks describe-cluster), or point eksClusterName at a working cluster'));
  else out.push(pass('eks-cluster', title, `${name} ACTIVE, Kubernetes ${cluster?.version ?? '?'}, ${cluster?.endpoint}, CA PEM ok`));
  ctx.cluster = cluster;
  const mode = cluster?.accessConfig?.authenticationMode ?? 'CONFIG_MAP';
  if (mode === 'API' || mode === 'API_AND_CONFIG_MAP') out.push(pass('eks-auth-mode', authTitle, mode));
  else out.push(fail('eks-auth-mode', authTitle, `${mode}: access entries (recc's users and its own roles) are refused`, `aws eks update-cluster-config --name ${name} --access-config authenticationMode=API_AND_CONFIG_MAP`));
  return out;
}

async function checkAccessEntries(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'control-plane access entries';
  const name = ctx.config?.eksClusterName;
  if (!ctx.cluster || !name) return [skip('access-entries', title, 'needs the cluster')];
  const problems: string[] = [];
  const seen: string[] = [];
  for (const key of ['ProvisionerRoleArn', 'HarvesterRoleArn'] as const) {
    const principalArn = ctx.outputs[key] as string;
    try {
      const entry = (await o.clients.eks.send(new DescribeAccessEntryCommand({ clusterName: name, principalArn }))).accessEntry;
      if (!entry?.kubernetesGroups?.includes(CONTROL_PLANE_GROUP)) problems.push(`${principalArn} is not in the group ${CONTROL_PLANE_GROUP} (groups: ${(entry?.kubernetesGroups ?? []).join(', ') || 'none'})`);
      const policies = (await o.clients.eks.send(new ListAssociatedAccessPoliciesCommand({ clusterName: name, principalArn }))).associatedAccessPolicies ?? [];
      const broad = policies.filter((p) => /AmazonEKSClusterAdminPolicy|AmazonEKSAdminPolicy/.test(p.policyArn ?? '') && p.accessScope?.type === 'cluster');
      if (broad.length) problems.push(`${principalArn} also has ${broad.map((p) => p.policyArn?.split('/').pop()).join(', ')} on the whole cluster, more than recc needs`);
      seen.push(principalArn.split('/').pop() ?? principalArn);
    } catch (err) {
      if ((err as Error)?.name === 'ResourceNotFoundException') problems.push(`no access entry for ${principalArn}`);
      else problems.push(describeAwsError(err, 'eks:DescribeAccessEntry'));
    }
  }
  if (problems.length) return [fail('access-entries', title, problems.join('; '), `deploy the stack again (it creates ProvisionerAccessEntry and HarvesterAccessEntry), and apply the group's ClusterRole once: recc render --control-plane-rbac | kubectl apply -f -`)];
  return [pass('access-entries', title, `${seen.join(', ')} in ${CONTROL_PLANE_GROUP}`)];
}

async function checkNodeRole(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'node role';
  const roleName = ctx.config?.eksNodeInstanceRole;
  if (!roleName) return [skip('node-role', title, 'needs the stack outputs')];
  let roleArn: string;
  const problems: string[] = [];
  try {
    const role = (await o.clients.iam.send(new GetRoleCommand({ RoleName: roleName }))).Role;
    roleArn = role?.Arn ?? '';
    const trust = decodeURIComponent(role?.AssumeRolePolicyDocument ?? '');
    if (!trust.includes('ec2.amazonaws.com')) problems.push('its trust policy does not allow ec2.amazonaws.com');
    const attached = ((await o.clients.iam.send(new ListAttachedRolePoliciesCommand({ RoleName: roleName }))).AttachedPolicies ?? []).map((p) => p.PolicyName ?? '');
    const missing: string[] = NODE_ROLE_POLICIES.filter((p) => !attached.includes(p));
    if (!attached.some((p) => REGISTRY_POLICIES.includes(p))) missing.push('AmazonEC2ContainerRegistryReadOnly');
    if (missing.length) problems.push(`managed policies missing: ${missing.join(', ')}`);
  } catch (err) {
    if ((err as Error)?.name === 'NoSuchEntityException') return [fail('node-role', title, `IAM role ${roleName} does not exist`, `create it (EKS user guide "Amazon EKS node IAM role"), or set eksNodeInstanceRole and deploy again`)];
    return [fail('node-role', title, describeAwsError(err, 'iam:GetRole'), 'see the detail')];
  }
  if (ctx.cluster && ctx.config?.eksClusterName) {
    try {
      const entry = (await o.clients.eks.send(new DescribeAccessEntryCommand({ clusterName: ctx.config.eksClusterName, principalArn: roleArn }))).accessEntry;
      if (entry?.type !== 'EC2_LINUX') problems.push(`its access entry is of type ${entry?.type ?? '?'}, not EC2_LINUX`);
    } catch (err) {
      if ((err as Error)?.name === 'ResourceNotFoundException') {
        if (ctx.cluster.accessConfig?.authenticationMode === 'API') problems.push('it has no access entry, so nodes cannot join');
        else problems.push('it has no access entry (nodes join only if aws-auth maps it)');
      } else problems.push(describeAwsError(err, 'eks:DescribeAccessEntry'));
    }
  }
  const fix = `attach the missing policies (aws iam attach-role-policy --role-name ${roleName} --policy-arn arn:aws:iam::aws:policy/NAME) and give it an access entry: aws eks create-access-entry --cluster-name ${ctx.config?.eksClusterName} --principal-arn ${roleArn} --type EC2_LINUX`;
  if (problems.length) return [fail('node-role', title, `${roleName}: ${problems.join('; ')}`, fix)];
  return [pass('node-role', title, `${roleName}: trusts EC2, worker/CNI/registry policies attached, EC2_LINUX access entry`)];
}

/** The tag the stage's IAM policy requires on the workers' launch template (serverless.yml launchTemplateTagged). */
export const LAUNCH_TEMPLATE_TAG = { key: 'recc.io/managed-by', value: 'recc' } as const;

async function checkLaunchTemplate(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'launch template IMDS';
  const name = ctx.config?.eksLaunchTemplate;
  if (!name) return [skip('launch-template', title, 'needs the stack outputs')];
  let data;
  try {
    data = (await o.clients.ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Latest'] }))).LaunchTemplateVersions?.[0]?.LaunchTemplateData;
  } catch (err) {
    if (/InvalidLaunchTemplateName\.NotFound|InvalidLaunchTemplateId\.NotFound/.test((err as Error)?.name ?? '')) {
      return [fail('launch-template', title, `launch template ${name} does not exist`, `create it with MetadataOptions {HttpTokens: required, HttpPutResponseHopLimit: 1, InstanceMetadataTags: enabled}, or set eksLaunchTemplate and deploy again`)];
    }
    return [fail('launch-template', title, describeAwsError(err, 'ec2:DescribeLaunchTemplateVersions'), 'see the detail')];
  }
  const m = data?.MetadataOptions ?? {};
  const problems: string[] = [];
  if (m.HttpEndpoint === 'disabled') problems.push('the metadata endpoint is disabled (the node bootstrap needs it)');
  if (m.HttpTokens !== 'required') problems.push(`HttpTokens is ${m.HttpTokens ?? 'unset (optional: IMDSv1 allowed)'}, not required`);
  if (m.HttpPutResponseHopLimit !== 1) problems.push(`HttpPutResponseHopLimit is ${m.HttpPutResponseHopLimit ?? 'unset'}, not 1 (pods could reach node credentials)`);
  if (m.InstanceMetadataTags !== 'enabled') problems.push('InstanceMetadataTags is not enabled (the bootstrap reads recc.io/nodegroup from the tags)');
  // The Lambdas may launch only from templates tagged as recc's (serverless.yml launchTemplateTagged).
  try {
    const template = (await o.clients.ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }))).LaunchTemplates?.[0];
    const tagged = template?.Tags?.some((t) => t.Key === LAUNCH_TEMPLATE_TAG.key && t.Value === LAUNCH_TEMPLATE_TAG.value);
    if (!tagged) {
      return [
        fail(
          'launch-template',
          'launch template tag',
          `${name} is not tagged ${LAUNCH_TEMPLATE_TAG.key}=${LAUNCH_TEMPLATE_TAG.value}: the provisioner and harvester may not launch from it (ec2:RunInstances is scoped by that tag)`,
          `aws ec2 create-tags --resources ${template?.LaunchTemplateId ?? '<launch template id>'} --tags Key=${LAUNCH_TEMPLATE_TAG.key},Value=${LAUNCH_TEMPLATE_TAG.value}`,
        ),
      ];
    }
  } catch (err) {
    return [fail('launch-template', 'launch template tag', describeAwsError(err, 'ec2:DescribeLaunchTemplates'), 'see the detail')];
  }
  if (problems.length) {
    return [
      fail('launch-template', title, `${name} ($Latest): ${problems.join('; ')}`, `aws ec2 create-launch-template-version --launch-template-name ${name} --source-version '$Latest' --launch-template-data '{"MetadataOptions":{"HttpEndpoint":"enabled","HttpTokens":"required","HttpPutResponseHopLimit":1,"InstanceMetadataTags":"enabled"}}'`),
    ];
  }
  return [pass('launch-template', title, `${name} ($Latest): IMDSv2 required, hop limit 1, instance tags on; tagged ${LAUNCH_TEMPLATE_TAG.key}=${LAUNCH_TEMPLATE_TAG.value}`)];
}

async function checkEfs(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'EFS mount targets';
  const id = ctx.config?.efsFileSystemId;
  if (!ctx.config) return [skip('efs', title, 'needs the stack outputs')];
  if (!id) return [warn('efs', title, 'no EFS file system configured: clusters with sourceGitBranch fail', 'set the stage parameter eksEfsFileSystemId (README "Deploy to AWS") to use sourceGitBranch')];
  try {
    const fs = (await o.clients.efs.send(new DescribeFileSystemsCommand({ FileSystemId: id }))).FileSystems?.[0];
    if (fs?.LifeCycleState !== 'available') return [fail('efs', title, `${id} is ${fs?.LifeCycleState ?? 'unknown'}`, 'wait for it to be available')];
    const targets = (await o.clients.efs.send(new DescribeMountTargetsCommand({ FileSystemId: id }))).MountTargets ?? [];
    const zones = new Set(targets.filter((t) => t.LifeCycleState === 'available').map((t) => t.AvailabilityZoneName));
    const subnetIds = ctx.config.eksSubnetIds.split(',').map((s) => s.trim()).filter(Boolean);
    const subnets = subnetIds.length ? ((await o.clients.ec2.send(new DescribeSubnetsCommand({ SubnetIds: subnetIds }))).Subnets ?? []) : [];
    const uncovered = subnets.filter((s) => !zones.has(s.AvailabilityZone));
    if (uncovered.length) {
      const first = uncovered[0];
      return [fail('efs', title, `${id}: no available mount target in ${uncovered.map((s) => `${s.AvailabilityZone} (${s.SubnetId})`).join(', ')}`, `aws efs create-mount-target --file-system-id ${id} --subnet-id ${first?.SubnetId} --security-groups <a group allowing NFS 2049 from the nodes> (one per zone)`)];
    }
    return [pass('efs', title, `${id} available; mount targets in ${[...zones].sort().join(', ')}`)];
  } catch (err) {
    if ((err as Error)?.name === 'FileSystemNotFound') return [fail('efs', title, `EFS file system ${id} does not exist`, 'set eksEfsFileSystemId to an existing file system and deploy again')];
    return [fail('efs', title, describeAwsError(err, 'elasticfilesystem:DescribeFileSystems'), 'see the detail')];
  }
}

/** The EKS add-on of the Amazon EFS CSI driver (adapters/eks/manifests/build.ts `EFS_CSI_DRIVER` is its driver name). */
export const EFS_CSI_ADDON = 'aws-efs-csi-driver';

async function checkEfsCsiDriver(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'EFS CSI driver';
  const name = ctx.config?.eksClusterName;
  if (!ctx.config || !name) return [skip('efs-csi', title, 'needs the stack outputs')];
  if (!ctx.config.efsFileSystemId) return [skip('efs-csi', title, 'no EFS file system configured')];
  const install = `aws eks create-addon --cluster-name ${name} --addon-name ${EFS_CSI_ADDON}`;
  try {
    const addon = (await o.clients.eks.send(new DescribeAddonCommand({ clusterName: name, addonName: EFS_CSI_ADDON }))).addon;
    if (addon?.status === 'ACTIVE') return [pass('efs-csi', title, `${EFS_CSI_ADDON} ${addon.addonVersion ?? ''} ACTIVE`.replace('  ', ' '))];
    const issues = (addon?.health?.issues ?? []).map((i) => `${i.code ?? ''}: ${i.message ?? ''}`).join('; ');
    return [fail('efs-csi', title, `${EFS_CSI_ADDON} is ${addon?.status ?? 'unknown'}${issues ? ` (${issues})` : ''}: source volumes of clusters with sourceGitBranch do not mount`, `aws eks describe-addon --cluster-name ${name} --addon-name ${EFS_CSI_ADDON}, then fix or re-create it`)];
  } catch (err) {
    // Installed with Helm instead of as an add-on is fine too, so a missing add-on is a warning, not a failure.
    if ((err as Error)?.name === 'ResourceNotFoundException') {
      return [warn('efs-csi', title, `${EFS_CSI_ADDON} is not an add-on of ${name}: unless the driver was installed otherwise (Helm), source volumes never mount`, install)];
    }
    return [fail('efs-csi', title, describeAwsError(err, 'eks:DescribeAddon'), 'see the detail')];
  }
}

async function checkBudgets(o: DoctorOptions, ctx: Context): Promise<CheckResult[]> {
  const title = 'Budgets permissions';
  if (!ctx.config) return [skip('budgets', title, 'needs the stack outputs')];
  if (ctx.config.budgetsEnabled !== 'true') return [skip('budgets', title, 'budgetsEnabled is false for this stage')];
  const roleArn = ctx.outputs.CostReporterRoleArn as string;
  const resource = `arn:aws:budgets::${ctx.accountId ?? '*'}:budget/${ctx.config.budgetPrefix}doctor-check`;
  try {
    const results = (await o.clients.iam.send(new SimulatePrincipalPolicyCommand({ PolicySourceArn: roleArn, ActionNames: ['budgets:ViewBudget', 'budgets:ModifyBudget'], ResourceArns: [resource] }))).EvaluationResults ?? [];
    const denied = results.filter((r) => r.EvalDecision !== 'allowed').map((r) => `${r.EvalActionName} ${r.EvalDecision}`);
    if (denied.length || results.length === 0) return [fail('budgets', title, `${roleArn} on ${resource}: ${denied.join(', ') || 'no evaluation'}`, 'deploy this version (CostReporterRole grants budgets:ViewBudget and budgets:ModifyBudget on the prefix); check that no SCP or permissions boundary denies them')];
    return [pass('budgets', title, `cost reporter may view and modify budgets ${ctx.config.budgetPrefix}*`)];
  } catch (err) {
    return [fail('budgets', title, describeAwsError(err, 'iam:SimulatePrincipalPolicy'), 'see the detail')];
  }
}

export async function runDoctor(o: DoctorOptions): Promise<DoctorReport> {
  const stackName = o.stackName ?? `recc-${o.stage}`;
  const ctx: Context = { outputs: {} };
  const checks: CheckResult[] = [];
  const steps: Array<[string, string, () => Promise<CheckResult[]>]> = [
    ['stack', 'stack and outputs', () => checkStack(o, stackName, ctx)],
    ['eks-cluster', 'EKS endpoint and CA', () => checkCluster(o, ctx)],
    ['access-entries', 'control-plane access entries', () => checkAccessEntries(o, ctx)],
    ['node-role', 'node role', () => checkNodeRole(o, ctx)],
    ['launch-template', 'launch template IMDS', () => checkLaunchTemplate(o, ctx)],
    ['efs', 'EFS mount targets', () => checkEfs(o, ctx)],
    ['efs-csi', 'EFS CSI driver', () => checkEfsCsiDriver(o, ctx)],
    ['budgets', 'Budgets permissions', () => checkBudgets(o, ctx)],
  ];
  for (const [id, title, step] of steps) {
    try {
      checks.push(...(await step()));
    } catch (err) {
      // A check never takes the report down: an unexpected answer fails that check alone.
      checks.push(fail(id, title, describeAwsError(err, id), 'see the detail'));
    }
  }
  return { stage: o.stage, region: o.region, stackName, ok: checks.every((c) => c.status !== 'fail'), checks };
}

/** Clients for the caller's default credentials in `region` (Budgets are global; IAM too). */
export function defaultDoctorClients(region: string): DoctorClients {
  return {
    cloudformation: new CloudFormationClient({ region }),
    eks: new EKSClient({ region }),
    iam: new IAMClient({ region }),
    ec2: new EC2Client({ region }),
    efs: new EFSClient({ region }),
  };
}
