import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Signer } from '../../client/api-client.ts';
import { matchRoute } from '../../functions/routes.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { browserRequestProblem } from '../browser-guard.ts';
import { CONSOLE_COOKIE, CONSOLE_HEADER, cookieValue } from './auth.ts';
import { CONSOLE_CSP } from './page.ts';

/**
 * `recc console`: the control-plane console of a deployed stage, opened in
 * the user's browser through a loopback proxy that signs every request with
 * the user's own AWS credentials (SigV4, as the CLI signs its calls).
 *
 * Why a signing proxy: the API authorises with AWS_IAM, and a browser cannot
 * sign a request. The proxy keeps access control exactly the API's: the page
 * (served by the stage, `GET /console/{asset}`) and every call it makes go
 * through API Gateway's IAM authorizer and the same handlers and identity
 * mapping as a CLI call, as the same IAM principal; credentials never reach
 * the browser, and nothing new is exposed on AWS (docs/console.md).
 *
 * The proxy answers only a browser that holds its session cookie, which it
 * sets once for a one-time link token (valid LINK_TTL_MS; the redirect takes
 * it out of the address bar, and it is worthless once used). It forwards only
 * the API's own routes and the three console assets; writes need the
 * `x-recc-console` header (a cross-site form cannot set it); cross-site
 * requests and non-loopback Host names (DNS rebinding) get 403.
 */

/** A link is worth one session, within this time. */
export const LINK_TTL_MS = 60_000;
/** Request bodies beyond this are refused (the API's own limit is far lower). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Browser path → the stage's asset route. */
const ASSET_PATHS: Record<string, string> = {
  '/console': '/console/index.html',
  '/console.js': '/console/console.js',
  '/console.css': '/console/console.css',
};

const SECURITY_HEADERS = {
  'content-security-policy': CONSOLE_CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
  'x-frame-options': 'DENY',
};

/** Upstream headers the browser gets back (never a cookie or an AWS header). */
const PASS_BACK = ['content-type', 'x-request-id', 'x-amzn-requestid', 'retry-after'];

export interface ConsoleProxyOptions {
  /** The stage's API (its execute-api URL or custom domain). */
  apiUrl: string;
  /** Signs each upstream request with the user's credentials (client/api-client.ts makeSigner). */
  sign: Signer;
  /** Loopback port; 0 picks a free one. */
  port?: number;
  fetch?: typeof fetch;
  logger?: Logger;
  now?: () => number;
}

export interface ConsoleProxy {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  /** A new one-time link that opens the console (`…/console?token=…`): print or open it, never log it. */
  link(): string;
  close(): Promise<void>;
}

const token = (): string => randomBytes(32).toString('base64url');

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function deny(res: ServerResponse, status: number, type: string, message: string, path: string, detail: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json' }).end(JSON.stringify({ error: { type, message, details: [{ path, message: detail }] } }));
}

async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > MAX_BODY_BYTES) return null;
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

export async function startConsoleProxy(options: ConsoleProxyOptions): Promise<ConsoleProxy> {
  const api = new URL(options.apiUrl);
  const basePath = api.pathname.replace(/\/+$/, '');
  const doFetch = options.fetch ?? fetch;
  const log = options.logger ?? silentLogger;
  const now = options.now ?? Date.now;
  /** Unused link tokens → their expiry. */
  const links = new Map<string, number>();
  const sessions = new Set<string>();

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const method = (req.method ?? 'GET').toUpperCase();
    const problem = browserRequestProblem(req, true);
    if (problem) return deny(res, 403, problem.type, problem.message, problem.details[0]?.path ?? 'request', problem.details[0]?.message ?? 'refused');

    const offered = url.pathname === '/console' ? url.searchParams.get('token') : null;
    if (offered !== null) {
      let found: string | undefined;
      for (const [t, expires] of links) {
        if (expires <= now()) links.delete(t);
        else if (sameSecret(t, offered)) found = t;
      }
      if (method !== 'GET' || found === undefined) return deny(res, 401, 'UnauthenticatedError', 'this console link is unknown, used or expired', 'token', 'run `recc console` again for a new link');
      links.delete(found);
      const session = token();
      sessions.add(session);
      res.writeHead(303, { ...SECURITY_HEADERS, location: '/console', 'set-cookie': `${CONSOLE_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/` }).end();
      return;
    }

    const session = cookieValue(req.headers.cookie, CONSOLE_COOKIE);
    if (session === null || !sessions.has(session)) return deny(res, 401, 'UnauthenticatedError', 'open the console from the link `recc console` printed', 'cookie', 'no console session');
    if (method !== 'GET' && method !== 'HEAD' && req.headers[CONSOLE_HEADER] !== '1') {
      return deny(res, 403, 'ForbiddenError', `a console session may ${method} only with the ${CONSOLE_HEADER} header`, CONSOLE_HEADER, 'required on writes');
    }
    const asset = Object.hasOwn(ASSET_PATHS, url.pathname) ? ASSET_PATHS[url.pathname] : undefined;
    if (asset === undefined && !matchRoute(method, url.pathname)) return deny(res, 404, 'NotFoundError', `no API route ${method} ${url.pathname.slice(0, 200)}`, 'path', 'not a route of the recc API');
    const body = await readBody(req);
    if (body === null) return deny(res, 413, 'ValidationError', 'the request body is too large', 'body', `at most ${MAX_BODY_BYTES} bytes`);

    const upstream = new URL(api.origin);
    upstream.pathname = basePath + (asset ?? url.pathname);
    if (asset === undefined) upstream.search = url.search;
    const text = body.length > 0 ? body.toString('utf8') : undefined;
    const headers: Record<string, string> = { accept: asset ? '*/*' : 'application/json', ...(text !== undefined ? { 'content-type': req.headers['content-type'] ?? 'application/json' } : {}) };
    const signed = await options.sign({ method, url: upstream, headers, body: text });
    const answer = await doFetch(upstream, { method, headers: signed, ...(text !== undefined ? { body: text } : {}), redirect: 'manual' });
    const out: Record<string, string> = { ...SECURITY_HEADERS };
    for (const h of PASS_BACK) {
      const v = answer.headers.get(h);
      if (v !== null) out[h] = v;
    }
    const bytes = Buffer.from(await answer.arrayBuffer());
    // One line per request: method, path and status only (no query, cookie or header values).
    log.info('console request', { method, path: url.pathname.slice(0, 200), status: answer.status });
    res.writeHead(answer.status, out).end(method === 'HEAD' ? undefined : bytes);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      log.error('console proxy failed', { error: err });
      if (!res.headersSent) deny(res, 502, 'UpstreamError', 'the recc API could not be reached; check the stage URL and your AWS credentials', 'api', 'unreachable');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const base = `http://127.0.0.1:${port}`;
  return {
    url: base,
    link() {
      const t = token();
      links.set(t, now() + LINK_TTL_MS);
      return `${base}/console?token=${t}`;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
