import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { describe, expect, it } from 'vitest';
import { eksConfigFromEnv, manifestOptions } from '../../../adapters/eks/config.ts';
import { INSTANCE_METADATA_CIDR, buildClusterManifests, type ManifestOptions } from '../../../adapters/eks/manifests/build.ts';
import { EksManifestError } from '../../../adapters/eks/errors.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { planCluster } from '../../../shared/plan/planner.ts';
import { resolveSpec } from '../../../shared/spec/resolve.ts';

/**
 * Issue 17 #5 (egress) and #4 (NLB). Pods may reach DNS, their own
 * namespace, HTTPS endpoints (S3, SQS, STS, CloudWatch Logs), the Pod
 * Identity agent and configured CIDRs, never the instance metadata service.
 * The NLB preserves the desktops' addresses (so the desktop-CIDR policy sees
 * them) and health-checks the dashboard's open /health, which the cluster
 * subnets' policy admits.
 */
const ENV = {
  RECC_EKS_CLUSTER_NAME: 'research',
  RECC_EKS_IMAGE: '123456789012.dkr.ecr.us-east-1.amazonaws.com/recc@sha256:' + 'ab'.repeat(32),
  RECC_EKS_ALLOWED_CIDRS: '10.20.0.0/16',
  RECC_EKS_CONTROL_PLANE_CIDRS: '10.0.0.0/16',
  RECC_EKS_SUBNET_IDS: 'subnet-a',
  RECC_EKS_LAUNCH_TEMPLATE: 'recc-eks-node',
  RECC_EKS_USER_ROLE_ARN_TEMPLATE: 'arn:aws:iam::123456789012:role/recc-user-{owner}',
};

function objects(options: ManifestOptions): K8sObject[] {
  const spec = resolveSpec({ overrides: { nWorkers: 2 } });
  const def = renderCluster({ clusterId: 'c-net1', owner: 'arathe', namespace: 'recc-arathe-net1', spec, plan: planCluster(spec) }, { defaultImage: TEST_EKS_IMAGE });
  return buildClusterManifests(def, { ...options, nodes: def.plan.instances }, { kind: 'references' });
}
const find = (list: K8sObject[], kind: string, name: string): any => list.find((o) => o.kind === kind && o.metadata.name === name);

/** Whether the egress rules admit a TCP/UDP packet to ip:port (pod and namespace selectors aside). */
function egressAllows(policy: any, ip: string, port: number, protocol = 'TCP'): boolean {
  const toInt = (a: string) => a.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const inCidr = (cidr: string) => {
    const [base = '', bits = '32'] = cidr.split('/');
    const n = Number(bits);
    const mask = n === 0 ? 0 : (0xffffffff << (32 - n)) >>> 0;
    return ((toInt(base) & mask) >>> 0) === ((toInt(ip) & mask) >>> 0);
  };
  return policy.spec.egress.some((rule: any) => {
    const portOk = rule.ports === undefined || rule.ports.some((p: any) => p.port === port && p.protocol === protocol);
    const peerOk = rule.to.some((peer: any) => peer.ipBlock && inCidr(peer.ipBlock.cidr) && !(peer.ipBlock.except ?? []).some(inCidr));
    return portOk && peerOk;
  });
}

describe('Egress NetworkPolicy (issue 17 #5)', () => {
  it('allows DNS, own pods, HTTPS and the Pod Identity agent, and never the instance metadata service', () => {
    const policy = find(objects(manifestOptions(eksConfigFromEnv(ENV))), 'NetworkPolicy', 'recc-egress');
    expect(policy.spec.podSelector).toEqual({});
    expect(policy.spec.policyTypes).toEqual(['Egress']);
    expect(policy.spec.egress[0]).toEqual({
      to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }],
      ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'TCP', port: 53 }],
    });
    expect(policy.spec.egress[1]).toEqual({ to: [{ podSelector: {} }] });
    expect(egressAllows(policy, '52.216.8.1', 443)).toBe(true); // S3
    expect(egressAllows(policy, '10.0.12.34', 443)).toBe(true); // an interface VPC endpoint
    expect(egressAllows(policy, '169.254.170.23', 80)).toBe(true); // Pod Identity agent
    for (const port of [80, 443, 8080]) expect(egressAllows(policy, '169.254.169.254', port)).toBe(false);
    expect(egressAllows(policy, '52.216.8.1', 80)).toBe(false);
    expect(egressAllows(policy, '10.99.0.5', 5432)).toBe(false);
  });

  it('opens the configured CIDRs on every port, but a wide CIDR still not the metadata service; bad CIDRs are named', () => {
    const policy = find(objects(manifestOptions(eksConfigFromEnv({ ...ENV, RECC_EKS_EGRESS_CIDRS: '10.99.0.0/16,0.0.0.0/0' }))), 'NetworkPolicy', 'recc-egress');
    expect(egressAllows(policy, '10.99.0.5', 5432)).toBe(true);
    expect(egressAllows(policy, '198.51.100.7', 22)).toBe(true);
    expect(egressAllows(policy, '169.254.169.254', 80)).toBe(false);
    expect(policy.spec.egress.at(-1).to).toContainEqual({ ipBlock: { cidr: '0.0.0.0/0', except: [INSTANCE_METADATA_CIDR] } });
    let err: unknown;
    try {
      objects(manifestOptions(eksConfigFromEnv({ ...ENV, RECC_EKS_EGRESS_CIDRS: 'db-subnet,10.1.0.0/33' })));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EksManifestError);
    expect((err as EksManifestError).details.map((d) => d.path)).toEqual(['egressCidrs[0]', 'egressCidrs[1]']);
  });
});

describe('NLB and the desktop-CIDR policy (issue 17 #4): client IP preservation', () => {
  it('preserves the client IP and health-checks /health on the dashboard port, which the cluster subnets may reach', () => {
    const list = objects(manifestOptions(eksConfigFromEnv(ENV)));
    const service = find(list, 'Service', 'recc-scheduler');
    expect(service.metadata.annotations).toMatchObject({
      'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip',
      'service.beta.kubernetes.io/aws-load-balancer-target-group-attributes': 'preserve_client_ip.enabled=true',
      'service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol': 'http',
      'service.beta.kubernetes.io/aws-load-balancer-healthcheck-port': '8787',
      'service.beta.kubernetes.io/aws-load-balancer-healthcheck-path': '/health',
    });
    // Desktops (their own addresses, preserved) reach comm and dashboard; the NLB's health checks come from the cluster subnets.
    expect(find(list, 'NetworkPolicy', 'recc-allow-desktops-to-scheduler').spec.ingress[0]).toEqual({ from: [{ ipBlock: { cidr: '10.20.0.0/16' } }], ports: [{ protocol: 'TCP', port: 8786 }, { protocol: 'TCP', port: 8787 }] });
    expect(find(list, 'NetworkPolicy', 'recc-allow-control-plane-to-dashboard').spec.ingress).toEqual([{ from: [{ ipBlock: { cidr: '10.0.0.0/16' } }], ports: [{ protocol: 'TCP', port: 8787 }] }]);
  });
});
