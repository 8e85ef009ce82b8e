import { isDeepStrictEqual } from 'node:util';
import { DynamoDBClient, type AttributeValue } from '@aws-sdk/client-dynamodb';
import {
  DeleteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
  type QueryCommandInput,
} from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { ClusterStore } from '../../shared/ports/cluster-store.ts';
import { BackendUnavailableError, ClusterNotFoundError, VersionConflictError } from '../../shared/ports/errors.ts';
import { CLUSTER_STATUSES, type ClusterRecord, type ClusterStatus, type StatusChange } from '../../shared/lifecycle/types.ts';
import { ReccError } from '../../shared/core/errors.ts';
import { checkCreate, checkPut, checkTouch, isLiveStatus, laterOf, leastRecentlyActiveFirst, newestFirst } from './common.ts';
import { INDEXES, KEYS, KEY_ATTRIBUTES, checkTableName } from './dynamodb-table.ts';
import { ClusterStoreError } from './errors.ts';

export { createTable, deleteTable, tableDefinition, KEYS, INDEXES } from './dynamodb-table.ts';

/**
 * `ClusterStore` on one DynamoDB table (layout in `dynamodb-table.ts` and the
 * README section "Cluster store (DynamoDB single table)").
 *
 * Every state change is a conditional write on `version`. Two write modes,
 * chosen explicitly with `transactions`:
 *
 * - `transactions: true` (AWS, DynamoDB Local): `create` writes record +
 *   first history item + idempotency item in one TransactWriteItems; `put`
 *   with a change writes record + history item in one transaction.
 * - `transactions: false` (dynalite, which has none): the same items as an
 *   ordered sequence of conditional writes. `create`: idempotency item first
 *   (`attribute_not_exists`, so exactly one creator wins a clientToken), then
 *   the record (`attribute_not_exists`), then the history item. `put`: the
 *   record first (conditional on version, so only the winner continues), then
 *   its history item. A crash between the steps can leave a history gap or a
 *   token that points at a record that never appeared; a later create with
 *   that token waits `idempotencyWaitMs` for the record, then takes the token
 *   over with a conditional swap.
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

type Item = Record<string, unknown>;

const RETRYABLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
]);

export class DynamoDbClusterStore implements ClusterStore {
  private readonly table: string;
  private readonly transactions: boolean;
  private readonly idempotencyWaitMs: number;
  private readonly maxAttempts: number;

  constructor(
    private readonly doc: DynamoDBDocumentClient,
    options: DynamoDbClusterStoreOptions,
  ) {
    checkTableName(options.tableName);
    this.table = options.tableName;
    this.transactions = options.transactions;
    this.idempotencyWaitMs = options.idempotencyWaitMs ?? 10_000;
    this.maxAttempts = options.maxAttempts ?? 10;
  }

  // -------------------------------------------------------------------------
  // create

  async create(record: ClusterRecord, change: StatusChange): Promise<{ record: ClusterRecord; created: boolean }> {
    checkCreate(record, change);
    return this.call('create', () => (this.transactions ? this.createTransactional(record, change) : this.createSequential(record, change)));
  }

  private async createTransactional(record: ClusterRecord, change: StatusChange): Promise<{ record: ClusterRecord; created: boolean }> {
    const token = record.clientToken;
    for (let attempt = 0; ; attempt += 1) {
      if (token !== undefined) {
        const existing = await this.recordForToken(record.owner, token);
        if (existing?.record !== undefined) return { record: existing.record, created: false };
      }
      const items: NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']> = [
        { Put: { TableName: this.table, Item: toItem(record), ConditionExpression: 'attribute_not_exists(pk)' } },
        { Put: { TableName: this.table, Item: historyItem(change), ConditionExpression: 'attribute_not_exists(pk)' } },
      ];
      if (token !== undefined) {
        items.push({ Put: { TableName: this.table, Item: tokenItem(record), ConditionExpression: 'attribute_not_exists(pk)' } });
      }
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
        return { record: structuredClone(record), created: true };
      } catch (err) {
        const reasons = cancellationCodes(err);
        if (reasons === undefined) throw err;
        if (reasons[0] === 'ConditionalCheckFailed') {
          throw new VersionConflictError(record.id, 0, await this.get(record.id), { cause: err });
        }
        // Token taken (re-read it at the top of the loop) or a concurrent transaction touched an item.
        const retry = reasons[2] === 'ConditionalCheckFailed' || reasons.includes('TransactionConflict');
        if (!retry) throw err;
        if (attempt + 1 >= this.maxAttempts * 3) {
          throw new BackendUnavailableError(`create of ${record.id} kept conflicting with concurrent writes; retry the request`, {
            cause: err,
          });
        }
        if (reasons.includes('TransactionConflict')) await backoff(attempt);
      }
    }
  }

  private async createSequential(record: ClusterRecord, change: StatusChange): Promise<{ record: ClusterRecord; created: boolean }> {
    const token = record.clientToken;
    if (token !== undefined) {
      const existing = await this.claimToken(record, token);
      if (existing !== undefined) return { record: existing, created: false };
    }
    try {
      await this.doc.send(new PutCommand({ TableName: this.table, Item: toItem(record), ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (err) {
      const clash = isConditionFailure(err) ? await this.getRaw(record.id) : undefined;
      // An SDK retry of our own PutItem whose answer was lost finds our record: that is success.
      const ours = clash !== undefined && isDeepStrictEqual(clash, withoutUndefined(record));
      if (!ours) {
        if (token !== undefined) await this.releaseToken(record, token);
        if (isConditionFailure(err)) throw new VersionConflictError(record.id, 0, clash, { cause: err });
        throw err;
      }
    }
    await this.doc.send(new PutCommand({ TableName: this.table, Item: historyItem(change) }));
    return { record: structuredClone(record), created: true };
  }

  /**
   * Sequential mode: make `record.id` the owner of (owner, token), or return
   * the record of the creator that already owns it.
   */
  private async claimToken(record: ClusterRecord, token: string): Promise<ClusterRecord | undefined> {
    for (let attempt = 0; attempt < this.maxAttempts; attempt += 1) {
      try {
        await this.doc.send(new PutCommand({ TableName: this.table, Item: tokenItem(record), ConditionExpression: 'attribute_not_exists(pk)' }));
        return undefined;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
      // Someone holds the token: wait for their record to appear.
      const deadline = Date.now() + this.idempotencyWaitMs;
      let holder: string | undefined;
      for (let poll = 0; ; poll += 1) {
        const found = await this.recordForToken(record.owner, token);
        if (found === undefined) break; // token vanished (creator rolled back): try to claim again
        if (found.record !== undefined) return found.record;
        holder = found.clusterId;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, Math.min(20 * (poll + 1), 200)));
      }
      if (holder === undefined) continue;
      // The holder never wrote its record (it crashed): take the token over.
      try {
        await this.doc.send(
          new UpdateCommand({
            TableName: this.table,
            Key: { pk: KEYS.tokenPk(record.owner, token), sk: KEYS.tokenSk },
            UpdateExpression: 'SET clusterId = :mine, createdAt = :at',
            ConditionExpression: 'clusterId = :holder',
            ExpressionAttributeValues: { ':mine': record.id, ':holder': holder, ':at': record.createdAt },
          }),
        );
        return undefined;
      } catch (err) {
        if (!isConditionFailure(err)) throw err;
      }
    }
    throw new BackendUnavailableError(`could not settle clientToken for owner ${record.owner}; retry the request`);
  }

  private async releaseToken(record: ClusterRecord, token: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: { pk: KEYS.tokenPk(record.owner, token), sk: KEYS.tokenSk },
          ConditionExpression: 'clusterId = :mine',
          ExpressionAttributeValues: { ':mine': record.id },
        }),
      );
    } catch {
      // Best effort: a dangling token is taken over by the next create after idempotencyWaitMs.
    }
  }

  private async recordForToken(owner: string, token: string): Promise<{ clusterId: string; record: ClusterRecord | undefined } | undefined> {
    const { Item } = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: { pk: KEYS.tokenPk(owner, token), sk: KEYS.tokenSk }, ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    const clusterId = String(Item.clusterId);
    return { clusterId, record: await this.getRaw(clusterId) };
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
  // put

  async put(next: ClusterRecord, expectedVersion: number, change?: StatusChange): Promise<ClusterRecord> {
    checkPut(next, expectedVersion, change);
    return this.call('put', () => this.putWithRetries(next, expectedVersion, change));
  }

  private async putWithRetries(next: ClusterRecord, expectedVersion: number, change: StatusChange | undefined): Promise<ClusterRecord> {
    let candidate = structuredClone(next);
    for (let attempt = 0; attempt < this.maxAttempts; attempt += 1) {
      const put = this.conditionalPut(candidate, expectedVersion);
      let failure: unknown;
      let current: ClusterRecord | undefined;
      let conflict = false;
      try {
        if (this.transactions && change !== undefined) {
          await this.doc.send(
            new TransactWriteCommand({
              TransactItems: [
                { Put: put },
                { Put: { TableName: this.table, Item: historyItem(change), ConditionExpression: 'attribute_not_exists(pk)' } },
              ],
            }),
          );
        } else {
          await this.doc.send(new PutCommand(put));
          if (change !== undefined) await this.doc.send(new PutCommand({ TableName: this.table, Item: historyItem(change) }));
        }
        return candidate;
      } catch (err) {
        failure = err;
        const codes = cancellationCodes(err);
        if (codes !== undefined) {
          if (codes[0] === 'ConditionalCheckFailed') current = oldItemFromCancellation(err);
          else if (codes.includes('TransactionConflict')) conflict = true;
          else throw err;
        } else if (isConditionFailure(err)) {
          current = oldItemFromConditionFailure(err);
        } else {
          throw err;
        }
      }
      if (conflict) {
        await backoff(attempt);
        continue;
      }
      current ??= await this.getRaw(next.id);
      if (current === undefined) throw new ClusterNotFoundError(next.id, { cause: failure });
      if (isDeepStrictEqual(current, withoutUndefined(candidate))) {
        // Our own write landed and only its answer was lost (the SDK retried
        // a PutItem that had succeeded): finish the job instead of reporting a race.
        if (change !== undefined) await this.doc.send(new PutCommand({ TableName: this.table, Item: historyItem(change) }));
        return candidate;
      }
      if (current.version !== expectedVersion) throw new VersionConflictError(next.id, expectedVersion, current, { cause: failure });
      // Same version, so only the activity times differ: a touch moved them
      // forward after the caller's read. Keep the later times and try again.
      candidate = withLaterTimes(candidate, current);
    }
    throw new VersionConflictError(next.id, expectedVersion, await this.getRaw(next.id));
  }

  /** PutItem input for `record`, conditional on the version and on not moving activity times back. */
  private conditionalPut(record: ClusterRecord, expectedVersion: number) {
    const heartbeat =
      record.lastHeartbeatAt === undefined ? 'attribute_not_exists(#hb)' : '(attribute_not_exists(#hb) OR #hb <= :hb)';
    return {
      TableName: this.table,
      Item: toItem(record),
      ConditionExpression: `#version = :expected AND (attribute_not_exists(#la) OR #la <= :la) AND ${heartbeat}`,
      ExpressionAttributeNames: { '#version': 'version', '#la': 'lastActivityAt', '#hb': 'lastHeartbeatAt' },
      ExpressionAttributeValues: {
        ':expected': expectedVersion,
        ':la': record.lastActivityAt,
        ...(record.lastHeartbeatAt === undefined ? {} : { ':hb': record.lastHeartbeatAt }),
      },
      ReturnValuesOnConditionCheckFailure: 'ALL_OLD' as const,
    };
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
      return { updated: false, record: oldItemFromConditionFailure(err) ?? (await this.getRaw(id)) };
    }
  }

  // -------------------------------------------------------------------------
  // errors

  /** Map SDK failures: domain errors pass through, outages become 503, the rest a logged 500. */
  private async call<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ReccError) throw err;
      const e = err as { name?: string; message?: string; $metadata?: { httpStatusCode?: number }; code?: string };
      const status = e.$metadata?.httpStatusCode;
      // Socket failures carry a Node errno code (ECONNREFUSED, ECONNRESET, ETIMEDOUT, EPIPE, EAI_AGAIN, …).
      const network = typeof e.code === 'string' && /^E[A-Z_]+$/.test(e.code);
      if (RETRYABLE_NAMES.has(e.name ?? '') || (status !== undefined && status >= 500) || network) {
        throw new BackendUnavailableError(`cluster store unavailable during ${op}: ${e.message ?? String(err)}`, { cause: err });
      }
      throw new ClusterStoreError(`cluster store ${op} failed: ${e.name ?? 'Error'}: ${e.message ?? String(err)}`, { cause: err });
    }
  }
}

