import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { ConfigError, ReccError } from '../shared/core/errors.ts';
import { silentLogger } from '../shared/core/logger.ts';
import type { ApiDeps, ApiEvent } from '../functions/commons/api.ts';
import { errorResponse } from '../functions/commons/api.ts';
import { identityConfig } from '../functions/commons/config.ts';
import type { IdentityConfig } from '../functions/commons/identity.ts';
import { CLUSTER_PROOF_HEADER } from '../shared/api/cluster-proof.ts';
import { BearerTokenError, PayloadTooLargeError, RouteNotFoundError } from '../functions/commons/errors.ts';
import { browserRequestProblem, isLoopbackHost } from './browser-guard.ts';
import { CONSOLE_HEADER, TokenDirectory, type Caller } from './console/auth.ts';
import { serveConsole, exchangeConsoleToken, isConsolePath } from './console/routes.ts';
import { ROUTES, matchRoute, methodsForPath, type HttpMethod, type RouteDefinition, type RouteHandler } from '../functions/routes.ts';

/**
 * The cluster API on this machine: a node:http server that turns each request
 * into an API Gateway HTTP API (v2) event, routes it through
 * `functions/routes.ts` to the same `makeHandler(deps)` functions Lambda runs,
 * and writes their response. The caller's identity is the configured local
 * identity (the OS user), presented to the handlers exactly as API Gateway
 * presents a verified IAM principal, and mapped by the same `callerFromIam`:
 * a session of the local role `recc-local-user` (or `recc-local-admin`), which
 * the local identity config trusts for its session name, as a deployment
 * trusts a role whose trust policy requires sts:SourceIdentity. Only this
 * server sets that name; there is no IAM here.
 *
 * Binds loopback only, unless `requireToken` is set; then every request needs
 * `Authorization: Bearer <token>`.
 */
export interface LocalIdentity {
  user: string;
  /** Act as an admin (sees every cluster). */
  admin?: boolean;
}

/** Extra routes served by the local server only (e.g. cluster logs from the state dir). */
export interface LocalRoute {
  method: HttpMethod;
  path: string;
  handler: RouteHandler;
}

export interface StartApiServerOptions {
  /** 0 picks a free port. */
  port: number;
  /** @default '127.0.0.1' */
  host?: string;
  /** `identity` defaults to the local identity (LOCAL_IDENTITY); a given one is extended with it. */
  deps: Omit<ApiDeps, 'identity'> & { identity?: IdentityConfig };
  /** The caller of every request, or a function choosing one per request. */
  identity: LocalIdentity | ((req: IncomingMessage) => LocalIdentity);
  /** Bearer token every request must carry; required to bind a non-loopback host (or `users`). */
  requireToken?: string;
  /** One token per user: the token names the caller (the console's multi-user mode; local/console/auth.ts). */
  users?: ReadonlyArray<{ token: string; identity: LocalIdentity }>;
  extraRoutes?: readonly LocalRoute[];
  /** @default 1 MiB */
  maxBodyBytes?: number;
}

