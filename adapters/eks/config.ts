import { ConfigError, type ErrorDetail } from '../../shared/core/errors.ts';
import { getNumber, getOptionalString, getString, type Env } from '../../shared/core/env.ts';
import { digestPinProblem } from '../../shared/spec/image.ts';
import type { ManifestOptions, ServiceMode } from './manifests/build.ts';

/**
 * EKS backend configuration, read once from the environment and validated
 * (fails fast with every problem listed). See README "EKS backend".
 */
export interface EksBackendConfig {
  clusterName: string;
  region: string;
  /**
   * EKS API endpoint and its CA (base64): the stage parameters when both are
   * set, else resolved at cold start with eks:DescribeCluster
   * (`resolveEksEndpoint`, `endpoint.ts`). '' = not configured.
   */
  endpoint: string;
  caData?: string;
  /**
   * The deployment's image for scheduler, workers and job drivers when a spec
   * names none (RECC_EKS_IMAGE, stage parameter clusterImage): required and
   * pinned by digest, `repo@sha256:<64 hex>`, so a push never changes what
   * running or future clusters execute.
   */
  image: string;
  /** Desktop CIDRs allowed to reach scheduler and dashboard ports. */
  allowedCidrs: string[];
  serviceMode: ServiceMode;
  ingressDomain?: string;
  ingressClassName?: string;
  ingressSourceCidrs: string[];
  /** The cluster subnets' CIDRs (EKS control-plane ENIs): the service proxy reaches the scheduler dashboard from there. Required from the environment. */
  controlPlaneCidrs?: string[];
  /** The stage's cluster log group (RECC_EKS_LOG_GROUP): pods ship their lines there (docs/logs.md). */
  logGroup?: string;
  /** Extra egress destinations (any port) for the pods, besides DNS, own pods and HTTPS (RECC_EKS_EGRESS_CIDRS). */
  egressCidrs?: string[];
  efsFileSystemId?: string;
  efsRootPath: string;
  nodeGroupPrefix: string;
  launchTemplateName: string;
  launchTemplateVersion: string;
  subnetIds: string[];
  maxNodesPerGroup: number;
  maxNodesByInstanceType: Record<string, number>;
  userRoleArnTemplate: string;
  accessPolicyArn?: string;
  kubernetesGroupPrefix: string;
  /** IRSA role for the S3 datastores of a cluster's spec, `{owner}` resolved (see datastore-policy.ts). */
  datastoreRoleArnTemplate?: string;
}

