import { DescribeClusterCommand, type EKSClient } from '@aws-sdk/client-eks';
import { ConfigError, type ErrorDetail } from '../../shared/core/errors.ts';
import type { EksBackendConfig } from './config.ts';

/**
 * The EKS API endpoint and its CA, resolved once per cold start (issue 17
 * #1). Stage parameters `RECC_EKS_ENDPOINT` + `RECC_EKS_CA_DATA` win when
 * both are set; otherwise `eks:DescribeCluster` on `RECC_EKS_CLUSTER_NAME`
 * fills in what is missing, and the answer is cached for the life of the
 * process (every later resolution of the same cluster and region reuses it).
 *
 * Every failure is a ConfigError naming what to set: the backend never
 * talks to an API server it cannot verify (no skipTLSVerify, no fallback to
 * the system CAs, which do not include the cluster's own CA).
 */
export type ResolvedEksConfig = EksBackendConfig & { endpoint: string; caData: string };

const cache = new Map<string, Promise<{ endpoint: string; caData: string }>>();

/** Forget cached DescribeCluster answers (tests). */
export function clearEksEndpointCache(): void {
  cache.clear();
}

/** Checks of a configured or described endpoint and CA; every problem named. */
export function checkEndpointAndCa(endpoint: string | undefined, caData: string | undefined, source: { endpoint: string; caData: string }): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  if (endpoint !== undefined) {
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || url.protocol !== 'https:') details.push({ path: source.endpoint, message: `must be an https:// URL (got ${JSON.stringify(endpoint)})` });
    else if (/CHANGE-ME/i.test(endpoint)) details.push({ path: source.endpoint, message: 'is still the CHANGE-ME placeholder; set it or leave it empty to use eks:DescribeCluster' });
  }
  if (caData !== undefined) {
    const pem = /^[A-Za-z0-9+/=\s]+$/.test(caData) ? Buffer.from(caData, 'base64').toString('utf8') : '';
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) details.push({ path: source.caData, message: 'must be the base64 of a PEM certificate (EKS certificateAuthority.data)' });
  }
  return details;
}

const PARAMS = { endpoint: 'RECC_EKS_ENDPOINT', caData: 'RECC_EKS_CA_DATA' };

/** The config with `endpoint` and `caData` both set, from the stage parameters or DescribeCluster (cached). */
export async function resolveEksEndpoint(config: EksBackendConfig, eks: EKSClient): Promise<ResolvedEksConfig> {
  const given = { endpoint: config.endpoint || undefined, caData: config.caData || undefined };
  const problems = checkEndpointAndCa(given.endpoint, given.caData, PARAMS);
  if (problems.length) throw new ConfigError('invalid EKS endpoint configuration', problems);
  if (given.endpoint !== undefined && given.caData !== undefined) return { ...config, endpoint: given.endpoint, caData: given.caData };

  const key = `${config.region}/${config.clusterName}`;
  let pending = cache.get(key);
  if (pending === undefined) {
    pending = describeEndpoint(config, eks);
    cache.set(key, pending);
    // A failed lookup is not cached: the next cold start (or retry) asks again.
    pending.catch(() => cache.delete(key));
  }
  const described = await pending;
  if (given.endpoint !== undefined && given.endpoint !== described.endpoint) {
    throw new ConfigError('invalid EKS endpoint configuration', [
      { path: PARAMS.endpoint, message: `is ${given.endpoint} but eks:DescribeCluster reports ${described.endpoint} for ${config.clusterName}; fix it or leave it empty` },
    ]);
  }
  return { ...config, endpoint: described.endpoint, caData: given.caData ?? described.caData };
}

async function describeEndpoint(config: EksBackendConfig, eks: EKSClient): Promise<{ endpoint: string; caData: string }> {
  const fix = `set ${PARAMS.endpoint} and ${PARAMS.caData} (aws eks describe-cluster --name ${config.clusterName} --query 'cluster.[endpoint,certificateAuthority.data]'), or allow eks:DescribeCluster`;
  let cluster;
  try {
    ({ cluster } = await eks.send(new DescribeClusterCommand({ name: config.clusterName })));
  } catch (err) {
    const name = (err as { name?: string }).name ?? 'Error';
    const message = (err as { message?: string }).message ?? String(err);
    throw new ConfigError(`could not resolve the EKS endpoint of ${config.clusterName} in ${config.region}`, [
      { path: 'RECC_EKS_CLUSTER_NAME', message: `eks:DescribeCluster failed: ${name}: ${message}; ${fix}` },
    ], { cause: err });
  }
  const endpoint = cluster?.endpoint;
  const caData = cluster?.certificateAuthority?.data;
  const details: ErrorDetail[] = [];
  if (cluster?.status !== undefined && cluster.status !== 'ACTIVE' && cluster.status !== 'UPDATING') {
    details.push({ path: 'RECC_EKS_CLUSTER_NAME', message: `cluster ${config.clusterName} is ${cluster.status}, not ACTIVE` });
  }
  if (!endpoint) details.push({ path: PARAMS.endpoint, message: `eks:DescribeCluster returned no endpoint for ${config.clusterName}; ${fix}` });
  if (!caData) details.push({ path: PARAMS.caData, message: `eks:DescribeCluster returned no certificate authority for ${config.clusterName}; ${fix}` });
  if (endpoint && caData) details.push(...checkEndpointAndCa(endpoint, caData, { endpoint: 'DescribeCluster endpoint', caData: 'DescribeCluster certificateAuthority.data' }));
  if (details.length || !endpoint || !caData) throw new ConfigError(`could not resolve the EKS endpoint of ${config.clusterName}`, details);
  return { endpoint, caData };
}