// ---------------------------------------------------------------------------
// item mapping

/**
 * Nested objects as `Map`s for the marshaller. `@aws-sdk/util-dynamodb`
 * recognises a plain object by `value.constructor.name === 'Object'`, so a
 * user map with a `constructor` key (`env: {constructor: "y"}`) was refused
 * with "Unsupported type" (a 500). A Map is marshalled from its entries,
 * whatever the keys are.
 */
function asMarshallable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asMarshallable);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return new Map(Object.entries(value).map(([k, v]) => [k, asMarshallable(v)]));
  }
  return value;
}

function toItem(record: ClusterRecord): Item {
  const fields = Object.fromEntries(Object.entries(record).map(([k, v]) => [k, asMarshallable(v)]));
  const item: Item = {
    ...fields,
    pk: KEYS.clusterPk(record.id),
    sk: KEYS.clusterSk,
    entity: 'cluster',
    gsi1pk: KEYS.ownerPk(record.owner),
    gsi1sk: KEYS.createdSk(record.createdAt, record.id),
    gsi2pk: KEYS.statusPk(record.status),
    gsi2sk: KEYS.createdSk(record.createdAt, record.id),
  };
  if (isLiveStatus(record.status)) item.gsi3pk = KEYS.livePk;
  return item;
}

function fromItem(item: Item): ClusterRecord {
  const record: Item = { ...item };
  for (const key of KEY_ATTRIBUTES) delete record[key];
  return record as unknown as ClusterRecord;
}