const list = (raw: string | undefined): string[] =>
  (raw ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

export function eksConfigFromEnv(env: Env): EksBackendConfig {
  const details: ErrorDetail[] = [];
  const attempt = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ConfigError) details.push(...err.details);
      else throw err;
      return fallback;
    }
  };
  const serviceMode = attempt(() => getString(env, 'RECC_EKS_SERVICE_MODE', 'nlb'), 'nlb');
  if (serviceMode !== 'nlb' && serviceMode !== 'clusterip-ingress') {
    details.push({ path: 'RECC_EKS_SERVICE_MODE', message: `must be "nlb" or "clusterip-ingress", got "${serviceMode}"` });
  }
  const maxByType: Record<string, number> = {};
  for (const pair of list(env.RECC_EKS_MAX_NODES_BY_TYPE)) {
    const [type, n] = pair.split('=');
    const value = Number(n);
    if (!type || !Number.isInteger(value) || value < 0) details.push({ path: 'RECC_EKS_MAX_NODES_BY_TYPE', message: `"${pair}" must look like c5.xlarge=20` });
    else maxByType[type.trim()] = value;
  }
  const config: EksBackendConfig = {
    clusterName: attempt(() => getString(env, 'RECC_EKS_CLUSTER_NAME'), ''),
    region: attempt(() => getString(env, 'AWS_REGION', 'us-east-1'), 'us-east-1'),
    image: getOptionalString(env, 'RECC_EKS_IMAGE') ?? '',
    endpoint: getOptionalString(env, 'RECC_EKS_ENDPOINT') ?? '',
    ...(getOptionalString(env, 'RECC_EKS_CA_DATA') ? { caData: getOptionalString(env, 'RECC_EKS_CA_DATA') } : {}),
    allowedCidrs: list(env.RECC_EKS_ALLOWED_CIDRS),
    serviceMode: serviceMode as ServiceMode,
    ...(getOptionalString(env, 'RECC_EKS_INGRESS_DOMAIN') ? { ingressDomain: getOptionalString(env, 'RECC_EKS_INGRESS_DOMAIN') } : {}),
    ...(getOptionalString(env, 'RECC_EKS_INGRESS_CLASS') ? { ingressClassName: getOptionalString(env, 'RECC_EKS_INGRESS_CLASS') } : {}),
    ingressSourceCidrs: list(env.RECC_EKS_INGRESS_SOURCE_CIDRS),
    controlPlaneCidrs: list(env.RECC_EKS_CONTROL_PLANE_CIDRS),
    ...(getOptionalString(env, 'RECC_EKS_LOG_GROUP') ? { logGroup: getOptionalString(env, 'RECC_EKS_LOG_GROUP') } : {}),
    egressCidrs: list(env.RECC_EKS_EGRESS_CIDRS),
    ...(getOptionalString(env, 'RECC_EKS_EFS_FILE_SYSTEM_ID') ? { efsFileSystemId: getOptionalString(env, 'RECC_EKS_EFS_FILE_SYSTEM_ID') } : {}),
    efsRootPath: getOptionalString(env, 'RECC_EKS_EFS_ROOT_PATH') ?? '/branches',
    nodeGroupPrefix: getOptionalString(env, 'RECC_EKS_NODE_GROUP_PREFIX') ?? '',
    launchTemplateName: attempt(() => getString(env, 'RECC_EKS_LAUNCH_TEMPLATE'), ''),
    launchTemplateVersion: getOptionalString(env, 'RECC_EKS_LAUNCH_TEMPLATE_VERSION') ?? '$Latest',
    subnetIds: list(env.RECC_EKS_SUBNET_IDS),
    maxNodesPerGroup: attempt(() => getNumber(env, 'RECC_EKS_MAX_NODES_PER_GROUP', 20), 20),
    maxNodesByInstanceType: maxByType,
    userRoleArnTemplate: attempt(() => getString(env, 'RECC_EKS_USER_ROLE_ARN_TEMPLATE'), ''),
    ...(getOptionalString(env, 'RECC_EKS_ACCESS_POLICY_ARN') ? { accessPolicyArn: getOptionalString(env, 'RECC_EKS_ACCESS_POLICY_ARN') } : {}),
    kubernetesGroupPrefix: getOptionalString(env, 'RECC_EKS_K8S_GROUP_PREFIX') ?? 'recc:user:',
    ...(getOptionalString(env, 'RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE') ? { datastoreRoleArnTemplate: getOptionalString(env, 'RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE') } : {}),
  };
  if (!config.image) {
    details.push({ path: 'RECC_EKS_IMAGE', message: 'is required: the image of scheduler and workers, pinned by digest (123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:<64 hex digits>)' });
  } else {
    const problem = digestPinProblem(config.image);
    if (problem) details.push({ path: 'RECC_EKS_IMAGE', message: `${problem} (got "${config.image}")` });
  }
  if (config.allowedCidrs.length === 0) details.push({ path: 'RECC_EKS_ALLOWED_CIDRS', message: 'is required (comma-separated desktop CIDRs)' });
  if (config.subnetIds.length === 0) details.push({ path: 'RECC_EKS_SUBNET_IDS', message: 'is required (comma-separated subnet ids)' });
  if (config.serviceMode === 'clusterip-ingress' && !config.ingressDomain) {
    details.push({ path: 'RECC_EKS_INGRESS_DOMAIN', message: 'is required when RECC_EKS_SERVICE_MODE is clusterip-ingress' });
  }
  if ((config.controlPlaneCidrs ?? []).length === 0) {
    details.push({ path: 'RECC_EKS_CONTROL_PLANE_CIDRS', message: "is required (comma-separated CIDRs of the EKS cluster's subnets; without it the NetworkPolicy blocks the scheduler status check)" });
  }
  if (config.datastoreRoleArnTemplate && !/^arn:aws[a-z-]*:iam::\d{12}:role\/.*\{owner\}/.test(config.datastoreRoleArnTemplate)) {
    details.push({ path: 'RECC_EKS_DATASTORE_ROLE_ARN_TEMPLATE', message: 'must be an IAM role ARN containing {owner}, e.g. arn:aws:iam::123456789012:role/recc-data-{owner}' });
  }
  if (config.userRoleArnTemplate && !config.userRoleArnTemplate.includes('{owner}')) {
    details.push({ path: 'RECC_EKS_USER_ROLE_ARN_TEMPLATE', message: 'must contain {owner}' });
  }
  if (config.efsFileSystemId !== undefined && !/^fs-[0-9a-f]{8,40}$/.test(config.efsFileSystemId)) {
    details.push({ path: 'RECC_EKS_EFS_FILE_SYSTEM_ID', message: `must be an EFS file system id such as fs-0123456789abcdef0 (got "${config.efsFileSystemId}"); leave it empty to disable sourceGitBranch` });
  }
  if (!config.efsRootPath.startsWith('/') || config.efsRootPath.split('/').includes('..')) {
    details.push({ path: 'RECC_EKS_EFS_ROOT_PATH', message: `must be an absolute path on the file system without "..", such as /branches (got "${config.efsRootPath}")` });
  }
  if (!Number.isInteger(config.maxNodesPerGroup) || config.maxNodesPerGroup < 1) {
    details.push({ path: 'RECC_EKS_MAX_NODES_PER_GROUP', message: 'must be a whole number of 1 or more' });
  }
  if (details.length > 0) throw new ConfigError('invalid EKS backend configuration', details);
  return config;
}

