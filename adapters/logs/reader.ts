import {
  CreateLogGroupCommand,
  FilterLogEventsCommand,
  PutRetentionPolicyCommand,
  type CloudWatchLogsClient,
} from '@aws-sdk/client-cloudwatch-logs';
import { LogsConfigError, LogsExpiredError, LogsUnavailableError } from './errors.ts';

/**
 * Reading a cluster's logs from the stage's log group (one group per stage,
 * one stream per cluster and component: `<clusterId>/<component>`), and the
 * group's retention.
 *
 * FilterLogEvents (CloudWatch Logs API reference) is paginated by
 * `nextToken`, may answer a page with no events and a `nextToken` while it
 * is still searching, returns at most `limit` (≤ 10,000) events per page,
 * and takes either `logStreamNames` or `logStreamNamePrefix`. The reader
 * follows pages until it has `limit` events or there are none left, and
 * hands back the token so `--follow` and paging resume where it stopped.
 */
export const LOG_COMPONENTS = ['scheduler', 'worker', 'driver', 'control'] as const;
export type LogComponent = (typeof LOG_COMPONENTS)[number];

export interface ClusterLogQuery {
  clusterId: string;
  component?: LogComponent;
  /** Epoch ms; events at or after. */
  since?: number;
  /** Plain text the line must contain (case-sensitive, like FilterLogEvents quoted terms). */
  grep?: string;
  /** Stop after this many events. @default 10_000 */
  limit?: number;
  /** Resume a previous read. */
  nextToken?: string;
}

export interface ClusterLogEvent {
  timestamp: number;
  component: string;
  stream: string;
  message: string;
  eventId?: string;
}

export interface ClusterLogPage {
  events: ClusterLogEvent[];
  nextToken?: string;
}

export function logStreamName(clusterId: string, component: LogComponent): string {
  return `${clusterId}/${component}`;
}

/** The filter pattern for plain text: a quoted term (a text with a double quote is matched by the reader only). */
export function filterPatternFor(grep: string | undefined): string | undefined {
  if (!grep || grep.includes('"')) return undefined;
  return `"${grep}"`;
}

export class CloudWatchLogReader {
  constructor(
    private readonly client: CloudWatchLogsClient,
    private readonly logGroupName: string,
  ) {}

  async read(query: ClusterLogQuery): Promise<ClusterLogPage> {
    const limit = Math.max(1, Math.min(query.limit ?? 10_000, 10_000));
    const prefix = query.component ? logStreamName(query.clusterId, query.component) : `${query.clusterId}/`;
    const pattern = filterPatternFor(query.grep);
    const events: ClusterLogEvent[] = [];
    let token = query.nextToken;
    for (let page = 0; page < 1000; page += 1) {
      let out;
      try {
        out = await this.client.send(
          new FilterLogEventsCommand({
            logGroupName: this.logGroupName,
            logStreamNamePrefix: prefix,
            ...(query.since !== undefined ? { startTime: query.since } : {}),
            ...(pattern ? { filterPattern: pattern } : {}),
            ...(token ? { nextToken: token } : {}),
            limit: limit - events.length,
          }),
        );
      } catch (err) {
        if ((err as Error).name === 'ResourceNotFoundException') return { events }; // no group yet: nothing was ever shipped
        throw new LogsUnavailableError(`reading the logs of cluster ${query.clusterId} failed`, { cause: err });
      }
      for (const e of out.events ?? []) {
        const message = (e.message ?? '').replace(/\n$/, '');
        if (query.grep && !message.includes(query.grep)) continue;
        const stream = e.logStreamName ?? '';
        events.push({
          timestamp: e.timestamp ?? 0,
          stream,
          component: stream.slice(query.clusterId.length + 1).split('/')[0] ?? '',
          message,
          ...(e.eventId ? { eventId: e.eventId } : {}),
        });
      }
      token = out.nextToken;
      if (!token || events.length >= limit) break;
    }
    events.sort((a, b) => a.timestamp - b.timestamp);
    return { events, ...(token ? { nextToken: token } : {}) };
  }
}

/**
 * When a cluster that ended at `endedAt` has no logs left, say whether the
 * retention explains it: CloudWatch deletes events `retentionDays` after
 * their timestamp, so the last line is gone `retentionDays` after the end.
 */
export function expiredLogs(clusterId: string, endedAt: string | undefined, retentionDays: number | undefined, now: number): LogsExpiredError | undefined {
  if (!endedAt || !retentionDays) return undefined;
  const expiry = Date.parse(endedAt) + retentionDays * 86_400_000;
  return now >= expiry ? new LogsExpiredError(clusterId, new Date(expiry).toISOString(), retentionDays) : undefined;
}

/** PutRetentionPolicy accepts only these (CloudWatch Logs API reference). */
export const RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

/** Create the stage's log group when missing and set its retention (idempotent). */
export async function ensureLogGroup(client: CloudWatchLogsClient, logGroupName: string, retentionDays: number, tags: Record<string, string> = {}): Promise<void> {
  if (!(RETENTION_DAYS as readonly number[]).includes(retentionDays)) {
    throw new LogsConfigError(`log retention must be one of ${RETENTION_DAYS.join(', ')} days (got ${retentionDays})`);
  }
  try {
    await client.send(new CreateLogGroupCommand({ logGroupName, ...(Object.keys(tags).length ? { tags } : {}) }));
  } catch (err) {
    if ((err as Error).name !== 'ResourceAlreadyExistsException') throw new LogsUnavailableError(`creating log group ${logGroupName} failed`, { cause: err });
  }
  try {
    await client.send(new PutRetentionPolicyCommand({ logGroupName, retentionInDays: retentionDays }));
  } catch (err) {
    throw new LogsUnavailableError(`setting the retention of ${logGroupName} failed`, { cause: err });
  }
}