function historyItem(change: StatusChange): Item {
  return { ...structuredClone(change), pk: KEYS.clusterPk(change.clusterId), sk: KEYS.historySk(change.version), entity: 'history' };
}

function fromHistoryItem(item: Item): StatusChange {
  const change: Item = { ...item };
  for (const key of KEY_ATTRIBUTES) delete change[key];
  return change as unknown as StatusChange;
}

function tokenItem(record: ClusterRecord): Item {
  return {
    pk: KEYS.tokenPk(record.owner, record.clientToken ?? ''),
    sk: KEYS.tokenSk,
    entity: 'token',
    owner: record.owner,
    clientToken: record.clientToken,
    clusterId: record.id,
    createdAt: record.createdAt,
  };
}

function withLaterTimes(candidate: ClusterRecord, current: ClusterRecord): ClusterRecord {
  const next = structuredClone(candidate);
  next.lastActivityAt = laterOf(candidate.lastActivityAt, current.lastActivityAt) ?? candidate.lastActivityAt;
  const hb = laterOf(candidate.lastHeartbeatAt, current.lastHeartbeatAt);
  if (hb !== undefined) next.lastHeartbeatAt = hb;
  return next;
}

/** A copy without keys whose value is undefined (DynamoDB never stores them). */
function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

function dedupe(records: ClusterRecord[]): ClusterRecord[] {
  const byId = new Map<string, ClusterRecord>();
  for (const r of records) {
    const seen = byId.get(r.id);
    if (seen === undefined || seen.version < r.version) byId.set(r.id, r);
  }
  return [...byId.values()];
}

