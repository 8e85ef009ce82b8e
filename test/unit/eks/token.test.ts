import { describe, expect, it } from 'vitest';
import { eksToken, eksTokenProvider } from '../../../adapters/eks/token.ts';

const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

function decode(token: string): URL {
  expect(token.startsWith('k8s-aws-v1.')).toBe(true);
  expect(token).not.toMatch(/=$/);
  return new URL(Buffer.from(token.slice('k8s-aws-v1.'.length), 'base64url').toString('utf8'));
}

describe('Function: eksToken', () => {
  it('is a presigned STS GetCallerIdentity URL that signs the cluster name header, valid 60 s', async () => {
    // Act
    const url = decode(await eksToken({ clusterName: 'research', region: 'eu-west-1', credentials, signingDate: new Date('2026-11-27T06:00:00Z') }));

    // Assess
    expect(url.origin).toBe('https://sts.eu-west-1.amazonaws.com');
    expect(url.searchParams.get('Action')).toBe('GetCallerIdentity');
    expect(url.searchParams.get('Version')).toBe('2011-06-15');
    expect(url.searchParams.get('X-Amz-Algorithm')).toBe('AWS4-HMAC-SHA256');
    expect(url.searchParams.get('X-Amz-Credential')).toBe('AKIDEXAMPLE/20261127/eu-west-1/sts/aws4_request');
    expect(url.searchParams.get('X-Amz-Date')).toBe('20261127T060000Z');
    expect(url.searchParams.get('X-Amz-Expires')).toBe('60');
    expect(url.searchParams.get('X-Amz-SignedHeaders')).toBe('host;x-k8s-aws-id');
    expect(url.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('depends on the cluster name and never contains the secret key', async () => {
    // Act
    const at = new Date('2026-11-27T06:00:00Z');
    const a = await eksToken({ clusterName: 'a', region: 'us-east-1', credentials, signingDate: at });
    const a2 = await eksToken({ clusterName: 'a', region: 'us-east-1', credentials, signingDate: at });
    const b = await eksToken({ clusterName: 'b', region: 'us-east-1', credentials, signingDate: at });

    // Assess
    expect(a).toBe(a2);
    expect(decode(a).searchParams.get('X-Amz-Signature')).not.toBe(decode(b).searchParams.get('X-Amz-Signature'));
    expect(decode(a).toString()).not.toContain(credentials.secretAccessKey);
    expect(decode(a).toString()).not.toContain(encodeURIComponent(credentials.secretAccessKey));
  });
});

describe('Function: eksTokenProvider', () => {
  it('re-signs only after the refresh interval', async () => {
    // Prepare
    let now = Date.UTC(2026, 10, 27, 6);
    const get = eksTokenProvider({ clusterName: 'research', region: 'us-east-1', credentials }, () => now, 600_000);

    // Act
    const first = await get();
    now += 599_000;
    const cached = await get();
    now += 2_000;
    const fresh = await get();

    // Assess
    expect(cached).toBe(first);
    expect(fresh).not.toBe(first);
  });
});
