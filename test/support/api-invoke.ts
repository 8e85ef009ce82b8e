import type { Context } from 'aws-lambda';
import type { ApiDeps } from '../../functions/commons/api.ts';
import { identityConfig } from '../../functions/commons/config.ts';
import { ROUTES, matchRoute, type RouteDefinition, type RouteHandler } from '../../functions/routes.ts';
import { toApiEvent } from '../../local/api-server.ts';

/**
 * Invoke the API functions in-process the way API Gateway does: build an
 * HTTP API v2 event (IAM authorizer included) for a method and path, route
 * it through `functions/routes.ts` and call the `makeHandler(deps)` handler.
 * Tests of handlers use this instead of an HTTP server.
 */
export interface ApiCall {
  method: string;
  /** Path with query string, e.g. `/clusters?all=true`. */
  path: string;
  /** Raw body; objects are JSON-encoded. */
  body?: unknown;
  /** The caller's IAM ARN. */
  arn?: string;
  /** Extra request headers (lower-case names), e.g. a cluster proof. */
  headers?: Record<string, string>;
}

export interface ApiReply {
  statusCode: number;
  body: any;
  headers: Record<string, unknown>;
}

/** An IAM Identity Center session of user `name` (Identity Center sets the session name). */
export const userArn = (name: string): string => `arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_ReccResearcher_0123456789abcdef/${name}`;
export const roleArn = (role: string, session: string): string => `arn:aws:sts::123456789012:assumed-role/${role}/${session}`;

/**
 * The identity mapping handler tests run with: Identity Center sessions of
 * account 123456789012 (`userArn`), the roles `researcher`, `recc-user` and
 * `recc-admin` declared as requiring sts:SourceIdentity (so their session name
 * is the user), and `recc-admin` as the admin role.
 */
export const TEST_IDENTITY = identityConfig({
  allowedAccounts: ['123456789012'],
  adminRoleArns: ['arn:aws:iam::123456789012:role/recc-admin'],
  sourceIdentityRoles: ['researcher', 'recc-user', 'recc-admin'].map((r) => `arn:aws:iam::123456789012:role/${r}`),
});

/** `deps.identity` defaults to TEST_IDENTITY. */
export async function makeApi(input: Omit<ApiDeps, 'identity'> & { identity?: ApiDeps['identity'] }): Promise<(call: ApiCall) => Promise<ApiReply>> {
  const deps: ApiDeps = { ...input, identity: input.identity ?? TEST_IDENTITY };
  const handlers = new Map<RouteDefinition, RouteHandler>();
  for (const route of ROUTES) {
    const mod = await route.load();
    const fn = mod.makeHandler ? mod.makeHandler(deps) : mod.handler;
    if (fn) handlers.set(route, fn);
  }
  let n = 0;
  return async (call) => {
    const url = new URL(call.path, 'http://api.local');
    const found = matchRoute(call.method, url.pathname);
    if (!found) throw new Error(`no route for ${call.method} ${url.pathname}`);
    const handler = handlers.get(found.route)!;
    n += 1;
    const requestId = `req-${n}`;
    const body =
      call.body === undefined ? Buffer.alloc(0) : Buffer.from(typeof call.body === 'string' ? call.body : JSON.stringify(call.body), 'utf8');
    const event = toApiEvent({
      method: call.method,
      url,
      headers: { 'content-type': 'application/json', ...(call.headers ?? {}) },
      body,
      routeKey: `${found.route.method} ${found.route.path}`,
      pathParameters: found.pathParameters,
      userArn: call.arn ?? userArn('alice'),
      requestId,
      sourceIp: '127.0.0.1',
      now: Date.UTC(2026, 0, 1),
    });
    const context = { awsRequestId: requestId, functionName: found.route.functionName, getRemainingTimeInMillis: () => 30_000 } as unknown as Context;
    const result = (await handler(event, context)) as { statusCode: number; body?: string; headers?: Record<string, unknown> };
    return { statusCode: result.statusCode, body: result.body ? JSON.parse(result.body) : undefined, headers: result.headers ?? {} };
  };
}