// ---------------------------------------------------------------------------
// SDK error helpers

function isConditionFailure(err: unknown): boolean {
  return (err as { name?: string } | undefined)?.name === 'ConditionalCheckFailedException';
}

/** Codes of a TransactionCanceledException, in TransactItems order; undefined for other errors. */
function cancellationCodes(err: unknown): (string | undefined)[] | undefined {
  const e = err as { name?: string; CancellationReasons?: { Code?: string }[] } | undefined;
  if (e?.name !== 'TransactionCanceledException') return undefined;
  return (e.CancellationReasons ?? []).map((r) => r.Code);
}

function oldItemFromConditionFailure(err: unknown): ClusterRecord | undefined {
  const raw = (err as { Item?: Record<string, AttributeValue> }).Item;
  return raw === undefined || Object.keys(raw).length === 0 ? undefined : fromItem(unmarshall(raw));
}

function oldItemFromCancellation(err: unknown): ClusterRecord | undefined {
  const raw = (err as { CancellationReasons?: { Item?: Record<string, AttributeValue> }[] }).CancellationReasons?.[0]?.Item;
  return raw === undefined || Object.keys(raw).length === 0 ? undefined : fromItem(unmarshall(raw));
}

async function backoff(attempt: number): Promise<void> {
  const ms = Math.min(10 * 2 ** Math.min(attempt, 6), 500) * (0.5 + Math.random());
  await new Promise((r) => setTimeout(r, ms));
}
