import { Sha256 } from '@aws-crypto/sha256-js';
import { SignatureV4 } from '@smithy/signature-v4';
import type { Context } from 'aws-lambda';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { makeSigner } from '../../../client/api-client.ts';
import { makeHandler as consoleAssets } from '../../../functions/console-assets.ts';
import { toApiEvent } from '../../../local/api-server.ts';
import { startConsoleProxy, type ConsoleProxy } from '../../../local/console/proxy.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { TEST_IDENTITY, makeApi, userArn } from '../../support/api-invoke.ts';

/**
 * `recc console` against a stand-in for API Gateway: it checks each SigV4
 * signature by signing the request again with the key the access key id
 * names (as API Gateway's IAM authorizer does), maps the key to its IAM
 * principal, and calls the real handlers (the console's assets and the
 * clusters API, in memory) as that principal. So what the browser sees
 * through the proxy is what the API lets that principal see.
 */
const KEYS: Record<string, { secret: string; arn: string }> = {
  AKIAALICE0000000000A: { secret: 'alice-secret-key-000000000000000000000000', arn: userArn('alice') },
  AKIABOB00000000000BB: { secret: 'bob-secret-key-00000000000000000000000000', arn: userArn('bob') },
};

interface Upstream {
  url: string;
  requests: number;
  close(): Promise<void>;
}