/** The subset the pure manifest builders need. */
export function manifestOptions(config: Pick<EksBackendConfig, 'allowedCidrs' | 'controlPlaneCidrs' | 'logGroup' | 'egressCidrs' | 'serviceMode' | 'ingressDomain' | 'ingressClassName' | 'ingressSourceCidrs' | 'efsFileSystemId' | 'efsRootPath' | 'nodeGroupPrefix' | 'kubernetesGroupPrefix' | 'region'> & Partial<Pick<EksBackendConfig, 'datastoreRoleArnTemplate'>>): ManifestOptions {
  return {
    allowedCidrs: config.allowedCidrs,
    serviceMode: config.serviceMode,
    ...(config.ingressDomain ? { ingressDomain: config.ingressDomain } : {}),
    ...(config.ingressClassName ? { ingressClassName: config.ingressClassName } : {}),
    ingressSourceCidrs: config.ingressSourceCidrs,
    ...(config.controlPlaneCidrs?.length ? { controlPlaneCidrs: config.controlPlaneCidrs } : {}),
    ...(config.logGroup ? { logGroup: config.logGroup } : {}),
    ...(config.egressCidrs?.length ? { egressCidrs: config.egressCidrs } : {}),
    ...(config.efsFileSystemId ? { efsFileSystemId: config.efsFileSystemId } : {}),
    efsRegion: config.region,
    efsRootPath: config.efsRootPath,
    nodeGroupPrefix: config.nodeGroupPrefix,
    kubernetesGroupPrefix: config.kubernetesGroupPrefix,
    ...(config.datastoreRoleArnTemplate ? { datastoreRoleArnTemplate: config.datastoreRoleArnTemplate } : {}),
  };
}
