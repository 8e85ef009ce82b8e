import { DescribeClusterCommand, EKSClient, ResourceNotFoundException } from '@aws-sdk/client-eks';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eksConfigFromEnv } from '../../../adapters/eks/config.ts';
import { clearEksEndpointCache, resolveEksEndpoint } from '../../../adapters/eks/endpoint.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

/**
 * Issue 17 #1: the provisioner and harvester get the EKS API endpoint and CA
 * from the stage parameters or, when those are empty, from
 * eks:DescribeCluster at cold start (cached); any gap is a ConfigError that
 * says what to set. Never a connection that skips TLS verification.
 */
const CA = Buffer.from('-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n').toString('base64');
const ENDPOINT = 'https://ABCDEF.gr7.us-east-1.eks.amazonaws.com';
const BASE = {
  RECC_EKS_CLUSTER_NAME: 'research',
  RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
  RECC_EKS_ALLOWED_CIDRS: '10.20.0.0/16',
  RECC_EKS_CONTROL_PLANE_CIDRS: '10.0.0.0/16',
  RECC_EKS_SUBNET_IDS: 'subnet-a',
  RECC_EKS_LAUNCH_TEMPLATE: 'recc-eks-node',
  RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
};

describe('Function: resolveEksEndpoint', () => {
  const eksMock = mockClient(EKSClient);
  const eks = new EKSClient({ region: 'us-east-1', credentials: { accessKeyId: 'x', secretAccessKey: 'y' } });

  beforeEach(() => {
    eksMock.reset();
    clearEksEndpointCache();
  });
  afterEach(() => clearEksEndpointCache());

  it('uses the stage parameters without calling AWS when both are set', async () => {
    const config = eksConfigFromEnv({ ...BASE, RECC_EKS_ENDPOINT: ENDPOINT, RECC_EKS_CA_DATA: CA });
    const resolved = await resolveEksEndpoint(config, eks);
    expect(resolved).toMatchObject({ endpoint: ENDPOINT, caData: CA });
    expect(eksMock.calls()).toHaveLength(0);
  });

  it('asks eks:DescribeCluster once when the parameters are empty, and caches the answer', async () => {
    // Prepare
    eksMock.on(DescribeClusterCommand, { name: 'research' }).resolves({ cluster: { name: 'research', status: 'ACTIVE', endpoint: ENDPOINT, certificateAuthority: { data: CA } } });
    const config = eksConfigFromEnv(BASE);
    // Act
    const [a, b] = await Promise.all([resolveEksEndpoint(config, eks), resolveEksEndpoint(config, eks)]);
    const c = await resolveEksEndpoint(config, eks);
    // Assess
    for (const r of [a, b, c]) expect(r).toMatchObject({ endpoint: ENDPOINT, caData: CA });
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(1);
    expect(eksMock.commandCalls(DescribeClusterCommand)[0]!.args[0].input).toEqual({ name: 'research' });
  });

  it('fills in a missing CA for a configured endpoint, and refuses an endpoint that is not the cluster\'s', async () => {
    eksMock.on(DescribeClusterCommand).resolves({ cluster: { status: 'ACTIVE', endpoint: ENDPOINT, certificateAuthority: { data: CA } } });
    expect(await resolveEksEndpoint(eksConfigFromEnv({ ...BASE, RECC_EKS_ENDPOINT: ENDPOINT }), eks)).toMatchObject({ caData: CA });
    const err = await resolveEksEndpoint(eksConfigFromEnv({ ...BASE, RECC_EKS_ENDPOINT: 'https://OTHER.gr7.us-east-1.eks.amazonaws.com' }), eks).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).details[0]).toMatchObject({ path: 'RECC_EKS_ENDPOINT' });
  });

  it('fails fast with a ConfigError naming what to set when DescribeCluster fails or has no CA, and retries on the next cold start', async () => {
    eksMock.on(DescribeClusterCommand).rejectsOnce(new ResourceNotFoundException({ message: 'No cluster found for name: research.', $metadata: {} }));
    const config = eksConfigFromEnv(BASE);
    const missing = await resolveEksEndpoint(config, eks).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ConfigError);
    expect((missing as ConfigError).details[0]!.message).toMatch(/DescribeCluster failed: ResourceNotFoundException.*set RECC_EKS_ENDPOINT and RECC_EKS_CA_DATA/);

    eksMock.on(DescribeClusterCommand).resolves({ cluster: { status: 'CREATING', endpoint: ENDPOINT } });
    const creating = await resolveEksEndpoint(config, eks).catch((e: unknown) => e);
    expect(creating).toBeInstanceOf(ConfigError);
    expect((creating as ConfigError).details.map((d) => d.path)).toEqual(['RECC_EKS_CLUSTER_NAME', 'RECC_EKS_CA_DATA']);
    expect(eksMock.commandCalls(DescribeClusterCommand)).toHaveLength(2);
  });

  it('refuses a plain-http endpoint, the CHANGE-ME placeholder and a CA that is not a PEM, all at once', async () => {
    for (const [endpoint, ca] of [['http://ABC.eks.amazonaws.com', 'bm90IGEgY2VydA=='], ['https://CHANGE-ME.gr7.us-east-1.eks.amazonaws.com', '%%%']]) {
      const err = await resolveEksEndpoint(eksConfigFromEnv({ ...BASE, RECC_EKS_ENDPOINT: endpoint!, RECC_EKS_CA_DATA: ca! }), eks).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).details.map((d) => d.path)).toEqual(['RECC_EKS_ENDPOINT', 'RECC_EKS_CA_DATA']);
    }
    expect(eksMock.calls()).toHaveLength(0);
  });
});
