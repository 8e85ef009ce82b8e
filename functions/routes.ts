import type { Context } from 'aws-lambda';

/**
 * The single route table of the HTTP API. serverless.yml declares the same
 * routes (a test checks they match), and `local/api-server.ts` routes local
 * requests through it to the very same `makeHandler(deps)` functions.
 *
 * `load` imports the handler module lazily; a module exports
 * `makeHandler(deps)` (preferred) and/or a ready `handler`.
 */
export type HttpMethod = 'GET' | 'POST' | 'PATCH' | 'DELETE';

export type RouteHandler = (event: any, context: Context) => Promise<any>;

export interface HandlerModule {
  makeHandler?: (deps: any) => RouteHandler;
  handler?: RouteHandler;
}

export interface RouteDefinition {
  method: HttpMethod;
  /** API Gateway path with `{param}` placeholders. */
  path: string;
  /** Function name in serverless.yml. */
  functionName: string;
  /** serverless.yml `handler` value (module path without extension + export name). */
  handler: string;
  load: () => Promise<HandlerModule>;
}

export const ROUTES: readonly RouteDefinition[] = [
  { method: 'POST', path: '/clusters', functionName: 'createCluster', handler: 'functions/create-cluster.handler', load: () => import('./create-cluster.ts') },
  { method: 'GET', path: '/clusters', functionName: 'listClusters', handler: 'functions/list-clusters.handler', load: () => import('./list-clusters.ts') },
  { method: 'GET', path: '/clusters/{id}', functionName: 'getCluster', handler: 'functions/get-cluster.handler', load: () => import('./get-cluster.ts') },
  { method: 'DELETE', path: '/clusters/{id}', functionName: 'deleteCluster', handler: 'functions/delete-cluster.handler', load: () => import('./delete-cluster.ts') },
  { method: 'PATCH', path: '/clusters/{id}', functionName: 'scaleCluster', handler: 'functions/scale-cluster.handler', load: () => import('./scale-cluster.ts') },
  // Issue 21: the cluster's logs from CloudWatch Logs, before and after deletion (the local stack serves its own files on this path).
  { method: 'GET', path: '/clusters/{id}/logs', functionName: 'clusterLogs', handler: 'functions/cluster-logs.handler', load: () => import('./cluster-logs.ts') as Promise<HandlerModule> },
  // Issue 21: kubectl --edit on one's own running cluster (the provisioner grants it on EKS).
  { method: 'POST', path: '/clusters/{id}/access', functionName: 'clusterAccess', handler: 'functions/cluster-access.handler', load: () => import('./cluster-access.ts') },
  { method: 'POST', path: '/clusters/{id}/heartbeat', functionName: 'heartbeat', handler: 'functions/heartbeat.handler', load: () => import('./heartbeat.ts') },
  { method: 'POST', path: '/estimates', functionName: 'estimate', handler: 'functions/estimate.handler', load: () => import('./estimate.ts') },
  { method: 'GET', path: '/templates', functionName: 'templates', handler: 'functions/templates.handler', load: () => import('./templates.ts') },
  { method: 'GET', path: '/quota', functionName: 'quota', handler: 'functions/quota.handler', load: () => import('./quota.ts') },
  { method: 'GET', path: '/costs', functionName: 'costs', handler: 'functions/costs.handler', load: () => import('./costs.ts') as Promise<HandlerModule> },
  // Issue 16: cost per hour or day by user, namespace or job, with budgets and forecast (the console's charts).
  { method: 'GET', path: '/costs/series', functionName: 'costSeries', handler: 'functions/cost-series.handler', load: () => import('./cost-series.ts') as Promise<HandlerModule> },
  // Issue 16: the console's static assets behind the API's own IAM authorizer (opened through `recc console`; docs/console.md).
  { method: 'GET', path: '/console/{asset}', functionName: 'consoleAssets', handler: 'functions/console-assets.handler', load: () => import('./console-assets.ts') as Promise<HandlerModule> },
  // Scheduled jobs (issue 13): definitions, runs, logs, cancel.
  { method: 'POST', path: '/jobs', functionName: 'createJob', handler: 'functions/job-create.handler', load: () => import('./job-create.ts') },
  { method: 'GET', path: '/jobs', functionName: 'listJobs', handler: 'functions/job-list.handler', load: () => import('./job-list.ts') },
  { method: 'GET', path: '/jobs/{name}', functionName: 'getJob', handler: 'functions/job-get.handler', load: () => import('./job-get.ts') },
  { method: 'PATCH', path: '/jobs/{name}', functionName: 'updateJob', handler: 'functions/job-update.handler', load: () => import('./job-update.ts') },
  { method: 'DELETE', path: '/jobs/{name}', functionName: 'deleteJob', handler: 'functions/job-delete.handler', load: () => import('./job-delete.ts') },
  { method: 'POST', path: '/jobs/{name}/runs', functionName: 'runJob', handler: 'functions/job-run.handler', load: () => import('./job-run.ts') },
  { method: 'GET', path: '/jobs/{name}/runs', functionName: 'listJobRuns', handler: 'functions/job-runs.handler', load: () => import('./job-runs.ts') },
  { method: 'GET', path: '/runs/{id}', functionName: 'getRun', handler: 'functions/job-run-get.handler', load: () => import('./job-run-get.ts') },
  { method: 'GET', path: '/runs/{id}/logs', functionName: 'getRunLogs', handler: 'functions/job-run-logs.handler', load: () => import('./job-run-logs.ts') },
  { method: 'POST', path: '/runs/{id}/cancel', functionName: 'cancelRun', handler: 'functions/job-run-cancel.handler', load: () => import('./job-run-cancel.ts') },
];

export interface RouteMatch {
  route: RouteDefinition;
  pathParameters: Record<string, string>;
}

/** Match a method and a raw path against the table. `undefined` when nothing matches. */
export function matchRoute(method: string, rawPath: string, routes: readonly RouteDefinition[] = ROUTES): RouteMatch | undefined {
  const parts = rawPath.split('/').filter(Boolean);
  for (const route of routes) {
    if (route.method !== method.toUpperCase()) continue;
    const pattern = route.path.split('/').filter(Boolean);
    if (pattern.length !== parts.length) continue;
    const pathParameters: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length; i += 1) {
      const p = pattern[i] as string;
      const actual = parts[i] as string;
      if (p.startsWith('{') && p.endsWith('}')) {
        let decoded: string;
        try {
          decoded = decodeURIComponent(actual);
        } catch {
          decoded = actual;
        }
        pathParameters[p.slice(1, -1)] = decoded;
      } else if (p !== actual) {
        ok = false;
        break;
      }
    }
    if (ok) return { route, pathParameters };
  }
  return undefined;
}

/** Methods that exist for a path (for 405 answers). */
export function methodsForPath(rawPath: string, routes: readonly RouteDefinition[] = ROUTES): HttpMethod[] {
  const methods = new Set<HttpMethod>();
  for (const m of ['GET', 'POST', 'PATCH', 'DELETE'] as const) if (matchRoute(m, rawPath, routes)) methods.add(m);
  return [...methods];
}
