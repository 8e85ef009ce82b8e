import { createServer, request as httpRequest, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { SignatureV4 } from '@smithy/signature-v4';
import { Sha256 } from '@aws-crypto/sha256-js';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { ConfigError, ValidationError } from '../../../shared/core/errors.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import { ApiClient, ApiConflictError, ApiNotFoundError, ApiRequestError, ApiUnreachableError, ApiValidationError } from '../../../client/api-client.ts';
import { ClusterFailedError, ClusterReadyTimeoutError, ReccCluster, type ClusterProgress } from '../../../client/recc-cluster.ts';
import { freePort } from '../../support/ports.ts';
import { waitFor } from '../../support/wait.ts';
import { startFakeProvisioner, type FakeProvisioner } from '../../support/api-fake-provisioner.ts';

/**
 * The local API server over real HTTP, driven by the SDK's ApiClient and
 * ReccCluster, with a scripted provisioner moving clusters along.
 */
const TEST_USER_HEADER = 'x-test-user';

function identityFromHeader(req: IncomingMessage): { user: string; admin?: boolean } {
  const user = String(req.headers[TEST_USER_HEADER] ?? 'alice');
  return user === 'ops' ? { user, admin: true } : { user };
}

describe('Local API server over HTTP', () => {
  let store: InMemoryClusterStore;
  let queue: InMemoryWorkQueue;
  let server: ApiServer;
  let provisioner: FakeProvisioner;
  let client: ApiClient;

  beforeEach(async () => {
    store = new InMemoryClusterStore();
    queue = new InMemoryWorkQueue();
    server = await startApiServer({
      port: 0,
      deps: { store, queue, clock: systemClock, ids: randomIds, logger: silentLogger },
      identity: identityFromHeader,
    });
    provisioner = startFakeProvisioner(store, queue);
    client = new ApiClient({ apiUrl: server.url });
  });

  afterEach(async () => {
    provisioner.stop();
    await server.close();
  });

  describe('Class: ApiClient', () => {
    it('creates, lists, gets, scales and deletes a cluster', async () => {
      const created = await client.createCluster({ template: 'small', nWorkers: 2, name: 'round-trip', clientToken: 't-1' });
      expect(created.cluster).toMatchObject({ owner: 'alice', name: 'round-trip', status: 'REQUESTED' });
      const id = created.cluster.id;
      expect((await client.listClusters()).map((c) => c.id)).toEqual([id]);
      await waitFor(async () => (await client.getCluster(id)).status === 'RUNNING', { what: 'RUNNING' });
      expect((await client.scaleCluster(id, 5)).desiredWorkers).toBe(5);
      expect((await client.heartbeat(id)).lastHeartbeatAt).toBeDefined();
      expect((await client.deleteCluster(id)).status).toBe('DELETING');
      await waitFor(async () => (await client.getCluster(id)).status === 'DELETED', { what: 'DELETED' });
      expect(await client.listClusters({ status: 'DELETED' })).toHaveLength(1);
    });

    it('estimates and lists templates', async () => {
      const estimate = await client.estimate({ template: 'small', nWorkers: 6 });
      expect(estimate.spec.nWorkers).toBe(6);
      expect((await client.templates()).map((t) => t.name)).toContain('default');
    });

    it('raises ApiValidationError (a ValidationError) with every detail from a 400', async () => {
      const err = await client.createCluster({ nWorkers: -3, instanceType: 'c5.xlarge2' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiValidationError);
      expect(err).toBeInstanceOf(ValidationError);
      const e = err as ApiValidationError;
      expect(e.serverType).toBe('SpecValidationError');
      expect(e.details.map((d) => d.path)).toEqual(expect.arrayContaining(['nWorkers', 'instanceType']));
      expect(e.requestId).toMatch(/[0-9a-f-]{36}/);
    });

    it('raises ApiNotFoundError for another user\'s cluster and ApiConflictError for a bad state', async () => {
      const { cluster } = await client.createCluster({ template: 'small' });
      const bob = new ApiClient({ apiUrl: server.url, fetch: (url, init) => fetch(url, { ...init, headers: { ...(init?.headers as Record<string, string>), [TEST_USER_HEADER]: 'bob' } }) });
      await expect(bob.getCluster(cluster.id)).rejects.toBeInstanceOf(ApiNotFoundError);
      await client.deleteCluster(cluster.id);
      const conflict = await client.scaleCluster(cluster.id, 9).catch((e: unknown) => e);
      expect(conflict).toBeInstanceOf(ApiConflictError);
      expect((conflict as ApiConflictError).details[0]?.path).toBe('nWorkers');
    });

    it('raises ApiUnreachableError naming the URL when nothing listens', async () => {
      const port = await freePort();
      const dead = new ApiClient({ apiUrl: `http://127.0.0.1:${port}` });
      const err = await dead.templates().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ApiUnreachableError);
      expect((err as ApiUnreachableError).message).toContain(`127.0.0.1:${port}`);
    });
  });

  describe('Routing', () => {
    it('answers 404 naming path for an unknown route and 405 naming method for a wrong method', async () => {
      const missing = await fetch(`${server.url}/nope`);
      expect(missing.status).toBe(404);
      expect(((await missing.json()) as any).error.details[0].path).toBe('path');
      const wrong = await fetch(`${server.url}/templates`, { method: 'DELETE' });
      expect(wrong.status).toBe(405);
      expect(((await wrong.json()) as any).error.details[0]).toEqual({ path: 'method', message: 'allowed: GET' });
    });

    it('answers 413 naming body when the body is too large', async () => {
      const big = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
      const res = await fetch(`${server.url}/clusters`, { method: 'POST', body: big, headers: { 'content-type': 'application/json' } });
      expect(res.status).toBe(413);
      expect(((await res.json()) as any).error.details[0].path).toBe('body');
    });
  });

  describe('Class: ReccCluster', () => {
    it('resolves once RUNNING, reports each status, heartbeats while open and deletes on close', async () => {
      // Act
      const seen: ClusterProgress[] = [];
      const cluster = await ReccCluster.create({
        apiUrl: server.url,
        template: 'small',
        nWorkers: 2,
        name: 'sdk',
        onProgress: (p) => seen.push(p),
        pollIntervalMs: 20,
        maxPollIntervalMs: 50,
        heartbeatIntervalMs: 40,
      });

      // Assess
      expect(seen.map((p) => p.status)).toEqual(expect.arrayContaining(['REQUESTED', 'RUNNING']));
      expect(seen[0]?.status).toBe('REQUESTED');
      expect(seen.at(-1)?.status).toBe('RUNNING');
      expect(cluster.schedulerAddress).toBe('tcp://127.0.0.1:1');
      expect(cluster.token).toBe(`token-of-${cluster.id}`);
      await waitFor(async () => (await store.get(cluster.id))?.lastHeartbeatAt, { what: 'a heartbeat' });

      await cluster.close();
      await cluster.close();
      expect((await store.get(cluster.id))?.status).toMatch(/DELETING|DELETED/);
      const beatsAtClose = (await store.get(cluster.id))?.lastHeartbeatAt;
      // No heartbeat after close: the record's heartbeat does not move while the provisioner finishes.
      await waitFor(async () => (await store.get(cluster.id))?.status === 'DELETED', { what: 'DELETED' });
      expect((await store.get(cluster.id))?.lastHeartbeatAt).toBe(beatsAtClose);
    });

    it('throws ClusterFailedError with the reason when the cluster fails', async () => {
      provisioner.failByName.set('doomed', 'ImagePullBackOff: image recc:nope not found');
      const err = await ReccCluster.create({ apiUrl: server.url, template: 'small', name: 'doomed', pollIntervalMs: 20, heartbeatIntervalMs: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterFailedError);
      expect((err as ClusterFailedError).message).toContain('ImagePullBackOff: image recc:nope not found');
      expect((err as ClusterFailedError).status).toBe('FAILED');
    });

    it('deletes the cluster and throws ClusterReadyTimeoutError when it does not start in time', async () => {
      provisioner.stop();
      const err = await ReccCluster.create({ apiUrl: server.url, template: 'small', name: 'slow', readyTimeoutMs: 150, pollIntervalMs: 20, heartbeatIntervalMs: 0 }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ClusterReadyTimeoutError);
      const [record] = await store.listByOwner('alice');
      expect(record).toMatchObject({ name: 'slow', status: 'DELETING' });
    });

    it('connects to an existing cluster by id; disposing detaches and leaves it running unless shutdownOnClose', async () => {
      const { cluster: created } = await client.createCluster({ template: 'small' });
      {
        await using cluster = await ReccCluster.connect(created.id, { apiUrl: server.url, pollIntervalMs: 20, heartbeatIntervalMs: 0 });
        expect(cluster.status).toBe('RUNNING');
      }
      expect((await store.get(created.id))?.status).toBe('RUNNING');
      {
        await using owner = await ReccCluster.connect(created.id, { apiUrl: server.url, pollIntervalMs: 20, heartbeatIntervalMs: 0, shutdownOnClose: true });
        expect(owner.shutdownOnClose).toBe(true);
      }
      expect((await store.get(created.id))?.status).toMatch(/DELETING|DELETED/);
    });
  });
});

describe('Local API server exposure', () => {
  const deps = { store: new InMemoryClusterStore(), queue: new InMemoryWorkQueue(), clock: systemClock, ids: randomIds, logger: silentLogger };

  it('refuses to bind a non-loopback host without a token', async () => {
    const err = await startApiServer({ port: 0, host: '0.0.0.0', deps, identity: { user: 'alice' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).details[0]?.path).toBe('host');
  });

  it('requires the bearer token when one is set', async () => {
    const server = await startApiServer({ port: 0, deps, identity: { user: 'alice' }, requireToken: 'let-me-in' });
    try {
      const anonymous = await new ApiClient({ apiUrl: server.url }).templates().catch((e: unknown) => e);
      expect(anonymous).toBeInstanceOf(ApiRequestError);
      expect((anonymous as ApiRequestError).statusCode).toBe(401);
      expect((anonymous as ApiRequestError).details[0]?.path).toBe('authorization');
      expect((anonymous as ApiRequestError).details[0]?.message).toContain('--token or RECC_API_TOKEN');
      const wrong = await new ApiClient({ apiUrl: server.url, token: 'guess' }).templates().catch((e: unknown) => e);
      expect((wrong as ApiRequestError).statusCode).toBe(401);
      expect((await new ApiClient({ apiUrl: server.url, token: 'let-me-in' }).templates()).length).toBeGreaterThan(0);
    } finally {
      await server.close();
    }
  });
});

describe('Local API server against browser tricks (open mode: no token)', () => {
  let server: ApiServer;
  let store: InMemoryClusterStore;

  beforeAll(async () => {
    store = new InMemoryClusterStore();
    server = await startApiServer({ port: 0, deps: { store, queue: new InMemoryWorkQueue(), clock: systemClock, ids: randomIds, logger: silentLogger }, identity: { user: 'alice' } });
  });
  afterAll(async () => {
    await server.close();
  });

  /** A raw request, with exactly the headers a browser would send (fetch in Node would add none of them, nor let us set Host). */
  const raw = (method: string, path: string, headers: Record<string, string>, body = ''): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: server.port, method, path, headers: { 'content-length': String(Buffer.byteLength(body)), ...headers } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const createBody = JSON.stringify({ template: 'small', nWorkers: 1, name: 'csrf' });

  it('refuses a cross-site form POST (no preflight) and creates nothing', async () => {
    const res = await raw('POST', '/clusters', { 'content-type': 'text/plain', origin: 'https://attacker.example', 'sec-fetch-site': 'cross-site' }, createBody);
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.details[0].path).toBe('sec-fetch-site');
    const noFetchMetadata = await raw('POST', '/clusters', { 'content-type': 'text/plain', origin: 'https://attacker.example' }, createBody);
    expect(noFetchMetadata.status).toBe(403);
    expect(JSON.parse(noFetchMetadata.body).error.details[0].path).toBe('origin');
    expect(await store.listAll()).toHaveLength(0);
  });

  it('refuses DNS rebinding: a non-loopback Host on the loopback listener, even when Origin matches it', async () => {
    const res = await raw('GET', '/clusters', { host: `attacker.example:${server.port}`, origin: `http://attacker.example:${server.port}`, 'sec-fetch-site': 'same-origin' });
    expect(res.status).toBe(403);
    expect(JSON.parse(res.body).error.details[0].path).toBe('host');
  });

  it('serves the SDK (no browser headers) and the same-origin console', async () => {
    expect((await new ApiClient({ apiUrl: server.url }).templates()).length).toBeGreaterThan(0);
    const sameOrigin = await raw('POST', '/clusters', { 'content-type': 'application/json', origin: server.url, 'sec-fetch-site': 'same-origin' }, createBody);
    expect(sameOrigin.status).toBe(202);
    const viaLocalhost = await raw('GET', '/templates', { host: `localhost:${server.port}` });
    expect(viaLocalhost.status).toBe(200);
  });
});

describe('SigV4 signing', () => {
  const credentials = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token-example' };
  let verifier: Server;
  let url: string;
  const seen: { authorization?: string; valid: boolean; token?: string }[] = [];

  beforeAll(async () => {
    // A server that recomputes the signature from what it received, as API Gateway does.
    verifier = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        void (async () => {
          const body = Buffer.concat(chunks).toString('utf8');
          const auth = String(req.headers.authorization ?? '');
          const signedHeaders = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
          const headers: Record<string, string> = {};
          for (const h of signedHeaders) headers[h] = String(req.headers[h] ?? '');
          const u = new URL(req.url ?? '/', `http://${req.headers.host}`);
          const amzDate = String(req.headers['x-amz-date']);
          const date = new Date(`${amzDate.slice(0, 4)}-${amzDate.slice(4, 6)}-${amzDate.slice(6, 8)}T${amzDate.slice(9, 11)}:${amzDate.slice(11, 13)}:${amzDate.slice(13, 15)}Z`);
          const region = /Credential=[^/]+\/\d{8}\/([^/]+)\/execute-api\/aws4_request/.exec(auth)?.[1] ?? 'none';
          const signer = new SignatureV4({ service: 'execute-api', region, credentials, sha256: Sha256 });
          const query: Record<string, string> = {};
          for (const [k, v] of u.searchParams) query[k] = v;
          const expected = await signer.sign(
            { method: req.method ?? 'GET', protocol: 'http:', hostname: u.hostname, port: Number(u.port), path: u.pathname, query, headers, ...(body ? { body } : {}) },
            { signingDate: date },
          );
          const valid = expected.headers.authorization === auth && auth.startsWith('AWS4-HMAC-SHA256 ');
          seen.push({ authorization: auth, valid, token: String(req.headers['x-amz-security-token'] ?? '') });
          res.writeHead(valid ? 200 : 403, { 'content-type': 'application/json' });
          res.end(valid ? JSON.stringify({ templates: [{ name: 'default', description: '', spec: {} }] }) : JSON.stringify({ message: 'Forbidden' }));
        })();
      });
    });
    await new Promise<void>((r) => verifier.listen(0, '127.0.0.1', () => r()));
    url = `http://127.0.0.1:${(verifier.address() as AddressInfo).port}`;
  });

  afterAll(async () => {
    await new Promise<void>((r) => verifier.close(() => r()));
  });

  it('signs requests with SigV4 (execute-api) so the server can verify them', async () => {
    const client = new ApiClient({ apiUrl: url, signing: 'sigv4', region: 'eu-west-1', credentials });
    expect(client.signs).toBe(true);
    const templates = await client.templates();
    expect(templates.map((t) => t.name)).toEqual(['default']);
    const last = seen.at(-1)!;
    expect(last.valid).toBe(true);
    expect(last.authorization).toContain('/eu-west-1/execute-api/aws4_request');
    expect(last.token).toBe('session-token-example');
  });

  it('signs a body and a query string too', async () => {
    const client = new ApiClient({ apiUrl: url, signing: 'sigv4', region: 'us-east-1', credentials });
    await client.request('POST', '/estimates?x=1&y=two', { nWorkers: 3 }).catch(() => undefined);
    expect(seen.at(-1)?.valid).toBe(true);
  });

  it('takes credentials from the default AWS chain when none are given', async () => {
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY, token: process.env.AWS_SESSION_TOKEN, profile: process.env.AWS_PROFILE };
    process.env.AWS_ACCESS_KEY_ID = credentials.accessKeyId;
    process.env.AWS_SECRET_ACCESS_KEY = credentials.secretAccessKey;
    process.env.AWS_SESSION_TOKEN = credentials.sessionToken;
    delete process.env.AWS_PROFILE;
    try {
      const client = new ApiClient({ apiUrl: url, signing: 'sigv4', region: 'us-east-2' });
      expect((await client.templates()).length).toBe(1);
      expect(seen.at(-1)?.valid).toBe(true);
      expect(seen.at(-1)?.authorization).toContain('Credential=AKIDEXAMPLE/');
    } finally {
      for (const [k, v] of [['AWS_ACCESS_KEY_ID', saved.id], ['AWS_SECRET_ACCESS_KEY', saved.secret], ['AWS_SESSION_TOKEN', saved.token], ['AWS_PROFILE', saved.profile]] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });

  it('turns an API Gateway denial into a 403 ApiRequestError with its message', async () => {
    const client = new ApiClient({ apiUrl: url, signing: 'sigv4', region: 'us-east-1', credentials: { ...credentials, secretAccessKey: 'wrong' } });
    const err = await client.templates().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiRequestError);
    expect((err as ApiRequestError).statusCode).toBe(403);
    expect((err as ApiRequestError).message).toBe('Forbidden');
  });

  it('signs API Gateway URLs automatically and nothing else', () => {
    expect(new ApiClient({ apiUrl: 'https://abc123.execute-api.ap-southeast-2.amazonaws.com' }).signs).toBe(true);
    expect(new ApiClient({ apiUrl: 'http://127.0.0.1:4600' }).signs).toBe(false);
  });
});
