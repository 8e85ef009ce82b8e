import { X509Certificate } from 'node:crypto';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { eksSchedulerCertificateNames } from '../../../adapters/eks/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { schedulerDnsNames } from '../../../shared/definition/render.ts';

/**
 * On EKS (nlb mode) clients connect to the NLB hostname and verify it against
 * the scheduler certificate; the in-cluster service names alone do not cover
 * it. This checks a real generated certificate with node:crypto.
 */
const NLB_HOST = 'k8s-reccarat-reccsche-0a1b2c3d4e-0123456789abcdef.elb.us-east-1.amazonaws.com';

describe('Function: eksSchedulerCertificateNames', () => {
  it('makes the scheduler certificate valid for the NLB hostname of the region', async () => {
    // Prepare
    const namespace = 'recc-arathe-abc123';

    // Act
    const secrets = await generateClusterSecrets({ clusterId: 'c-abc123', dnsNames: [...schedulerDnsNames(namespace), ...eksSchedulerCertificateNames('us-east-1')] });
    const cert = new X509Certificate(secrets.serverCertPem);
    const ca = new X509Certificate(secrets.caCertPem);

    // Assess
    // What a TLS client (comm/handshake.ts passes servername = host) checks:
    const peer = { subject: {}, subjectaltname: cert.subjectAltName } as unknown as PeerCertificate;
    expect(checkServerIdentity(NLB_HOST, peer)).toBeUndefined();
    expect(checkServerIdentity('evil.example.com', peer)).toBeInstanceOf(Error);
    expect(cert.checkHost(NLB_HOST)).toBe('*.elb.us-east-1.amazonaws.com');
    expect(cert.checkHost(`recc-scheduler.${namespace}.svc`)).toBe(`recc-scheduler.${namespace}.svc`);
    expect(cert.checkHost('evil.example.com')).toBeUndefined();
    expect(cert.checkHost('k8s-x.elb.eu-west-1.amazonaws.com')).toBeUndefined();
    expect(cert.verify(ca.publicKey)).toBe(true);
  });

  it('is needed: the in-cluster names alone do not cover the NLB hostname', async () => {
    // Act
    const secrets = await generateClusterSecrets({ clusterId: 'c-abc124', dnsNames: schedulerDnsNames('recc-arathe-abc124') });

    // Assess
    const cert = new X509Certificate(secrets.serverCertPem);
    expect(cert.checkHost(NLB_HOST)).toBeUndefined();
    expect(checkServerIdentity(NLB_HOST, { subject: {}, subjectaltname: cert.subjectAltName } as unknown as PeerCertificate)).toBeInstanceOf(Error);
    expect(eksSchedulerCertificateNames('us-east-1', 'clusterip-ingress')).toEqual([]);
  });
});
