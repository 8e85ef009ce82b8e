import { Sha256 } from '@aws-crypto/sha256-js';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { UserInfo } from './k8s-rbac.ts';

/**
 * EKS bearer-token authentication in the fake API server, as EKS does it
 * with aws-iam-authenticator (pkg/token/token.go: Verify) and STS:
 * - the token is `k8s-aws-v1.` + base64url of a presigned STS
 *   GetCallerIdentity URL on an STS host, path `/`;
 * - it expires 15 minutes after its `X-Amz-Date` (the authenticator's
 *   `presignedURLExpiration`), whatever `X-Amz-Expires` says;
 * - the `x-k8s-aws-id` header must be signed, and STS checks the signature
 *   with the header value the authenticator sends (its own cluster name), so
 *   a token made for another cluster or with the wrong secret is refused;
 * - STS answers with the caller's ARN; an assumed-role ARN is canonicalised
 *   to its role ARN (pkg/arn/arn.go: Canonicalize), which is looked up in the
 *   cluster's access entries; no entry → 401.
 * The EKS username of a role's entry defaults to
 * `arn:aws:sts::{account}:assumed-role/{role}/{{SessionName}}` (EKS user
 * guide, "Creating access entries"); groups are the entry's Kubernetes groups
 * plus `system:authenticated`.
 */
export interface FakeAwsPrincipal {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  /** What STS GetCallerIdentity answers, e.g. `arn:aws:sts::123456789012:assumed-role/recc-user-alice/alice`. */
  arn: string;
}

export interface EksAuthenticatorOptions {
  clusterName: string;
  now: () => number;
  principals: FakeAwsPrincipal[];
  /** The access entry of a canonical principal ARN (undefined: none, 401). */
  accessEntry: (principalArn: string) => { kubernetesGroups: string[]; username?: string } | undefined;
}

export type AuthResult = { user: UserInfo } | { error: string };

export const EKS_TOKEN_PREFIX = 'k8s-aws-v1.';
export const EKS_TOKEN_LIFETIME_MS = 15 * 60_000;
const STS_HOST = /^sts(\.[a-z0-9-]+)?\.amazonaws\.com(\.cn)?$/;

function parseAmzDate(text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (!m) return undefined;
  return Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4]), Number(m[5]), Number(m[6]));
}

/** pkg/arn/arn.go: Canonicalize. */
export function canonicalPrincipalArn(arn: string): string {
  const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/.+$/.exec(arn);
  return m ? `arn:${m[1]}:iam::${m[2]}:role/${m[3]}` : arn;
}

function eksUsername(arn: string): string {
  const m = /^arn:(aws[a-z-]*):sts::(\d{12}):assumed-role\/([^/]+)\/(.+)$/.exec(arn);
  return m ? `arn:${m[1]}:sts::${m[2]}:assumed-role/${m[3]}/${m[4]}` : arn;
}

export function eksTokenAuthenticator(options: EksAuthenticatorOptions): (token: string) => Promise<AuthResult> {
  return async (token) => {
    if (!token.startsWith(EKS_TOKEN_PREFIX)) return { error: 'token is missing expected "k8s-aws-v1." prefix' };
    let url: URL;
    try {
      url = new URL(Buffer.from(token.slice(EKS_TOKEN_PREFIX.length), 'base64url').toString('utf8'));
    } catch {
      return { error: 'input token was not properly formatted' };
    }
    if (url.protocol !== 'https:' || !STS_HOST.test(url.hostname) || url.pathname !== '/') return { error: 'unexpected STS endpoint' };
    const q = url.searchParams;
    if (q.get('Action') !== 'GetCallerIdentity') return { error: 'unexpected action parameter in pre-signed URL' };
    const signed = (q.get('X-Amz-SignedHeaders') ?? '').split(';');
    if (!signed.includes('x-k8s-aws-id')) return { error: 'client did not sign the x-k8s-aws-id header in the pre-signed URL' };
    const date = parseAmzDate(q.get('X-Amz-Date') ?? '');
    if (date === undefined) return { error: 'malformed X-Amz-Date' };
    if (options.now() > date + EKS_TOKEN_LIFETIME_MS) return { error: 'X-Amz-Date parameter is expired (15 minute expiration)' };
    // STS: the signature must verify for the caller's key, with the authenticator's cluster name as x-k8s-aws-id.
    const [accessKeyId, , region] = (q.get('X-Amz-Credential') ?? '').split('/');
    const principal = options.principals.find((p) => p.accessKeyId === accessKeyId);
    if (!principal || !region) return { error: 'sts getCallerIdentity failed: InvalidClientTokenId' };
    const query: Record<string, string> = { Action: 'GetCallerIdentity', Version: q.get('Version') ?? '2011-06-15' };
    const signer = new SignatureV4({
      credentials: { accessKeyId: principal.accessKeyId, secretAccessKey: principal.secretAccessKey, ...(principal.sessionToken ? { sessionToken: principal.sessionToken } : {}) },
      region,
      service: 'sts',
      sha256: Sha256,
    });
    const expected = await signer.presign(
      new HttpRequest({ method: 'GET', protocol: 'https:', hostname: url.hostname, path: '/', query, headers: { host: url.hostname, 'x-k8s-aws-id': options.clusterName } }),
      { expiresIn: Number(q.get('X-Amz-Expires') ?? '60'), signingDate: new Date(date) },
    );
    if (expected.query?.['X-Amz-Signature'] !== q.get('X-Amz-Signature')) return { error: 'sts getCallerIdentity failed: SignatureDoesNotMatch' };
    const principalArn = canonicalPrincipalArn(principal.arn);
    const entry = options.accessEntry(principalArn);
    if (!entry) return { error: `ARN is not mapped: ${principalArn}` };
    return {
      user: {
        username: entry.username ?? eksUsername(principal.arn),
        groups: [...entry.kubernetesGroups, 'system:authenticated'],
        principalArn,
      },
    };
  };
}
