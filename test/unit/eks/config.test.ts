import { describe, expect, it } from 'vitest';
import { eksConfigFromEnv } from '../../../adapters/eks/config.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

const VALID = {
  RECC_EKS_CLUSTER_NAME: 'research',
  RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
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
        'RECC_EKS_IMAGE',
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

  it('needs the deployment image pinned by digest, and names the variable when it floats (issue 17 #8)', () => {
    const problem = (image: string | undefined): string[] => {
      try {
        eksConfigFromEnv({ ...VALID, RECC_EKS_IMAGE: image });
        return [];
      } catch (err) {
        return (err as ConfigError).details.map((d) => `${d.path}: ${d.message}`);
      }
    };
    expect(eksConfigFromEnv(VALID).image).toBe(VALID.RECC_EKS_IMAGE);
    expect(problem(undefined)).toEqual([expect.stringMatching(/^RECC_EKS_IMAGE: is required: .*pinned by digest/)]);
    expect(problem('recc:latest')).toEqual(['RECC_EKS_IMAGE: must be pinned by digest ("recc@sha256:<64 hex digits>"), not by the tag "latest": a tag can be moved by a push (got "recc:latest")']);
    expect(problem('123456789012.dkr.ecr.us-east-1.amazonaws.com/recc:1.4.0')).toEqual([expect.stringMatching(/^RECC_EKS_IMAGE: must be pinned by digest .*not by the tag "1\.4\.0"/)]);
    expect(problem('recc')).toEqual([expect.stringMatching(/^RECC_EKS_IMAGE: must be pinned by digest .*not by no tag/)]);
    expect(problem(`recc@sha256:${'a'.repeat(63)}`)).toEqual([expect.stringMatching(/^RECC_EKS_IMAGE: must be a container image reference pinned by digest/)]);
    expect(problem(`recc@sha256:${'A'.repeat(64)}`)).toHaveLength(1);
    // A tag beside the digest is allowed: the digest is what is pulled.
    expect(problem(`registry.example.org:5000/lab/recc:1.4.0@sha256:${'0'.repeat(64)}`)).toEqual([]);
  });
});
