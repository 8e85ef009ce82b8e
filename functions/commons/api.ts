import middy, { type MiddlewareObj, type MiddyfiedHandler } from '@middy/core';
import type { PriceSource } from '../../shared/catalog/prices.ts';
import type { APIGatewayProxyEventV2WithIAMAuthorizer, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import type { ZodType } from 'zod';
import { ClusterService, type Caller, type ClusterServiceDeps } from '../../control/clusters.ts';
import { ReccError, ValidationError, type ErrorDetail } from '../../shared/core/errors.ts';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { CLUSTER_PROOF_HEADER } from '../../shared/api/cluster-proof.ts';
import { callerFromClusterProof, checkClusterScope, clusterRoleSession } from './cluster-caller.ts';
import { callerFromIam, type IdentityConfig } from './identity.ts';

/**
 * The shared middleware of every API function (middy 7):
 *
 *   requestLog → httpErrors → identity → validate → handler → JSON response
 *
 * - `requestLog` gives each request a child logger with the request id, the
 *   user and the cluster id (never a token) and writes one line per request.
 * - `httpErrors` turns any error into exactly
 *   `{"error": {"type", "message", "details": [{"path", "message"}]}}`:
 *   below 500 as it is, at 500 or above a generic message (the detail is logged).
 * - `identity` derives the caller from the IAM principal (a cluster's own pod:
 *   from its cluster proof, limited to that cluster; cluster-caller.ts).
 * - `validate` parses the JSON body, query and path parameters with zod and
 *   lists every offending field.
 *
 * Handlers stay thin: `apiHandler(deps, spec, run)` where `run` gets the
 * validated input and a `ClusterService` bound to the request's logger.
 */
export type ApiEvent = APIGatewayProxyEventV2WithIAMAuthorizer;
export type ApiResult = APIGatewayProxyStructuredResultV2;

export interface ApiDeps extends ClusterServiceDeps {
  /** Which IAM principals are which users, and which are admins (functions/commons/identity.ts). */
  identity: IdentityConfig;
  logger?: Logger;
  /** The Price List cache (adapters/pricing/price-list.ts `CachedPrices`); plans use the static table without it. */
  priceSource?: PriceSource;
}

export interface HttpResult {
  statusCode: number;
  body: unknown;
}

export interface RouteContext<B, Q, P> {
  body: B;
  query: Q;
  path: P;
  caller: Caller;
  service: ClusterService;
  log: Logger;
  deps: ApiDeps;
  event: ApiEvent;
}

export interface RouteSpec<B, Q, P> {
  /** Function name for logs, e.g. `createCluster`. */
  name: string;
  body?: ZodType<B>;
  query?: ZodType<Q>;
  path?: ZodType<P>;
}

interface Internal extends Record<string, unknown> {
  log: Logger;
  startedAt: number;
  caller?: Caller;
  body?: unknown;
  query?: unknown;
  path?: unknown;
}

type ApiContext = Context & { recc: Internal };

/** Render an error as the one API error shape. 5xx detail is logged, never returned. */
export function errorResponse(err: unknown, log: Logger, requestId: string): { statusCode: number; body: { error: { type: string; message: string; details: ErrorDetail[] } } } {
  if (err instanceof ReccError && err.exposable) {
    // Some errors carry structured fields for programs (e.g. QuotaExceededError's `quota`: limit, usage, requested).
    const extra = (err as { exposedFields?: Record<string, unknown> }).exposedFields ?? {};
    return { statusCode: err.statusCode, body: { error: { ...extra, type: err.type, message: err.message, details: err.details } } };
  }
  // middy's early-timeout answer (the Lambda is about to time out) is a 504, still generic.
  const timedOut = err instanceof Error && err.name === 'TimeoutError';
  const statusCode = err instanceof ReccError ? err.statusCode : timedOut ? 504 : 500;
  log.error('request failed', { error: err, statusCode });
  return {
    statusCode,
    body: {
      error: {
        type: err instanceof ReccError ? err.type : timedOut ? 'TimeoutError' : 'InternalError',
        message: `the service failed to handle this request; retry later or report request id ${requestId}`,
        details: [],
      },
    },
  };
}

export function jsonResult(statusCode: number, body: unknown, requestId?: string): ApiResult {
  return {
    statusCode,
    headers: { 'content-type': 'application/json', ...(requestId ? { 'x-request-id': requestId } : {}) },
    body: JSON.stringify(body),
  };
}

/** zod issues → one detail per offending field (unknown keys each named). */
export function zodDetails(issues: readonly { path: readonly PropertyKey[]; message: string; code?: string; keys?: readonly string[] }[], root: string): ErrorDetail[] {
  const details: ErrorDetail[] = [];
  for (const issue of issues) {
    const base = issue.path.map(String);
    if (issue.code === 'unrecognized_keys' && issue.keys) {
      for (const key of issue.keys) {
        const path = [...base, key].join('.');
        details.push(key === '' ? { path: base.length ? base.join('.') : root, message: 'has a field with an empty name' } : { path, message: 'is not a known field' });
      }
      continue;
    }
    details.push({ path: base.length ? base.join('.') : root, message: issue.message });
  }
  return details;
}

function requestIdOf(event: ApiEvent, context: Context): string {
  return event.requestContext?.requestId || context.awsRequestId || 'unknown';
}

function requestLog(baseLogger: Logger): MiddlewareObj<ApiEvent, ApiResult, Error, ApiContext> {
  const finish = (request: { event: ApiEvent; context: ApiContext; response: ApiResult | null | undefined }) => {
    const internal = request.context.recc;
    const statusCode = request.response?.statusCode ?? 500;
    internal.log.info('request', {
      method: request.event.requestContext?.http?.method,
      path: request.event.rawPath,
      statusCode,
      durationMs: Math.round(performance.now() - internal.startedAt),
    });
  };
  return {
    before: (request) => {
      const clusterId = request.event.pathParameters?.id;
      const log = baseLogger.child({
        requestId: requestIdOf(request.event, request.context),
        ...(typeof clusterId === 'string' && clusterId.length <= 64 ? { clusterId } : {}),
      });
      request.context.recc = { log, startedAt: performance.now() };
    },
    after: finish,
    onError: finish,
  };
}

function httpErrors(baseLogger: Logger): MiddlewareObj<ApiEvent, ApiResult, Error, ApiContext> {
  return {
    onError: (request) => {
      const requestId = requestIdOf(request.event, request.context);
      const log = request.context.recc?.log ?? baseLogger;
      const { statusCode, body } = errorResponse(request.error, log, requestId);
      request.response = jsonResult(statusCode, body, requestId);
    },
  };
}

function identity<B, Q, P>(deps: ApiDeps, spec: RouteSpec<B, Q, P>): MiddlewareObj<ApiEvent, ApiResult, Error, ApiContext> {
  const config = deps.identity;
  return {
    before: async (request) => {
      const iam = request.event.requestContext?.authorizer?.iam;
      // Log the principal before mapping it, so a refused request is attributed too (the ARN is API Gateway's, not the caller's text).
      const principalArn = typeof iam?.userArn === 'string' && iam.userArn.length <= 2048 ? iam.userArn : undefined;
      if (principalArn) request.context.recc.log = request.context.recc.log.child({ principalArn });
      // A session of the cluster role is a cluster's own pod: the owner of the cluster it proves, on that cluster only.
      const clusterSession = clusterRoleSession(iam, config);
      const caller = clusterSession
        ? await callerFromClusterProof({
            principalArn: clusterSession,
            proof: request.event.headers?.[CLUSTER_PROOF_HEADER],
            method: request.event.requestContext?.http?.method ?? '',
            store: deps.store,
            nowMs: deps.clock.now(),
          })
        : callerFromIam(iam, config);
      checkClusterScope(caller, spec.name, request.event.pathParameters?.id);
      request.context.recc.caller = caller;
      request.context.recc.log = request.context.recc.log.child({ user: caller.user, ...(caller.admin ? { admin: true } : {}), ...(caller.cluster ? { actingForCluster: caller.cluster } : {}) });
    },
  };
}

function parseJsonBody(event: ApiEvent): unknown {
  if (event.body === undefined || event.body === null || event.body === '') return undefined;
  const text = event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new ValidationError('the request body is not valid JSON', [{ path: 'body', message: 'must be a JSON object' }], { cause: err });
  }
}

