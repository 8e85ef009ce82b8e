import { CloudWatchLogsClient } from '@aws-sdk/client-cloudwatch-logs';
import { z } from 'zod';
import { LogsNotConfiguredError } from '../adapters/logs/errors.ts';
import { CloudWatchLogReader, expiredLogs, LOG_COMPONENTS } from '../adapters/logs/reader.ts';
import { ConfigError } from '../shared/core/errors.ts';
import { getNumber, getString, type Env } from '../shared/core/env.ts';
import { ClusterNotFoundError } from '../shared/ports/errors.ts';
import { apiHandler, lazyHandler, type ApiDeps } from './commons/api.ts';
import { apiDepsFromEnv } from './commons/deps.ts';
import { clusterIdParams } from './commons/schemas.ts';

/**
 * `GET /clusters/{id}/logs` on AWS → 200 `{clusterId, status, events, nextToken?}`:
 * the cluster's lines from the stage's log group (stream per cluster and
 * component), before and after deletion. Ownership is checked on the record
 * before CloudWatch is asked: another user's cluster is a 404, like every
 * cluster route. A cluster that ended longer ago than the retention and has no
 * lines left is a 410 saying when its logs expired.
 * (The local stack serves the same path from its state dir: `local/logs.ts`.)
 */
export interface ClusterLogsDeps extends ApiDeps {
  /** Absent on an API without a cluster log group: the route answers 404. */
  logs?: CloudWatchLogReader;
  retentionDays?: number;
}

export const clusterLogsQuery = z.strictObject({
  component: z.enum(LOG_COMPONENTS).optional(),
  since: z.iso.datetime({ offset: true, message: 'must be an ISO time such as 2026-12-05T08:00:00Z' }).optional(),
  grep: z.string().min(1).max(512).optional(),
  nextToken: z.string().min(1).max(4096).optional(),
  limit: z.coerce.number().int().min(1).max(10_000).optional(),
});

export function makeHandler(deps: ClusterLogsDeps) {
  return apiHandler(deps, { name: 'clusterLogs', path: clusterIdParams, query: clusterLogsQuery }, async ({ path, query, caller }) => {
    // Read the record directly: reading logs is not cluster activity (a `--follow` must not keep it alive).
    if (!deps.logs) throw new LogsNotConfiguredError(); // a property of this API, says nothing about the cluster
    const record = await deps.store.get(path.id);
    if (!record || (record.owner !== caller.user && !caller.admin)) throw new ClusterNotFoundError(path.id);
    const page = await deps.logs.read({
      clusterId: record.id,
      ...(query.component ? { component: query.component } : {}),
      ...(query.since ? { since: Date.parse(query.since) } : {}),
      ...(query.grep ? { grep: query.grep } : {}),
      ...(query.nextToken ? { nextToken: query.nextToken } : {}),
      ...(query.limit ? { limit: query.limit } : {}),
    });
    const ended = record.status === 'DELETED' || record.status === 'FAILED';
    if (page.events.length === 0 && ended && !query.nextToken) {
      const expired = expiredLogs(record.id, record.endedAt ?? record.updatedAt, deps.retentionDays, deps.clock.now());
      if (expired) throw expired;
    }
    return { statusCode: 200, body: { clusterId: record.id, status: record.status, ...page } };
  });
}

export function clusterLogsDepsFromEnv(env: Env = process.env): ClusterLogsDeps {
  const base = apiDepsFromEnv(env);
  const logGroupName = getString(env, 'RECC_LOG_GROUP');
  const retentionDays = getNumber(env, 'RECC_LOG_RETENTION_DAYS', 30);
  if (!(retentionDays > 0)) throw new ConfigError('invalid log configuration', [{ path: 'RECC_LOG_RETENTION_DAYS', message: 'must be a positive number of days' }]);
  const endpoint = env.RECC_LOGS_ENDPOINT?.trim();
  const client = new CloudWatchLogsClient({ region: env.AWS_REGION?.trim() || 'us-east-1', ...(endpoint ? { endpoint } : {}) });
  return { ...base, logs: new CloudWatchLogReader(client, logGroupName), retentionDays };
}

export const handler = lazyHandler(() => makeHandler(clusterLogsDepsFromEnv()));
