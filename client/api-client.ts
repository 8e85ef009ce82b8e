import { ValidationError, type ErrorDetail } from '../shared/core/errors.ts';
import { ApiConflictError, ApiNotFoundError, ApiRequestError, ApiUnreachableError, ApiValidationError } from './errors.ts';
import { getOptionalString, type Env } from '../shared/core/env.ts';
import { retry } from '../shared/core/retry.ts';
import type { ClusterStatus } from '../shared/lifecycle/types.ts';
import type { ClusterSpec } from '../shared/spec/types.ts';
import type { ClusterView, CreateClusterResult, EstimateResult } from '../shared/api/views.ts';

/**
 * HTTP client of the recc cluster API (fetch, Node 20+).
 *
 * - Requests to an API Gateway URL (`*.execute-api.<region>.amazonaws.com`),
 *   or any URL with `signing: 'sigv4'`, are signed with SigV4 (service
 *   `execute-api`) using credentials from the default AWS chain
 *   (`fromNodeProviderChain`: env, SSO profiles, instance roles…). The
 *   signing libraries load only when needed, so the CLI starts fast.
 * - The local stack takes an optional bearer token (`RECC_API_TOKEN`).
 * - API errors become typed errors carrying the server's type, message and
 *   details; a 400 is a `ValidationError` (the CLI exits 2 on it).
 */
export const DEFAULT_API_URL = 'http://127.0.0.1:4600';

/** fetch failed because the connection was reset or closed under it (not refused, not timed out). */
function isConnectionReset(err: unknown): boolean {
  const code = (err as { cause?: { code?: string } })?.cause?.code;
  return code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' || code === 'EPIPE';
}

export type Signing = 'auto' | 'sigv4' | 'none';

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface ApiClientOptions {
  /** @default http://127.0.0.1:4600 */
  apiUrl?: string;
  /** `auto` signs API Gateway URLs only. @default 'auto' */
  signing?: Signing;
  /** Signing region; @default the region in the API Gateway host name, else us-east-1 */
  region?: string;
  /** Static credentials or a provider; @default fromNodeProviderChain() */
  credentials?: AwsCredentials | (() => Promise<AwsCredentials>);
  /** Bearer token for a local stack started with a token. */
  token?: string;
  /** Per-request timeout. @default 30000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
  /**
   * A cluster's own process (a job run's driver on EKS) calling for the
   * cluster's owner: every request carries a proof under the cluster's token
   * (shared/api/cluster-proof.ts), signed into the SigV4 request. The token
   * itself never travels.
   */
  clusterProof?: { clusterId: string; token?: string; tokenFile?: string };
}

/**
 * Client options from the environment: RECC_API_URL, RECC_API_TOKEN,
 * RECC_API_SIGNING, AWS_REGION, and for a cluster's own pods
 * RECC_API_CLUSTER + RECC_API_CLUSTER_TOKEN_FILE (both or neither).
 */
export function apiClientOptionsFromEnv(env: Env): ApiClientOptions {
  const apiUrl = getOptionalString(env, 'RECC_API_URL');
  const token = getOptionalString(env, 'RECC_API_TOKEN');
  const signing = getOptionalString(env, 'RECC_API_SIGNING');
  const region = getOptionalString(env, 'AWS_REGION') ?? getOptionalString(env, 'AWS_DEFAULT_REGION');
  if (signing !== undefined && !['auto', 'sigv4', 'none'].includes(signing)) {
    throw new ValidationError('invalid RECC_API_SIGNING', [{ path: 'RECC_API_SIGNING', message: 'must be auto, sigv4 or none' }]);
  }
  const proofCluster = getOptionalString(env, 'RECC_API_CLUSTER');
  const proofTokenFile = getOptionalString(env, 'RECC_API_CLUSTER_TOKEN_FILE');
  if ((proofCluster === undefined) !== (proofTokenFile === undefined)) {
    const missing = proofCluster === undefined ? 'RECC_API_CLUSTER' : 'RECC_API_CLUSTER_TOKEN_FILE';
    throw new ValidationError(`${missing} is not set`, [{ path: missing, message: 'RECC_API_CLUSTER and RECC_API_CLUSTER_TOKEN_FILE go together (a cluster pod proving its cluster)' }]);
  }
  return {
    ...(apiUrl ? { apiUrl } : {}),
    ...(token ? { token } : {}),
    ...(signing ? { signing: signing as Signing } : {}),
    ...(region ? { region } : {}),
    ...(proofCluster && proofTokenFile ? { clusterProof: { clusterId: proofCluster, tokenFile: proofTokenFile } } : {}),
  };
}