function validate<B, Q, P>(spec: RouteSpec<B, Q, P>): MiddlewareObj<ApiEvent, ApiResult, Error, ApiContext> {
  return {
    before: (request) => {
      const details: ErrorDetail[] = [];
      const internal = request.context.recc;
      const check = (schema: ZodType | undefined, value: unknown, root: string): unknown => {
        if (!schema) return value;
        const result = schema.safeParse(value);
        if (result.success) return result.data;
        details.push(...zodDetails(result.error.issues, root));
        return undefined;
      };
      const body = spec.body ? parseJsonBody(request.event) : undefined;
      internal.path = check(spec.path, request.event.pathParameters ?? {}, 'path');
      internal.query = check(spec.query, request.event.queryStringParameters ?? {}, 'query');
      internal.body = check(spec.body, body, 'body');
      if (details.length) throw new ValidationError('the request is invalid', details);
    },
  };
}

/**
 * Build a thin API function: validation, identity, errors and logging come
 * from the shared middleware; `run` does one use-case call.
 */
export type ApiHandler = (event: ApiEvent, context: Context) => Promise<ApiResult>;

export function apiHandler<B = undefined, Q = undefined, P = undefined>(
  deps: ApiDeps,
  spec: RouteSpec<B, Q, P>,
  run: (ctx: RouteContext<B, Q, P>) => Promise<HttpResult>,
): ApiHandler {
  const baseLogger = (deps.logger ?? silentLogger).child({ function: spec.name });
  const handler: MiddyfiedHandler<ApiEvent, ApiResult, Error, ApiContext> = middy<ApiEvent, ApiResult, Error, ApiContext>()
    .use(requestLog(baseLogger))
    .use(httpErrors(baseLogger))
    .use(identity(deps, spec))
    .use(validate(spec))
    .handler(async (event, context) => {
      const internal = context.recc;
      const caller = internal.caller;
      if (!caller) throw new Error('identity middleware did not run');
      const prices = deps.priceSource ? await deps.priceSource.current() : deps.prices;
      const service = new ClusterService({ ...deps, ...(prices ? { prices } : {}), logger: internal.log });
      const result = await run({
        body: internal.body as B,
        query: internal.query as Q,
        path: internal.path as P,
        caller,
        service,
        log: internal.log,
        deps,
        event,
      });
      return jsonResult(result.statusCode, result.body, requestIdOf(event, context));
    });
  // The `recc` context field is filled in by `requestLog` before anything reads it.
  return handler as unknown as ApiHandler;
}

/**
 * A route that answers with its own headers and body (not JSON), behind the
 * same request log, error shape and IAM identity mapping as every API route,
 * but with no store and no ClusterService: the console's static assets, whose
 * role may touch nothing but its logs. A cluster's pods get no proof mapping
 * here (no store to check it against): their role maps to nobody, 403.
 */
export function rawHandler(
  deps: { identity: IdentityConfig; logger?: Logger },
  name: string,
  run: (ctx: { caller: Caller; log: Logger; event: ApiEvent; requestId: string }) => Promise<ApiResult>,
): ApiHandler {
  const baseLogger = (deps.logger ?? silentLogger).child({ function: name });
  const handler = middy<ApiEvent, ApiResult, Error, ApiContext>()
    .use(requestLog(baseLogger))
    .use(httpErrors(baseLogger))
    .handler(async (event, context) => {
      const caller = callerFromIam(event.requestContext?.authorizer?.iam, deps.identity);
      return run({ caller, log: context.recc.log, event, requestId: requestIdOf(event, context) });
    });
  return handler as unknown as ApiHandler;
}

export { lazyHandler } from './lazy.ts';
