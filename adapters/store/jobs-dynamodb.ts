import { DeleteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { JobExistsError, JobStoreConflictError } from '../../shared/jobs/errors.ts';
import type { JobRecord, RunRecord, RunStatusChange } from '../../shared/jobs/types.ts';
import type { JobStore, RunCursor } from '../../shared/ports/job-store.ts';
import { dynamoCall } from './dynamodb-errors.ts';
import { INDEXES, KEYS, checkTableName } from './dynamodb-table.ts';
import { isConditionFailure } from './dynamodb-writer.ts';
import { ClusterStoreError } from './errors.ts';
import { checkJobPut, checkRunCreate, checkRunPut, isOlderRun, isUnfinished, jobsNewestFirst, runsNewestFirst, runsOldestUpdateFirst } from './jobs-common.ts';

/**
 * JobStore on the cluster table (single-table design, no new table and no
 * new index: the existing GSIs are overloaded with key prefixes clusters
 * never use):
 *
 * | item        | pk            | sk                    | GSI keys |
 * |-------------|---------------|-----------------------|----------|
 * | job         | `JOB#<id>`    | `JOB`                 | byOwner: `JOBOWNER#<owner>` / `<createdAt>#<id>`; byStatus: `JOBS` / `<createdAt>#<id>` |
 * | run         | `RUN#<id>`    | `RUN`                 | byOwner: `JOBRUNS#<jobId>` / `<scheduledAt>#<id>` (runs by job); byActivity: `UNFINISHEDRUN` / updatedAt while unfinished (sparse) |
 * | run history | `RUN#<id>`    | `HISTORY#<version⁰¹⁰>`| none |
 *
 * Writes are sequential conditional writes (so dynalite, which has no
 * transactions, behaves like AWS): the record first (conditional on absence
 * or on the version; only the winner goes on), then its history item. Run
 * and history items carry `ttl` (epoch seconds) for DynamoDB TTL.
 */
export interface DynamoDbJobStoreOptions {
  tableName: string;
}

type Item = Record<string, unknown>;

const JOB_KEYS = {
  jobPk: (id: string) => `JOB#${id}`,
  jobSk: 'JOB',
  runPk: (id: string) => `RUN#${id}`,
  runSk: 'RUN',
  jobOwnerPk: (owner: string) => `JOBOWNER#${owner}`,
  allJobsPk: 'JOBS',
  runsByJobPk: (jobId: string) => `JOBRUNS#${jobId}`,
  unfinishedRunPk: 'UNFINISHEDRUN',
} as const;

/** Attributes that exist on job/run items only for keys and indexes. */
const ITEM_ONLY = ['pk', 'sk', 'entity', 'gsi1pk', 'gsi1sk', 'gsi2pk', 'gsi2sk', 'gsi3pk', 'lastActivityAt', 'ttl'] as const;

export class DynamoDbJobStore implements JobStore {
  private readonly table: string;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: DynamoDbJobStoreOptions,
  ) {
    checkTableName(options.tableName);
    this.table = options.tableName;
  }

  async createJob(job: JobRecord): Promise<JobRecord> {
    return this.call('createJob', async () => {
      try {
        await this.doc.send(new PutCommand({ TableName: this.table, Item: jobItem(job), ConditionExpression: 'attribute_not_exists(pk)' }));
      } catch (err) {
        if (isConditionFailure(err)) throw new JobExistsError(job.name, { cause: err });
        throw err;
      }
      return structuredClone(job);
    });
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    return this.call('getJob', async () => this.getItem<JobRecord>(JOB_KEYS.jobPk(id), JOB_KEYS.jobSk));
  }

  async listJobs(owner?: string): Promise<JobRecord[]> {
    return this.call('listJobs', async () => {
      const index = owner === undefined ? INDEXES.byStatus : INDEXES.byOwner;
      const items = await this.queryAll({
        TableName: this.table,
        IndexName: index.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': index.pk },
        ExpressionAttributeValues: { ':pk': owner === undefined ? JOB_KEYS.allJobsPk : JOB_KEYS.jobOwnerPk(owner) },
      });
      return dedupe(items.map((i) => strip<JobRecord>(i))).sort(jobsNewestFirst);
    });
  }

  async putJob(next: JobRecord, expectedVersion: number): Promise<JobRecord> {
    checkJobPut(next, expectedVersion);
    return this.call('putJob', async () => {
      await this.conditionalPut(jobItem(next), expectedVersion, `job ${next.id}`, () => this.getJob(next.id));
      return structuredClone(next);
    });
  }

  async deleteJob(id: string): Promise<void> {
    return this.call('deleteJob', async () => {
      await this.doc.send(new DeleteCommand({ TableName: this.table, Key: { pk: JOB_KEYS.jobPk(id), sk: JOB_KEYS.jobSk } }));
    });
  }

  async createRun(run: RunRecord, change: RunStatusChange): Promise<{ run: RunRecord; created: boolean }> {
    checkRunCreate(run, change);
    return this.call('createRun', async () => {
      try {
        await this.doc.send(new PutCommand({ TableName: this.table, Item: runItem(run), ConditionExpression: 'attribute_not_exists(pk)' }));
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
        const existing = await this.getRun(run.id);
        if (existing === undefined) throw new ClusterStoreError(`run ${run.id} exists by condition but cannot be read`, { cause: err });
        return { run: existing, created: false };
      }
      await this.doc.send(new PutCommand({ TableName: this.table, Item: historyItem(change, run.expiresAt) }));
      return { run: structuredClone(run), created: true };
    });
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    return this.call('getRun', async () => this.getItem<RunRecord>(JOB_KEYS.runPk(id), JOB_KEYS.runSk));
  }

  async putRun(next: RunRecord, expectedVersion: number, change?: RunStatusChange): Promise<RunRecord> {
    checkRunPut(next, expectedVersion, change);
    return this.call('putRun', async () => {
      await this.conditionalPut(runItem(next), expectedVersion, `run ${next.id}`, () => this.getRun(next.id));
      if (change !== undefined) await this.doc.send(new PutCommand({ TableName: this.table, Item: historyItem(change, next.expiresAt) }));
      return structuredClone(next);
    });
  }

  async listRuns(jobId: string, options: { limit?: number; after?: RunCursor } = {}): Promise<RunRecord[]> {
    const { after } = options;
    return this.call('listRuns', async () => {
      // The index sort key is `<scheduledAt>#<id>` (ISO times of one width), so "< cursor" is "older" in runsNewestFirst.
      const items = await this.queryAll(
        {
          TableName: this.table,
          IndexName: INDEXES.byOwner.name,
          KeyConditionExpression: after === undefined ? '#pk = :pk' : '#pk = :pk AND #sk < :after',
          ExpressionAttributeNames: { '#pk': INDEXES.byOwner.pk, ...(after === undefined ? {} : { '#sk': INDEXES.byOwner.sk }) },
          ExpressionAttributeValues: { ':pk': JOB_KEYS.runsByJobPk(jobId), ...(after === undefined ? {} : { ':after': `${after.scheduledAt}#${after.id}` }) },
          ScanIndexForward: false,
        },
        options.limit,
      );
      // The cursor again in memory: the index is only eventually consistent, and this keeps memory and DynamoDB alike.
      const runs = dedupe(items.map((i) => strip<RunRecord>(i)))
        .filter((r) => after === undefined || isOlderRun(r, after))
        .sort(runsNewestFirst);
      return runs.slice(0, options.limit ?? runs.length);
    });
  }

  async listUnfinishedRuns(): Promise<RunRecord[]> {
    return this.call('listUnfinishedRuns', async () => {
      const items = await this.queryAll({
        TableName: this.table,
        IndexName: INDEXES.byActivity.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': INDEXES.byActivity.pk },
        ExpressionAttributeValues: { ':pk': JOB_KEYS.unfinishedRunPk },
      });
      // The index lags: re-check the status of what it returns.
      return dedupe(items.map((i) => strip<RunRecord>(i))).filter(isUnfinished).sort(runsOldestUpdateFirst);
    });
  }

  async runHistory(id: string): Promise<RunStatusChange[]> {
    return this.call('runHistory', async () => {
      const items = await this.queryAll({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': JOB_KEYS.runPk(id), ':prefix': KEYS.historyPrefix },
        ConsistentRead: true,
      });
      return items.map((i) => strip<RunStatusChange>(i)).sort((a, b) => a.version - b.version);
    });
  }

  private async getItem<T>(pk: string, sk: string): Promise<T | undefined> {
    const out = await this.doc.send(new GetCommand({ TableName: this.table, Key: { pk, sk }, ConsistentRead: true }));
    return out.Item === undefined ? undefined : strip<T>(out.Item);
  }

  private async conditionalPut(item: Item, expectedVersion: number, what: string, reread: () => Promise<{ version: number } | undefined>): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: item,
          ConditionExpression: '#v = :expected',
          ExpressionAttributeNames: { '#v': 'version' },
          ExpressionAttributeValues: { ':expected': expectedVersion },
        }),
      );
    } catch (err) {
      if (isConditionFailure(err)) throw new JobStoreConflictError(what, expectedVersion, await reread(), { cause: err });
      throw err;
    }
  }

  private async queryAll(input: QueryCommandInput, limit?: number): Promise<Item[]> {
    const out: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
      out.push(...((page.Items ?? []) as Item[]));
      start = page.LastEvaluatedKey;
    } while (start !== undefined && (limit === undefined || out.length < limit));
    return out;
  }

  /** Map SDK failures (dynamodb-errors.ts): domain errors pass through, outages become 503, the rest a logged 500. */
  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return dynamoCall('job store', op, fn);
  }

}

