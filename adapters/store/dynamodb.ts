import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, GetCommand, QueryCommand, UpdateCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import type { ClusterStore, QuotaWriteOptions } from '../../shared/ports/cluster-store.ts';
import { ClusterNotFoundError, VersionConflictError } from '../../shared/ports/errors.ts';
import type { Usage } from '../../shared/quota/usage.ts';
import { CLUSTER_STATUSES, type ClusterRecord, type ClusterStatus, type StatusChange } from '../../shared/lifecycle/types.ts';
import { checkCreate, checkPut, checkTouch, isLiveStatus, leastRecentlyActiveFirst, newestFirst } from './common.ts';
import { dedupe, fromHistoryItem, fromItem, type Item } from './dynamodb-items.ts';
import { SequentialWriter } from './dynamodb-sequential.ts';
import { INDEXES, KEYS, checkTableName } from './dynamodb-table.ts';
import { TransactionalWriter } from './dynamodb-transactional.ts';
import { readUsage, refuseImpossible, usageWrites, type UsageWrite } from './dynamodb-usage.ts';
import { dynamoCall } from './dynamodb-errors.ts';
import { conditionalPut, isConditionFailure, oldRecordFromConditionFailure, type ClusterWriter, type WriterContext } from './dynamodb-writer.ts';

export { createTable, deleteTable, tableDefinition, KEYS, INDEXES } from './dynamodb-table.ts';

/**
 * `ClusterStore` on one DynamoDB table (layout in `dynamodb-table.ts` and the
 * README section "Cluster store (DynamoDB single table)").
 *
 * Every state change is a conditional write on `version`. How the items of
 * one change are written depends on the backend, chosen once with
 * `transactions`: `TransactionalWriter` (AWS, DynamoDB Local; one
 * TransactWriteItems) or `SequentialWriter` (dynalite; ordered conditional
 * writes), both behind `ClusterWriter` (`dynamodb-writer.ts`). This file
 * keeps the reads, `touch` and the error mapping; item mapping and the
 * zod check of items read back are in `dynamodb-items.ts`.
 *
 * A lost race: the condition asks for `ReturnValuesOnConditionCheckFailure:
 * ALL_OLD`; when the backend ignores that (dynalite) the adapter re-reads with
 * a consistent read. Either way a `VersionConflictError` carries the current
 * record.
 *
 * Activity timestamps (`lastActivityAt`, `lastHeartbeatAt`) only ever move
 * forward. `touch` is a conditional UpdateItem per timestamp that does not
 * bump the version, and `put` refuses (by condition) to move them back: if a
 * touch landed after the caller's read, `put` re-applies the caller's record
 * with the later times, still conditional on the same version.
 */
export interface DynamoDbClusterStoreOptions {
  tableName: string;
  /** True where TransactWriteItems exists (AWS, DynamoDB Local); false for dynalite. */
  transactions: boolean;
  /** Sequential mode: how long a create waits for the record of a clientToken another creator holds. @default 10000 */
  idempotencyWaitMs?: number;
  /** Attempts for internal retries (transaction conflicts, touch races). @default 10 */
  maxAttempts?: number;
}

/** Everything needed to build the store and its client. No `process.env` here: see `config.ts`. */
export interface DynamoDbClusterStoreConfig extends DynamoDbClusterStoreOptions {
  region: string;
  /** e.g. `http://127.0.0.1:8000` for DynamoDB Local; unset for AWS. */
  endpoint?: string;
  /** Static credentials (emulators); unset = the default AWS credential chain. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

/** Build a document client and the store from a typed config. */
export function createDynamoDbClusterStore(config: DynamoDbClusterStoreConfig): DynamoDbClusterStore {
  const client = new DynamoDBClient({
    region: config.region,
    ...(config.endpoint === undefined ? {} : { endpoint: config.endpoint }),
    ...(config.credentials === undefined ? {} : { credentials: config.credentials }),
  });
  const doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  return new DynamoDbClusterStore(doc, config);
}

/** DynamoDB's throttling and outage exceptions: the request may succeed later (503). */


export class DynamoDbClusterStore implements ClusterStore {
  private readonly table: string;
  private readonly writer: ClusterWriter;
  private readonly context: WriterContext;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: DynamoDbClusterStoreOptions,
  ) {
    checkTableName(options.tableName);
    this.table = options.tableName;
    this.context = {
      doc,
      table: options.tableName,
      maxAttempts: options.maxAttempts ?? 10,
      getRecord: (id) => this.getRaw(id),
    };
    this.writer = options.transactions
      ? new TransactionalWriter(this.context)
      : new SequentialWriter(this.context, options.idempotencyWaitMs ?? 10_000);
  }

