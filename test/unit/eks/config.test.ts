import { describe, expect, it } from 'vitest';
import { eksConfigFromEnv } from '../../../adapters/eks/config.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

const VALID = {
  RECC_EKS_CLUSTER_NAME: 'research',
  RECC_EKS_ENDPOINT: 'https://ABC.gr7.us-east-1.eks.amazonaws.com',
  RECC_EKS_ALLOWED_CIDRS: '10.20.0.0/16, 192.168.10.0/24',
  RECC_EKS_CONTROL_PLANE_CIDRS: '10.0.0.0/16',
  RECC_EKS_SUBNET_IDS: 'subnet-a,subnet-b',
  RECC_EKS_LAUNCH_TEMPLATE: 'recc-eks-node',
  RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
};

describe('Function: eksConfigFromEnv', () => {
  it('reads a complete configuration with defaults', () => {
    // Act
    const config = eksConfigFromEnv({ ...VALID, RECC_EKS_MAX_NODES_BY_TYPE: 'p3.2xlarge=4,c5.xlarge=30' });

    // Assess
    expect(config).toMatchObject({
      clusterName: 'research',
      region: 'us-east-1',
      allowedCidrs: ['10.20.0.0/16', '192.168.10.0/24'],
      serviceMode: 'nlb',
      subnetIds: ['subnet-a', 'subnet-b'],
      maxNodesPerGroup: 20,
      maxNodesByInstanceType: { 'p3.2xlarge': 4, 'c5.xlarge': 30 },
      efsRootPath: '/branches',
      kubernetesGroupPrefix: 'recc:user:',
    });
  });

  it('fails fast listing every problem', () => {
    // Act
    let error: unknown;
    try {
      eksConfigFromEnv({ RECC_EKS_SERVICE_MODE: 'nodeport', RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::1:role/fixed', RECC_EKS_MAX_NODES_BY_TYPE: 'c5.xlarge' });
    } catch (err) {
      error = err;
    }

    // Assess
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).details.map((d) => d.path).sort()).toEqual(
      [
        'RECC_EKS_SERVICE_MODE',
        'RECC_EKS_MAX_NODES_BY_TYPE',
        'RECC_EKS_CLUSTER_NAME',
        // RECC_EKS_ENDPOINT is optional: left empty, it is resolved with eks:DescribeCluster (issue 17 #1, test/unit/eks/endpoint.test.ts).
        'RECC_EKS_LAUNCH_TEMPLATE',
        'RECC_EKS_ALLOWED_CIDRS',
        'RECC_EKS_CONTROL_PLANE_CIDRS',
        'RECC_EKS_SUBNET_IDS',
        'RECC_EKS_USER_ROLE_ARN_TEMPLATE',
      ].sort(),
    );
  });

  it('needs an ingress domain in clusterip-ingress mode', () => {
    expect(() => eksConfigFromEnv({ ...VALID, RECC_EKS_SERVICE_MODE: 'clusterip-ingress' })).toThrow(ConfigError);
    expect(eksConfigFromEnv({ ...VALID, RECC_EKS_SERVICE_MODE: 'clusterip-ingress', RECC_EKS_INGRESS_DOMAIN: 'recc.corp' }).ingressDomain).toBe('recc.corp');
  });
});