/**
 * Nested objects as Maps: the marshaller recognises plain objects by
 * `constructor.name === 'Object'`, so a user map with a `constructor` key
 * (params, spec overrides) would be refused (see dynamodb.ts).
 */
function asMarshallable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asMarshallable);
  if (value !== null && typeof value === 'object') return new Map(Object.entries(value).filter(([, v]) => v !== undefined).map(([k, v]) => [k, asMarshallable(v)]));
  return value;
}

function fields(record: object): Item {
  return Object.fromEntries(Object.entries(record).filter(([, v]) => v !== undefined).map(([k, v]) => [k, asMarshallable(v)]));
}

function jobItem(job: JobRecord): Item {
  const created = KEYS.createdSk(job.createdAt, job.id);
  return { ...fields(job), pk: JOB_KEYS.jobPk(job.id), sk: JOB_KEYS.jobSk, entity: 'job', gsi1pk: JOB_KEYS.jobOwnerPk(job.owner), gsi1sk: created, gsi2pk: JOB_KEYS.allJobsPk, gsi2sk: created };
}

function runItem(run: RunRecord): Item {
  const item: Item = {
    ...fields(run),
    pk: JOB_KEYS.runPk(run.id),
    sk: JOB_KEYS.runSk,
    entity: 'run',
    gsi1pk: JOB_KEYS.runsByJobPk(run.jobId),
    gsi1sk: `${run.scheduledAt}#${run.id}`,
  };
  if (run.expiresAt !== undefined) item.ttl = run.expiresAt;
  if (isUnfinished(run)) {
    item.gsi3pk = JOB_KEYS.unfinishedRunPk;
    item.lastActivityAt = run.updatedAt;
  }
  return item;
}

function historyItem(change: RunStatusChange, expiresAt: number | undefined): Item {
  return {
    ...fields(change),
    pk: JOB_KEYS.runPk(change.runId),
    sk: KEYS.historySk(change.version),
    entity: 'run-history',
    ...(expiresAt === undefined ? {} : { ttl: expiresAt }),
  };
}

function strip<T>(item: Item): T {
  const out: Item = { ...item };
  for (const key of ITEM_ONLY) delete out[key];
  return out as T;
}

function dedupe<T extends { id: string; version: number }>(records: T[]): T[] {
  const byId = new Map<string, T>();
  for (const r of records) {
    const seen = byId.get(r.id);
    if (seen === undefined || seen.version < r.version) byId.set(r.id, r);
  }
  return [...byId.values()];
}