// --------------------------------------------------------------------------- errors

// The error classes live in ./errors.ts; re-exported here so importers of this module keep working.
export { ApiValidationError, ApiNotFoundError, ApiConflictError, ApiRequestError, ApiUnreachableError } from './errors.ts';

export type ApiError = ApiValidationError | ApiNotFoundError | ApiConflictError | ApiRequestError;

function errorFromResponse(status: number, payload: unknown, requestId: string | undefined): ApiError {
  const envelope = (payload && typeof payload === 'object' ? (payload as Record<string, unknown>) : {}) as {
    error?: { type?: unknown; message?: unknown; details?: unknown };
    message?: unknown;
  };
  const e = envelope.error ?? {};
  // API Gateway's own answers (e.g. an IAM denial) are `{"message": "..."}`.
  const message = typeof e.message === 'string' ? e.message : typeof envelope.message === 'string' ? envelope.message : `HTTP ${status}`;
  const type = typeof e.type === 'string' ? e.type : status === 403 ? 'AccessDenied' : 'HttpError';
  const details = Array.isArray(e.details)
    ? e.details.filter((d): d is ErrorDetail => !!d && typeof d === 'object' && typeof d.path === 'string' && typeof d.message === 'string')
    : [];
  if (status === 400) return new ApiValidationError(message, details, type, requestId);
  if (status === 404) return new ApiNotFoundError(message, details, type, requestId);
  if (status === 409) return new ApiConflictError(message, details, type, requestId);
  return new ApiRequestError(status, message, details, type, requestId);
}

// --------------------------------------------------------------------------- signing

const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/** True when requests to `url` are signed under `signing`. */
export function shouldSign(url: URL, signing: Signing): boolean {
  if (signing === 'sigv4') return true;
  if (signing === 'none') return false;
  return EXECUTE_API_HOST.test(url.hostname);
}

export function regionOf(url: URL, fallback?: string): string {
  return EXECUTE_API_HOST.exec(url.hostname)?.[1] ?? fallback ?? 'us-east-1';
}

export type Signer = (req: { method: string; url: URL; headers: Record<string, string>; body: string | undefined }) => Promise<Record<string, string>>;

export async function makeSigner(region: string, credentials: ApiClientOptions['credentials']): Promise<Signer> {
  const [{ SignatureV4 }, { Sha256 }] = await Promise.all([import('@smithy/signature-v4'), import('@aws-crypto/sha256-js')]);
  let provider: () => Promise<AwsCredentials>;
  if (typeof credentials === 'function') provider = credentials;
  else if (credentials) provider = async () => credentials;
  else {
    const { fromNodeProviderChain } = await import('@aws-sdk/credential-providers');
    provider = fromNodeProviderChain();
  }
  const signer = new SignatureV4({ service: 'execute-api', region, credentials: provider, sha256: Sha256 });
  return async ({ method, url, headers, body }) => {
    const query: Record<string, string | string[]> = {};
    for (const [k, v] of url.searchParams) {
      const prev = query[k];
      query[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
    }
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      ...(url.port ? { port: Number(url.port) } : {}),
      path: url.pathname,
      query,
      headers: { ...headers, host: url.host },
      ...(body === undefined ? {} : { body }),
    });
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(signed.headers)) out[k] = String(v);
    // fetch sets Host itself from the URL (the same value that was signed).
    delete out.host;
    return out;
  };
}

// --------------------------------------------------------------------------- client

export interface CreateClusterRequest extends Record<string, unknown> {
  template?: string;
  name?: string;
  job?: string;
  clientToken?: string;
}

export interface TemplateSummary {
  name: string;
  description: string;
  spec: Partial<ClusterSpec>;
}