  async create(record: ClusterRecord, change: StatusChange, options: QuotaWriteOptions = {}): Promise<{ record: ClusterRecord; created: boolean }> {
    checkCreate(record, change);
    return this.call('create', async () => {
      const usage = usageWrites(undefined, record, options.quota);
      await refuseImpossible(this.context, usage);
      return this.writer.create(record, change, usage);
    });
  }

  async put(next: ClusterRecord, expectedVersion: number, change?: StatusChange, options: QuotaWriteOptions = {}): Promise<ClusterRecord> {
    checkPut(next, expectedVersion, change);
    return this.call('put', async () => {
      const usage = await this.usageChangeOf(next, expectedVersion, options);
      return conditionalPut(this.context, this.writer, next, expectedVersion, change, usage);
    });
  }

  /**
   * What a put changes in quota usage. Only records that count against quotas
   * need the stored record (one consistent read): the write is conditional on
   * its version, so the delta computed from it is exactly what the write does.
   */
  private async usageChangeOf(next: ClusterRecord, expectedVersion: number, options: QuotaWriteOptions): Promise<UsageWrite[]> {
    if (!next.quotaScopes?.length) return [];
    const current = await this.getRaw(next.id);
    if (current === undefined) throw new ClusterNotFoundError(next.id);
    if (current.version !== expectedVersion) throw new VersionConflictError(next.id, expectedVersion, current);
    const usage = usageWrites(current, next, options.quota);
    await refuseImpossible(this.context, usage);
    return usage;
  }

  async usage(scopes: readonly string[]): Promise<Map<string, Usage>> {
    return this.call('usage', () => readUsage(this.context, scopes));
  }

  // -------------------------------------------------------------------------
  // reads

  async get(id: string): Promise<ClusterRecord | undefined> {
    return this.call('get', () => this.getRaw(id));
  }

