import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, AwsCredentialIdentityProvider } from '@smithy/types';

/**
 * A Kubernetes bearer token for EKS, as `aws eks get-token` makes it: a
 * presigned STS GetCallerIdentity URL (SigV4, 60 s, with the signed
 * `x-k8s-aws-id: <cluster>` header), base64url-encoded after `k8s-aws-v1.`.
 * The API server's authenticator calls that URL to learn the caller's IAM
 * identity. Tokens are valid for 15 minutes; `eksTokenProvider` caches one for
 * 10.
 */
export interface EksTokenRequest {
  clusterName: string;
  region: string;
  credentials: AwsCredentialIdentity | AwsCredentialIdentityProvider;
  /** Signing time (tests pass a fixed one). */
  signingDate?: Date;
}

export async function eksToken(request: EksTokenRequest): Promise<string> {
  const hostname = `sts.${request.region}.amazonaws.com`;
  const signer = new SignatureV4({ credentials: request.credentials, region: request.region, service: 'sts', sha256: Sha256 });
  const presigned = await signer.presign(
    new HttpRequest({
      method: 'GET',
      protocol: 'https:',
      hostname,
      path: '/',
      query: { Action: 'GetCallerIdentity', Version: '2011-06-15' },
      headers: { host: hostname, 'x-k8s-aws-id': request.clusterName },
    }),
    { expiresIn: 60, ...(request.signingDate ? { signingDate: request.signingDate } : {}) },
  );
  const query = Object.entries(presigned.query ?? {})
    .map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`)
    .sort()
    .join('&');
  const url = `https://${hostname}/?${query}`;
  return `k8s-aws-v1.${Buffer.from(url, 'utf8').toString('base64url')}`;
}

/**
 * A token getter that re-signs every `refreshMs` (default 10 minutes, under
 * the 15-minute lifetime), and at once after `invalidate()` (the API server
 * answered 401: see `KubeClients`). Concurrent callers share one signing.
 */
export function eksTokenProvider(
  request: Omit<EksTokenRequest, 'signingDate'>,
  now: () => number = Date.now,
  refreshMs = 10 * 60_000,
): (() => Promise<string>) & { invalidate: () => void } {
  let cached: { token: Promise<string>; at: number } | undefined;
  const get = async (): Promise<string> => {
    const t = now();
    if (!cached || t - cached.at >= refreshMs || t < cached.at) {
      const signing = eksToken({ ...request, signingDate: new Date(t) });
      cached = { token: signing, at: t };
      signing.catch(() => {
        if (cached?.token === signing) cached = undefined; // a failed signing is not cached
      });
    }
    return cached.token;
  };
  return Object.assign(get, {
    invalidate: () => {
      cached = undefined;
    },
  });
}