export class ApiClient {
  readonly apiUrl: string;
  private readonly base: URL;
  private readonly signing: Signing;
  private readonly region: string | undefined;
  private readonly credentials: ApiClientOptions['credentials'];
  private readonly token: string | undefined;
  private readonly timeoutMs: number;
  private readonly fetchImpl: typeof fetch;
  private signer: Promise<Signer> | undefined;
  private readonly clusterProof: ApiClientOptions['clusterProof'];
  private proofToken: Promise<string> | undefined;

  constructor(options: ApiClientOptions = {}) {
    this.apiUrl = (options.apiUrl ?? DEFAULT_API_URL).replace(/\/+$/, '');
    try {
      this.base = new URL(`${this.apiUrl}/`);
    } catch {
      throw new ValidationError('invalid API URL', [{ path: 'apiUrl', message: `not a URL: ${JSON.stringify(options.apiUrl)}` }]);
    }
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') {
      throw new ValidationError('invalid API URL', [{ path: 'apiUrl', message: 'must start with http:// or https://' }]);
    }
    this.signing = options.signing ?? 'auto';
    this.region = options.region;
    this.credentials = options.credentials;
    this.token = options.token;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.fetchImpl = options.fetch ?? fetch;
    this.clusterProof = options.clusterProof;
  }

  /** The cluster proof header for one request, when this client is a cluster's own process. */
  private async proofHeaders(method: string): Promise<Record<string, string>> {
    const proof = this.clusterProof;
    if (!proof) return {};
    this.proofToken ??= (async () => {
      if (proof.token) return proof.token;
      if (!proof.tokenFile) throw new ValidationError('clusterProof needs a token or a token file', [{ path: 'clusterProof', message: 'give token or tokenFile' }]);
      const { readFile } = await import('node:fs/promises');
      const text = (await readFile(proof.tokenFile, 'utf8')).trim();
      if (!text) throw new ValidationError('the cluster token file is empty', [{ path: 'RECC_API_CLUSTER_TOKEN_FILE', message: `${proof.tokenFile} is empty` }]);
      return text;
    })();
    // A failed read is not cached: the next request tries again.
    void this.proofToken.catch(() => (this.proofToken = undefined));
    const { CLUSTER_PROOF_HEADER, CLUSTER_PROOF_TTL_MS, clusterProof } = await import('../shared/api/cluster-proof.ts');
    return { [CLUSTER_PROOF_HEADER]: clusterProof(await this.proofToken, proof.clusterId, method, Date.now() + CLUSTER_PROOF_TTL_MS) };
  }

  /** True when this client signs its requests with SigV4. */
  get signs(): boolean {
    return shouldSign(this.base, this.signing);
  }

  /** Send one request; returns the parsed JSON body of a 2xx answer. */
  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.base);
    const text = body === undefined ? undefined : JSON.stringify(body);
    // The cluster proof goes in before signing, so SigV4 covers it.
    let headers: Record<string, string> = { accept: 'application/json', ...(text === undefined ? {} : { 'content-type': 'application/json' }), ...(await this.proofHeaders(method)) };
    if (shouldSign(url, this.signing)) {
      this.signer ??= makeSigner(this.region ?? regionOf(url), this.credentials);
      headers = await (await this.signer)({ method, url, headers, body: text });
    } else if (this.token) {
      headers.authorization = `Bearer ${this.token}`;
    }
    let response: Response;
    try {
      // A GET or DELETE on a kept-alive socket the server closed as the request went out (its keep-alive
      // timer, often after a busy event loop) fails with a reset; sending it again is safe.
      response = await retry(
        () => this.fetchImpl(url, { method, headers, ...(text === undefined ? {} : { body: text }), signal: AbortSignal.timeout(this.timeoutMs) }),
        // Only idempotent requests are sent again (the API's DELETE is idempotent: a second one is a no-op).
        { initialMs: 50, maxMs: 200, factor: 2, jitter: 'full', attempts: method === 'GET' || method === 'DELETE' ? 3 : 1, retryIf: isConnectionReset },
      );
    } catch (err) {
      throw new ApiUnreachableError(this.apiUrl, err);
    }
    const raw = await response.text();
    let payload: unknown;
    try {
      payload = raw ? JSON.parse(raw) : undefined;
    } catch {
      payload = { message: raw.slice(0, 200) };
    }
    if (!response.ok) throw errorFromResponse(response.status, payload, response.headers.get('x-request-id') ?? response.headers.get('apigw-requestid') ?? undefined);
    return payload as T;
  }

  createCluster(request: CreateClusterRequest): Promise<CreateClusterResult> {
    return this.request('POST', '/clusters', request);
  }

  /** Every matching cluster, newest first (follows `nextToken` through all pages). */
  async listClusters(options: { all?: boolean; status?: ClusterStatus } = {}): Promise<ClusterView[]> {
    const out: ClusterView[] = [];
    let nextToken: string | undefined;
    do {
      const page = await this.listClustersPage({ ...options, limit: 1000, ...(nextToken ? { nextToken } : {}) });
      out.push(...page.clusters);
      nextToken = page.nextToken ?? undefined;
    } while (nextToken !== undefined);
    return out;
  }

  /** One page of clusters (`limit` 1..1000, default 100); `nextToken` is null on the last page. */
  async listClustersPage(options: { all?: boolean; status?: ClusterStatus; limit?: number; nextToken?: string } = {}): Promise<{ clusters: ClusterView[]; nextToken: string | null }> {
    const q = new URLSearchParams();
    if (options.all) q.set('all', 'true');
    if (options.status) q.set('status', options.status);
    if (options.limit !== undefined) q.set('limit', String(options.limit));
    if (options.nextToken !== undefined) q.set('nextToken', options.nextToken);
    const qs = q.toString();
    const page = await this.request<{ clusters: ClusterView[]; nextToken?: string | null }>('GET', `/clusters${qs ? `?${qs}` : ''}`);
    // Servers before paging answer {clusters} only: that is the whole list.
    return { clusters: page.clusters, nextToken: page.nextToken ?? null };
  }

  async getCluster(id: string): Promise<ClusterView> {
    return (await this.request<{ cluster: ClusterView }>('GET', `/clusters/${encodeURIComponent(id)}`)).cluster;
  }

  async deleteCluster(id: string): Promise<ClusterView> {
    return (await this.request<{ cluster: ClusterView }>('DELETE', `/clusters/${encodeURIComponent(id)}`)).cluster;
  }

  /** `retire`: workers to stop first; `clamp`: fit the count to the adaptive bounds and quota instead of refusing it. */
  async scaleCluster(id: string, nWorkers: number, options: { retire?: readonly string[]; clamp?: boolean } = {}): Promise<ClusterView> {
    const body = { nWorkers, ...(options.retire && options.retire.length > 0 ? { retire: [...options.retire] } : {}), ...(options.clamp !== undefined ? { clamp: options.clamp } : {}) };
    return (await this.request<{ cluster: ClusterView }>('PATCH', `/clusters/${encodeURIComponent(id)}`, body)).cluster;
  }

  /** kubectl `--edit` on one's own running cluster (202; the provisioner makes the grant; 403 when the stage does not allow it). */
  async grantKubectlEdit(id: string): Promise<ClusterView> {
    return (await this.request<{ cluster: ClusterView }>('POST', `/clusters/${encodeURIComponent(id)}/access`, { level: 'edit' })).cluster;
  }

  async heartbeat(id: string): Promise<ClusterView> {
    return (await this.request<{ cluster: ClusterView }>('POST', `/clusters/${encodeURIComponent(id)}/heartbeat`)).cluster;
  }

  estimate(request: Record<string, unknown>): Promise<EstimateResult> {
    return this.request('POST', '/estimates', request);
  }

  /** Every template (follows `nextToken` through all pages). */
  async templates(): Promise<TemplateSummary[]> {
    const out: TemplateSummary[] = [];
    let nextToken: string | null | undefined;
    do {
      const qs = new URLSearchParams({ limit: '1000', ...(nextToken ? { nextToken } : {}) }).toString();
      const page = await this.request<{ templates: TemplateSummary[]; nextToken?: string | null }>('GET', `/templates?${qs}`);
      out.push(...page.templates);
      nextToken = page.nextToken;
    } while (nextToken);
    return out;
  }
}