  private async getRaw(id: string): Promise<ClusterRecord | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: KEYS.clusterPk(id), sk: KEYS.clusterSk }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : fromItem(Item);
  }

  async listByOwner(owner: string, options: { status?: ClusterStatus } = {}): Promise<ClusterRecord[]> {
    return this.call('listByOwner', async () => {
      const items = await this.queryAll({
        TableName: this.table,
        IndexName: INDEXES.byOwner.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': INDEXES.byOwner.pk, ...(options.status ? { '#status': 'status' } : {}) },
        ExpressionAttributeValues: { ':pk': KEYS.ownerPk(owner), ...(options.status ? { ':status': options.status } : {}) },
        ...(options.status ? { FilterExpression: '#status = :status' } : {}),
        ScanIndexForward: false,
      });
      return items.map(fromItem).sort(newestFirst);
    });
  }

  async listAll(options: { status?: ClusterStatus } = {}): Promise<ClusterRecord[]> {
    return this.call('listAll', async () => {
      const statuses = options.status ? [options.status] : [...CLUSTER_STATUSES];
      const pages = await Promise.all(
        statuses.map((status) =>
          this.queryAll({
            TableName: this.table,
            IndexName: INDEXES.byStatus.name,
            KeyConditionExpression: '#pk = :pk',
            ExpressionAttributeNames: { '#pk': INDEXES.byStatus.pk },
            ExpressionAttributeValues: { ':pk': KEYS.statusPk(status) },
            ScanIndexForward: false,
          }),
        ),
      );
      // GSIs are eventually consistent: an item may briefly show under its old status too.
      return dedupe(pages.flat().map(fromItem))
        .filter((r) => options.status === undefined || r.status === options.status)
        .sort(newestFirst);
    });
  }

  async listLive(): Promise<ClusterRecord[]> {
    return this.call('listLive', async () => {
      const items = await this.queryAll({
        TableName: this.table,
        IndexName: INDEXES.byActivity.name,
        KeyConditionExpression: '#pk = :pk',
        ExpressionAttributeNames: { '#pk': INDEXES.byActivity.pk },
        ExpressionAttributeValues: { ':pk': KEYS.livePk },
        ScanIndexForward: true,
      });
      return items
        .map(fromItem)
        .filter((r) => isLiveStatus(r.status))
        .sort(leastRecentlyActiveFirst);
    });
  }

  async history(id: string): Promise<StatusChange[]> {
    return this.call('history', async () => {
      const items = await this.queryAll({
        TableName: this.table,
        KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
        ExpressionAttributeValues: { ':pk': KEYS.clusterPk(id), ':prefix': KEYS.historyPrefix },
        ConsistentRead: true,
        ScanIndexForward: true,
      });
      return items.map(fromHistoryItem).sort((a, b) => a.version - b.version);
    });
  }

  private async queryAll(input: QueryCommandInput): Promise<Item[]> {
    const out: Item[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.doc.send(new QueryCommand({ ...input, ...(start ? { ExclusiveStartKey: start } : {}) }));
      out.push(...((page.Items ?? []) as Item[]));
      start = page.LastEvaluatedKey;
    } while (start !== undefined);
    return out;
  }

  // -------------------------------------------------------------------------
  // touch

  async touch(id: string, at: { activityAt?: string; heartbeatAt?: string }): Promise<ClusterRecord | undefined> {
    checkTouch(at);
    return this.call('touch', async () => {
      const fields: [string, string][] = [];
      if (at.activityAt !== undefined) fields.push(['lastActivityAt', at.activityAt]);
      if (at.heartbeatAt !== undefined) fields.push(['lastHeartbeatAt', at.heartbeatAt]);
      if (fields.length === 0) return this.getRaw(id);
      // Common case (a heartbeat moves both forward): one write. Otherwise one write per field.
      if (fields.length > 1) {
        const both = await this.touchFields(id, fields);
        if (both.updated) return both.record;
        if (both.record === undefined) return undefined;
      }
      let last: ClusterRecord | undefined;
      for (const field of fields) {
        const result = await this.touchFields(id, [field]);
        if (result.record === undefined) return undefined;
        last = result.record;
      }
      return last;
    });
  }

  /** One conditional UpdateItem moving every field forward; `updated: false` when a condition failed. */
  private async touchFields(id: string, fields: [string, string][]): Promise<{ updated: boolean; record: ClusterRecord | undefined }> {
    const names: Record<string, string> = {};
    const values: Record<string, string> = {};
    const sets: string[] = [];
    const conds = ['attribute_exists(pk)'];
    fields.forEach(([name, value], i) => {
      names[`#f${i}`] = name;
      values[`:v${i}`] = value;
      sets.push(`#f${i} = :v${i}`);
      conds.push(`(attribute_not_exists(#f${i}) OR #f${i} < :v${i})`);
    });
    try {
      const { Attributes } = await this.doc.send(
        new UpdateCommand({
          TableName: this.table,
          Key: { pk: KEYS.clusterPk(id), sk: KEYS.clusterSk },
          UpdateExpression: `SET ${sets.join(', ')}`,
          ConditionExpression: conds.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
          ReturnValues: 'ALL_NEW',
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
      return { updated: true, record: Attributes === undefined ? await this.getRaw(id) : fromItem(Attributes) };
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return { updated: false, record: oldRecordFromConditionFailure(err) ?? (await this.getRaw(id)) };
    }
  }

  /** Map SDK failures (dynamodb-errors.ts): domain errors pass through, outages become 503, the rest a logged 500. */
  private call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    return dynamoCall('cluster store', op, fn);
  }

}