async function startFakeApiGateway(): Promise<Upstream> {
  const api = await makeApi({ store: new InMemoryClusterStore(), queue: new InMemoryWorkQueue(), clock: new ManualClock(), ids: new SequentialIds(), identity: TEST_IDENTITY });
  const assets = consoleAssets({ identity: TEST_IDENTITY });
  const state = { requests: 0 };
  const server: Server = createServer((req, res) => {
    void (async () => {
      state.requests++;
      const chunks: Buffer[] = [];
      for await (const c of req as AsyncIterable<Buffer>) chunks.push(c);
      const body = Buffer.concat(chunks).toString('utf8');
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const auth = String(req.headers.authorization ?? '');
      const m = /^AWS4-HMAC-SHA256 Credential=([A-Z0-9]+)\/(\d{8})\/([a-z0-9-]+)\/execute-api\/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=[0-9a-f]{64}$/.exec(auth);
      const key = m ? KEYS[m[1] as string] : undefined;
      let valid = false;
      if (m && key) {
        const headers: Record<string, string> = {};
        for (const h of (m[4] as string).split(';')) headers[h] = String(req.headers[h] ?? '');
        const again = await new SignatureV4({ service: 'execute-api', region: m[3] as string, credentials: { accessKeyId: m[1] as string, secretAccessKey: key.secret }, sha256: Sha256 }).sign(
          { method: req.method ?? 'GET', protocol: 'http:', hostname: url.hostname, port: Number(url.port), path: url.pathname, query: Object.fromEntries(url.searchParams), headers, ...(body ? { body } : {}) },
          { signingDate: new Date(String(req.headers['x-amz-date']).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z')) },
        );
        valid = again.headers.authorization === auth;
      }
      if (!valid || !key) {
        res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden' }));
        return;
      }
      if (url.pathname.startsWith('/console/')) {
        const asset = url.pathname.slice('/console/'.length);
        const event = toApiEvent({ method: 'GET', url, headers: {}, body: Buffer.alloc(0), routeKey: 'GET /console/{asset}', pathParameters: { asset }, userArn: key.arn, requestId: 'r', sourceIp: '127.0.0.1', now: 0 });
        const r = (await assets(event, { awsRequestId: 'r' } as Context)) as { statusCode: number; headers: Record<string, string>; body: string };
        res.writeHead(r.statusCode, r.headers).end(r.body);
        return;
      }
      const reply = await api({ method: req.method ?? 'GET', path: url.pathname + url.search, ...(body ? { body } : {}), arn: key.arn });
      res.writeHead(reply.statusCode, { 'content-type': 'application/json' }).end(reply.body === undefined ? '' : JSON.stringify(reply.body));
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('recc console: the signing proxy (local/console/proxy.ts)', () => {
  let upstream: Upstream;
  let alice: ConsoleProxy;
  let bob: ConsoleProxy;
  let forger: ConsoleProxy;

  const proxyAs = async (akid: string, secret: string): Promise<ConsoleProxy> =>
    startConsoleProxy({ apiUrl: upstream.url, sign: await makeSigner('us-east-1', { accessKeyId: akid, secretAccessKey: secret, sessionToken: 'session-token-value' }) });

  /** Follows the one-time link like a browser and returns the session cookie. */
  async function session(proxy: ConsoleProxy): Promise<string> {
    const res = await fetch(proxy.link(), { redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/console');
    const cookie = res.headers.get('set-cookie') ?? '';
    expect(cookie).toMatch(/^recc_console=[A-Za-z0-9_-]{43}; HttpOnly; SameSite=Strict; Path=\/$/);
    return cookie.split(';')[0] as string;
  }

  beforeAll(async () => {
    upstream = await startFakeApiGateway();
    alice = await proxyAs('AKIAALICE0000000000A', KEYS.AKIAALICE0000000000A!.secret);
    bob = await proxyAs('AKIABOB00000000000BB', KEYS.AKIABOB00000000000BB!.secret);
    forger = await proxyAs('AKIAALICE0000000000A', 'not-alices-secret');
  });

  afterAll(async () => {
    await Promise.all([alice?.close(), bob?.close(), forger?.close()]);
    await upstream?.close();
  });

  it('renders nothing and calls nothing without a session, and a link works once', async () => {
    const before = upstream.requests;
    for (const path of ['/console', '/console.js', '/clusters']) {
      const res = await fetch(`${alice.url}${path}`);
      expect(res.status).toBe(401);
      expect(res.headers.get('content-type')).toBe('application/json');
      expect(await res.text()).not.toMatch(/<html|<script/);
    }
    expect((await fetch(`${alice.url}/console?token=guessed`, { redirect: 'manual' })).status).toBe(401);
    const link = alice.link();
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(303);
    expect((await fetch(link, { redirect: 'manual' })).status).toBe(401);
    expect(upstream.requests).toBe(before);
  });

  it("serves the stage's page and assets under a strict CSP, signed as the user; credentials never reach the browser", async () => {
    const cookie = await session(alice);
    const want: Record<string, string> = { '/console': 'text/html; charset=utf-8', '/console.js': 'text/javascript; charset=utf-8', '/console.css': 'text/css; charset=utf-8' };
    for (const [path, type] of Object.entries(want)) {
      const res = await fetch(`${alice.url}${path}`, { headers: { cookie } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(type);
      expect(res.headers.get('content-security-policy')).toMatch(/^default-src 'none'; script-src 'self';/);
      const text = await res.text();
      for (const secret of ['alice-secret-key', 'AKIAALICE', 'session-token-value']) expect(text + JSON.stringify([...res.headers])).not.toContain(secret);
      if (path === '/console') expect(text).toMatch(/<title>recc console<\/title>/);
    }
  });

  it("creates and lists as the signed-in user; another user's session sees none of it, exactly as the API decides", async () => {
    const aliceCookie = await session(alice);
    const refused = await fetch(`${alice.url}/clusters`, { method: 'POST', headers: { cookie: aliceCookie, 'content-type': 'application/json' }, body: JSON.stringify({ template: 'small' }) });
    expect(refused.status).toBe(403);
    const created = await fetch(`${alice.url}/clusters`, { method: 'POST', headers: { cookie: aliceCookie, 'content-type': 'application/json', 'x-recc-console': '1' }, body: JSON.stringify({ template: 'small', name: 'alices' }) });
    expect(created.status).toBe(202);
    const { id, owner } = ((await created.json()) as { cluster: { id: string; owner: string } }).cluster;
    expect(owner).toBe('alice');
    // The API's own validation message comes back as it is.
    const invalid = await fetch(`${alice.url}/clusters`, { method: 'POST', headers: { cookie: aliceCookie, 'content-type': 'application/json', 'x-recc-console': '1' }, body: JSON.stringify({ template: 'small', nWorkers: -1 }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { error: { details: Array<{ path: string }> } }).error.details.map((d) => d.path)).toContain('nWorkers');
    const mine = (await (await fetch(`${alice.url}/clusters`, { headers: { cookie: aliceCookie } })).json()) as { clusters: Array<{ id: string }> };
    expect(mine.clusters.map((c) => c.id)).toContain(id);

    const bobCookie = await session(bob);
    const his = (await (await fetch(`${bob.url}/clusters`, { headers: { cookie: bobCookie } })).json()) as { clusters: Array<{ id: string }> };
    expect(his.clusters.map((c) => c.id)).not.toContain(id);
    expect((await fetch(`${bob.url}/clusters/${id}`, { headers: { cookie: bobCookie } })).status).toBe(404);
    // Alice's cookie is worth nothing on Bob's proxy.
    expect((await fetch(`${bob.url}/clusters`, { headers: { cookie: aliceCookie } })).status).toBe(401);
  });

  it('passes on the authorizer refusing a bad signature, and refuses cross-site requests, foreign hosts and unknown paths itself', async () => {
    const cookie = await session(forger);
    const res = await fetch(`${forger.url}/console`, { headers: { cookie } });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toMatch(/<html/);
    const aliceCookie = await session(alice);
    expect((await fetch(`${alice.url}/clusters`, { headers: { cookie: aliceCookie, 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect((await fetch(`${alice.url}/clusters`, { headers: { cookie: aliceCookie, origin: 'https://attacker.example' } })).status).toBe(403);
    const before = upstream.requests;
    expect((await fetch(`${alice.url}/internal/anything`, { headers: { cookie: aliceCookie } })).status).toBe(404);
    expect(upstream.requests).toBe(before);
  });
});