export interface ApiServer {
  readonly url: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The role names local identities present (see LOCAL_IDENTITY). */
export const LOCAL_ADMIN_ROLE = 'recc-local-admin';
export const LOCAL_USER_ROLE = 'recc-local-user';
/**
 * The role a cluster's own process is presented as when it calls with a
 * cluster proof and no bearer token (an adaptive scheduler asking for
 * workers): the same mapping as a pod of the cluster role on AWS, so the API
 * acts for the cluster's owner on that one cluster only (cluster-caller.ts).
 */
export const LOCAL_CLUSTER_ROLE = 'recc-local-cluster';
const LOCAL_ACCOUNT = '000000000000';
const localRoleArn = (role: string): string => `arn:aws:iam::${LOCAL_ACCOUNT}:role/${role}`;

/** The identity mapping of the local stack: its two roles, session name = the local user. */
export const LOCAL_IDENTITY: IdentityConfig = identityConfig({
  allowedAccounts: [LOCAL_ACCOUNT],
  allowedRoles: [],
  adminRoleArns: [localRoleArn(LOCAL_ADMIN_ROLE)],
  sourceIdentityRoles: [localRoleArn(LOCAL_USER_ROLE), localRoleArn(LOCAL_ADMIN_ROLE)],
  clusterRoleArns: [localRoleArn(LOCAL_CLUSTER_ROLE)],
});

/** The principal a request proving a cluster is presented as (its session name means nothing; the proof names the cluster). */
export const LOCAL_CLUSTER_SESSION_ARN = `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${LOCAL_CLUSTER_ROLE}/cluster-process`;

function withLocalIdentity(config: IdentityConfig | undefined): IdentityConfig {
  if (!config) return LOCAL_IDENTITY;
  const union = (a: readonly string[], b: readonly string[]): string[] => [...new Set([...a, ...b])];
  return {
    allowedAccounts: union(config.allowedAccounts, LOCAL_IDENTITY.allowedAccounts),
    allowedRoles: config.allowedRoles,
    adminRoleArns: union(config.adminRoleArns, LOCAL_IDENTITY.adminRoleArns),
    sourceIdentityRoles: union(config.sourceIdentityRoles, LOCAL_IDENTITY.sourceIdentityRoles),
    principalUsers: config.principalUsers,
    clusterRoleArns: union(config.clusterRoleArns ?? [], LOCAL_IDENTITY.clusterRoleArns ?? []),
  };
}

export { isLoopbackHost };

/**
 * The IAM ARN a local identity is presented as: a session of the local user
 * (or admin) role named after the user, with characters IAM does not allow in
 * session names replaced by '-' (so the mapper's ASCII-only check passes).
 */
export function localUserArn(identity: LocalIdentity): string {
  const user = identity.user.replace(/[^A-Za-z0-9_+=,.@-]+/g, '-').slice(0, 64) || 'user';
  return `arn:aws:sts::${LOCAL_ACCOUNT}:assumed-role/${identity.admin ? LOCAL_ADMIN_ROLE : LOCAL_USER_ROLE}/${user}`;
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new PayloadTooLargeError(limit);
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

function lambdaContext(functionName: string, requestId: string): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:local:${LOCAL_ACCOUNT}:function:${functionName}`,
    memoryLimitInMB: '1024',
    awsRequestId: requestId,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: 'local',
    getRemainingTimeInMillis: () => 30_000,
    done: () => {},
    fail: () => {},
    succeed: () => {},
  };
}

export function toApiEvent(input: {
  method: string;
  url: URL;
  headers: IncomingMessage['headers'];
  body: Buffer;
  routeKey: string;
  pathParameters: Record<string, string>;
  userArn: string;
  requestId: string;
  sourceIp: string;
  now: number;
}): ApiEvent {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.headers)) {
    if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(',') : v;
  }
  const query: Record<string, string> = {};
  for (const [k, v] of input.url.searchParams) query[k] = k in query ? `${query[k]},${v}` : v;
  const text = input.body.toString('utf8');
  const binary = input.body.length > 0 && !Buffer.from(text, 'utf8').equals(input.body);
  return {
    version: '2.0',
    routeKey: input.routeKey,
    rawPath: input.url.pathname,
    rawQueryString: input.url.search.replace(/^\?/, ''),
    headers,
    ...(Object.keys(query).length ? { queryStringParameters: query } : {}),
    ...(Object.keys(input.pathParameters).length ? { pathParameters: input.pathParameters } : {}),
    ...(input.body.length ? { body: binary ? input.body.toString('base64') : text } : {}),
    isBase64Encoded: binary,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: 'local',
      domainName: headers.host ?? 'localhost',
      domainPrefix: 'local',
      http: {
        method: input.method,
        path: input.url.pathname,
        protocol: 'HTTP/1.1',
        sourceIp: input.sourceIp,
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: input.requestId,
      routeKey: input.routeKey,
      stage: '$default',
      time: new Date(input.now).toUTCString(),
      timeEpoch: input.now,
      authorizer: {
        iam: {
          accessKey: 'LOCAL',
          accountId: LOCAL_ACCOUNT,
          callerId: 'LOCAL',
          cognitoIdentity: null,
          principalOrgId: '',
          userArn: input.userArn,
          userId: 'LOCAL',
        },
      },
    },
  };
}

function send(res: ServerResponse, statusCode: number, headers: Record<string, string>, body: string | Buffer): void {
  if (res.headersSent) return;
  res.writeHead(statusCode, { 'content-length': String(Buffer.byteLength(body)), ...headers });
  res.end(body);
}

function sendError(res: ServerResponse, err: unknown, requestId: string): void {
  const { statusCode, body } = errorResponse(err, silentLogger, requestId);
  send(res, statusCode, { 'content-type': 'application/json', 'x-request-id': requestId }, JSON.stringify(body));
}

function writeResult(res: ServerResponse, result: unknown, requestId: string): void {
  if (result && typeof result === 'object' && 'statusCode' in result) {
    const r = result as { statusCode?: number; headers?: Record<string, unknown>; body?: string; isBase64Encoded?: boolean };
    const headers: Record<string, string> = { 'x-request-id': requestId };
    for (const [k, v] of Object.entries(r.headers ?? {})) headers[k.toLowerCase()] = String(v);
    const body = r.body === undefined ? '' : r.isBase64Encoded ? Buffer.from(r.body, 'base64') : r.body;
    send(res, r.statusCode ?? 200, headers, body);
    return;
  }
  // API Gateway v2 treats any other value as a JSON 200 response.
  send(res, 200, { 'content-type': 'application/json', 'x-request-id': requestId }, typeof result === 'string' ? result : JSON.stringify(result ?? null));
}

export async function startApiServer(options: StartApiServerOptions): Promise<ApiServer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host) && !options.requireToken && !options.users?.length) {
    throw new ConfigError(`refusing to serve the API on non-loopback host ${host} without a token`, [
      { path: 'host', message: 'bind 127.0.0.1, or set a token (recc up --token) so requests must authenticate' },
    ]);
  }
  const listensOnLoopback = isLoopbackHost(host);
  const deps: ApiDeps = { ...options.deps, identity: withLocalIdentity(options.deps.identity) };
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const tokens = new TokenDirectory<LocalIdentity | null>([...(options.requireToken ? [{ token: options.requireToken, identity: null }] : []), ...(options.users ?? [])]);

  const routes: RouteDefinition[] = [...ROUTES];
  const handlers = new Map<RouteDefinition, RouteHandler>();
  for (const route of ROUTES) {
    const mod = await route.load();
    const fn = mod.makeHandler ? mod.makeHandler(deps) : mod.handler;
    if (fn) handlers.set(route, fn);
  }
  for (const extra of options.extraRoutes ?? []) {
    const route: RouteDefinition = {
      method: extra.method,
      path: extra.path,
      functionName: `local:${extra.method} ${extra.path}`,
      handler: '(local)',
      load: async () => ({ handler: extra.handler }),
    };
    routes.unshift(route);
    handlers.set(route, extra.handler);
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const requestId = randomUUID();
    try {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const method = (req.method ?? 'GET').toUpperCase();
      const crossSite = browserRequestProblem(req, listensOnLoopback);
      if (crossSite) throw crossSite;
      const caller: Caller<LocalIdentity | null> | undefined = tokens.empty ? { identity: null, via: 'open' } : tokens.authenticate(req);
      // A cluster's own process (the adaptive scheduler) holds no user token: it proves its cluster instead, and the handler checks the proof.
      const provesCluster = !caller && !req.headers.authorization && typeof req.headers[CLUSTER_PROOF_HEADER] === 'string';
      if (!caller && !provesCluster && exchangeConsoleToken(req, res, url, tokens)) return;
      if (!caller && !provesCluster) {
        throw new BearerTokenError([{ path: 'authorization', message: 'send "Authorization: Bearer <token>" with the token recc up was started with (the recc CLI: --token or RECC_API_TOKEN); in a browser, open the console link recc up printed' }]);
      }
      // A cookie rides along with any request the browser makes: writes must also carry a header no cross-site form can set.
      if (caller?.via === 'cookie' && method !== 'GET' && method !== 'HEAD' && req.headers[CONSOLE_HEADER] !== '1') {
        throw new ReccError(`a console session may ${method} only with the ${CONSOLE_HEADER} header`, { statusCode: 403, details: [{ path: CONSOLE_HEADER, message: 'required on writes made with the console cookie' }] });
      }
      if (isConsolePath(url.pathname)) {
        if (!caller) throw new BearerTokenError([{ path: 'authorization', message: 'the console needs a user token; a cluster proof reaches only its cluster\'s own routes' }]);
        serveConsole(res, url.pathname, method);
        return;
      }
      const found = matchRoute(method, url.pathname, routes);
      if (!found) {
        const allowed = methodsForPath(url.pathname, routes);
        if (allowed.length) {
          throw new ReccError(`${method} is not allowed on ${url.pathname}`, {
            statusCode: 405,
            details: [{ path: 'method', message: `allowed: ${allowed.join(', ')}` }],
          });
        }
        throw new RouteNotFoundError(method, url.pathname);
      }
      const handler = handlers.get(found.route);
      if (!handler) throw new RouteNotFoundError(method, url.pathname);
      const body = await readBody(req, maxBodyBytes);
      const userArn = caller ? localUserArn(caller.identity ?? (typeof options.identity === 'function' ? options.identity(req) : options.identity)) : LOCAL_CLUSTER_SESSION_ARN;
      const event = toApiEvent({
        method,
        url,
        headers: req.headers,
        body,
        routeKey: `${found.route.method} ${found.route.path}`,
        pathParameters: found.pathParameters,
        userArn,
        requestId,
        sourceIp: req.socket.remoteAddress ?? '127.0.0.1',
        now: Date.now(),
      });
      const result: unknown = await handler(event, lambdaContext(found.route.functionName, requestId));
      writeResult(res, result, requestId);
    } catch (err) {
      sendError(res, err, requestId);
    }
  };

  const server: Server = createServer((req, res) => {
    void handle(req, res);
  });
  // Idle keep-alive sockets are closed by the client first (undici after 4 s), never by the server: a server that
  // closes at 5 s races a request sent on the same socket under load, which then fails with ECONNRESET (seen at
  // the end of `npm start` in CI: the cluster's DELETE). The usual rule for proxies: the server waits longer.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as AddressInfo;
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    host,
    port: address.port,
    close: () => {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      return closing;
    },
  };
}
