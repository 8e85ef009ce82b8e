import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { EKSClient } from '@aws-sdk/client-eks';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import type { Clock } from '../../shared/core/clock.ts';
import { getOptionalString, type Env } from '../../shared/core/env.ts';
import { ConfigError } from '../../shared/core/errors.ts';
import type { Logger } from '../../shared/core/logger.ts';
import type { RunLogStore } from '../../shared/ports/run-logs.ts';
import { EksComputeBackend, type EksBackendDeps } from './backend.ts';
import { listTemplates } from '../../shared/spec/templates.ts';
import { warmTargets } from '../../shared/spec/warm.ts';
import { imageReferenceProblem } from '../../shared/spec/image.ts';
import { EksJobDriver } from './job-driver.ts';
import { eksConfigFromEnv } from './config.ts';
import { resolveEksEndpoint, type ResolvedEksConfig } from './endpoint.ts';
import { KubeClients } from './kube.ts';
import { eksTokenProvider } from './token.ts';

/**
 * The EKS `ComputeBackend` wired for AWS: configuration from the environment
 * (README "EKS backend"), the default credential chain for Auto Scaling, EKS
 * and the Kubernetes token (a presigned STS URL, refreshed every 10 minutes).
 */
export { EksComputeBackend, plannedNodes, type EksBackendDeps, type EksConfigSubset } from './backend.ts';
export { eksConfigFromEnv, manifestOptions, type EksBackendConfig } from './config.ts';
export { resolveEksEndpoint, clearEksEndpointCache, checkEndpointAndCa, type ResolvedEksConfig } from './endpoint.ts';
export { KubeClients, KubeApplier, buildKubeConfig } from './kube.ts';
export { EksJobDriver, type EksJobDriverDeps } from './job-driver.ts';
export { buildClusterManifests, SOURCE_MOUNT_PATH, secretReference, type ManifestOptions, type ServiceMode } from './manifests/build.ts';
export { nodeGroupName, userKubernetesGroup } from './manifests/naming.ts';
export { eksToken, eksTokenProvider } from './token.ts';
export * from './errors.ts';

/**
 * Extra names the scheduler certificate must cover on EKS in `nlb` mode:
 * clients connect to the NLB's DNS name (`<name>-<hash>.elb.<region>.amazonaws.com`),
 * which is only known after the Service exists. A wildcard for the region's
 * ELB names is safe because the CA is per cluster: no other server holds a
 * certificate from it. Add these to the `dnsNames` given to
 * `generateClusterSecrets`.
 */
export function eksSchedulerCertificateNames(region: string, serviceMode: 'nlb' | 'clusterip-ingress' = 'nlb'): string[] {
  return serviceMode === 'nlb' ? [`*.elb.${region}.amazonaws.com`] : [];
}

/** The backend for a config whose endpoint and CA are resolved (`resolveEksEndpoint`): TLS is always verified against that CA. */
export function createEksBackend(
  config: ResolvedEksConfig,
  options: { clock?: Clock; logger?: Logger; eks?: EKSClient; schedulerRoleArn?: string; warm?: EksBackendDeps['warm'] } = {},
): EksComputeBackend {
  const credentials = fromNodeProviderChain();
  const kube = new KubeClients({
    server: config.endpoint,
    token: eksTokenProvider({ clusterName: config.clusterName, region: config.region, credentials }),
    caData: config.caData,
    skipTLSVerify: false,
  });
  return new EksComputeBackend({
    config,
    kube,
    autoScaling: new AutoScalingClient({ region: config.region, credentials }),
    eks: options.eks ?? new EKSClient({ region: config.region, credentials }),
    ...(options.clock ? { clock: options.clock } : {}),
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.schedulerRoleArn ? { schedulerRoleArn: options.schedulerRoleArn } : {}),
    ...(options.warm ? { warm: options.warm } : {}),
  });
}

/**
 * Read the RECC_EKS_* configuration once (fails fast listing every problem),
 * resolve the endpoint and CA (stage parameters, else eks:DescribeCluster,
 * cached), and build the backend. Call it at cold start.
 */
export async function createEksBackendFromEnv(env: Env, options: { clock?: Clock; logger?: Logger } = {}): Promise<EksComputeBackend> {
  const config = eksConfigFromEnv(env);
  const eks = new EKSClient({ region: config.region, credentials: fromNodeProviderChain() });
  // The shared scheduler role of the SQS route (issue 12 #6); unset = no Pod Identity association.
  const schedulerRoleArn = getOptionalString(env, 'RECC_EKS_SCHEDULER_ROLE_ARN');
  if (schedulerRoleArn !== undefined && !/^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/.test(schedulerRoleArn)) {
    throw new ConfigError('invalid EKS configuration', [{ path: 'RECC_EKS_SCHEDULER_ROLE_ARN', message: 'must be an IAM role ARN (arn:aws:iam::ACCOUNT:role/NAME)' }]);
  }
  // Warm capacity from the packaged templates' `warm:` blocks (a malformed template fails the cold start, naming the field).
  const targets = warmTargets(listTemplates(), config.image);
  const pauseImage = getOptionalString(env, 'RECC_EKS_PAUSE_IMAGE');
  const pauseProblem = pauseImage === undefined ? undefined : imageReferenceProblem(pauseImage);
  if (pauseProblem) throw new ConfigError('invalid EKS configuration', [{ path: 'RECC_EKS_PAUSE_IMAGE', message: pauseProblem }]);
  const warm = targets.length > 0 ? { targets, ...(pauseImage ? { pauseImage } : {}) } : undefined;
  return createEksBackend(await resolveEksEndpoint(config, eks), { ...options, eks, ...(schedulerRoleArn ? { schedulerRoleArn } : {}), ...(warm ? { warm } : {}) });
}

/**
 * The scheduled-job driver on EKS (a Kubernetes Job per run, `job-driver.ts`)
 * from the same RECC_EKS_* configuration as the backend, with the same
 * credentials for the Kubernetes token. Call it at cold start.
 */
export async function createEksJobDriverFromEnv(env: Env, options: { logs: RunLogStore; apiUrl?: string; logger?: Logger }): Promise<EksJobDriver> {
  const config = eksConfigFromEnv(env);
  const credentials = fromNodeProviderChain();
  const resolved = await resolveEksEndpoint(config, new EKSClient({ region: config.region, credentials }));
  const kube = new KubeClients({
    server: resolved.endpoint,
    token: eksTokenProvider({ clusterName: resolved.clusterName, region: resolved.region, credentials }),
    caData: resolved.caData,
    skipTLSVerify: false,
  });
  return new EksJobDriver({ kube, config: resolved, logs: options.logs, ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}), ...(options.logger ? { logger: options.logger } : {}) });
}
