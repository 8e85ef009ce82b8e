import { isDeepStrictEqual } from 'node:util';
import { ConditionalCheckFailedException, TransactionCanceledException, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { PutCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { CONFLICT_BACKOFF, backoffDelay, sleep } from '../../shared/core/retry.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { ClusterNotFoundError, VersionConflictError } from '../../shared/ports/errors.ts';
import { QuotaExceededError } from '../../shared/quota/errors.ts';
import type { Usage } from '../../shared/quota/usage.ts';
import { fromItem, historyItem, toItem, withLaterTimes, withoutUndefined, type Item } from './dynamodb-items.ts';
import { violationsNow, type UsageWrite } from './dynamodb-usage.ts';

/**
 * The internal write interface of the DynamoDB cluster store. Two
 * implementations, chosen once when the store is built:
 *
 * - `TransactionalWriter` (`dynamodb-transactional.ts`): AWS and DynamoDB
 *   Local; record, history and idempotency items in one TransactWriteItems.
 * - `SequentialWriter` (`dynamodb-sequential.ts`): dynalite, which has no
 *   transactions; the same items as an ordered sequence of conditional writes.
 *
 * Both report a lost race the same way (`WriteOutcome`), so the version and
 * activity-time rules of `put` (`conditionalPut` below) are written once and
 * neither path carries a branch for the other.
 */
export interface WriterContext {
  readonly doc: DynamoDBDocumentClient;
  readonly table: string;
  /** Attempts for internal retries (transaction conflicts, touch races, token settling). */
  readonly maxAttempts: number;
  /** Consistent read of a cluster record. */
  getRecord(id: string): Promise<ClusterRecord | undefined>;
}

/** What one conditional write of a record did. */
export type WriteOutcome =
  | { kind: 'written' }
  /** The condition failed; `current` is the stored record when the backend sent it back. */
  | { kind: 'lost'; current: ClusterRecord | undefined; cause: unknown }
  /** A concurrent transaction touched an item; nothing was written, try again after a pause. */
  | { kind: 'busy'; cause: unknown }
  /** A usage item's limit condition failed; nothing was written. `known`: usage items the backend sent back. */
  | { kind: 'quota'; writes: UsageWrite[]; known: Map<string, Usage>; cause: unknown };

export interface ClusterWriter {
  /** Insert a new record, its first history item and its usage; idempotent per (owner, clientToken). */
  create(record: ClusterRecord, change: StatusChange, usage: readonly UsageWrite[]): Promise<{ record: ClusterRecord; created: boolean }>;
  /** One conditional write of `put` and, when given, its history item and usage changes. */
  writeOnce(put: ConditionalPut, change: StatusChange | undefined, usage: readonly UsageWrite[]): Promise<WriteOutcome>;
}

export type ConditionalPut = ReturnType<typeof conditionalPutInput>;

/** PutItem input for `record`, conditional on the version and on not moving activity times back. */
export function conditionalPutInput(table: string, record: ClusterRecord, expectedVersion: number) {
  const heartbeat = record.lastHeartbeatAt === undefined ? 'attribute_not_exists(#hb)' : '(attribute_not_exists(#hb) OR #hb <= :hb)';
  return {
    TableName: table,
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

/**
 * `put` for both writers: write `next` if the stored version is
 * `expectedVersion`. A lost race whose current record has the same version
 * differs only by activity times a `touch` moved forward after the caller's
 * read: keep the later times and write again. A current record equal to ours
 * means our own write landed and only its answer was lost (an SDK retry).
 */
export async function conditionalPut(
  ctx: WriterContext,
  writer: ClusterWriter,
  next: ClusterRecord,
  expectedVersion: number,
  change: StatusChange | undefined,
  usage: readonly UsageWrite[] = [],
): Promise<ClusterRecord> {
  let candidate = structuredClone(next);
  for (let attempt = 0; attempt < ctx.maxAttempts; attempt += 1) {
    const outcome = await writer.writeOnce(conditionalPutInput(ctx.table, candidate, expectedVersion), change, usage);
    if (outcome.kind === 'written') return candidate;
    if (outcome.kind === 'busy') {
      await sleep(backoffDelay(attempt, CONFLICT_BACKOFF));
      continue;
    }
    if (outcome.kind === 'quota') {
      const violations = await violationsNow(ctx, outcome.writes, outcome.known);
      if (violations.length > 0) throw new QuotaExceededError(violations, { cause: outcome.cause });
      continue; // usage dropped since the condition failed: try again
    }
    const current = outcome.current ?? (await ctx.getRecord(next.id));
    if (current === undefined) throw new ClusterNotFoundError(next.id, { cause: outcome.cause });
    if (isDeepStrictEqual(current, withoutUndefined(candidate))) {
      if (change !== undefined) await putHistory(ctx, change);
      return candidate;
    }
    if (current.version !== expectedVersion) throw new VersionConflictError(next.id, expectedVersion, current, { cause: outcome.cause });
    candidate = withLaterTimes(candidate, current);
  }
  throw new VersionConflictError(next.id, expectedVersion, await ctx.getRecord(next.id));
}

/** One conditional PutItem of a record (no transaction), as a `WriteOutcome`. */
export async function putRecordOnce(ctx: WriterContext, put: ConditionalPut): Promise<WriteOutcome> {
  try {
    await ctx.doc.send(new PutCommand(put));
    return { kind: 'written' };
  } catch (err) {
    if (!isConditionFailure(err)) throw err;
    return { kind: 'lost', current: oldRecordFromConditionFailure(err), cause: err };
  }
}

/** Unconditional put of a history item (its key is the version, so a repeat writes the same item). */
export async function putHistory(ctx: WriterContext, change: StatusChange): Promise<void> {
  await ctx.doc.send(new PutCommand({ TableName: ctx.table, Item: historyItem(change) }));
}

// ---------------------------------------------------------------------------
// SDK errors, by class (both are thrown by @aws-sdk/client-dynamodb, which
// lib-dynamodb uses, so `instanceof` holds for the document client too)

export function isConditionFailure(err: unknown): err is ConditionalCheckFailedException {
  return err instanceof ConditionalCheckFailedException;
}

/** Codes of a TransactionCanceledException, in TransactItems order; undefined for other errors. */
export function cancellationCodes(err: unknown): (string | undefined)[] | undefined {
  if (!(err instanceof TransactionCanceledException)) return undefined;
  return (err.CancellationReasons ?? []).map((r) => r.Code);
}

/** The stored record a failed condition sent back (ALL_OLD), when the backend sends it (dynalite does not). */
export function oldRecordFromConditionFailure(err: ConditionalCheckFailedException): ClusterRecord | undefined {
  return recordFromAttributes(err.Item);
}

/** The stored record the first TransactItem's failed condition sent back. */
export function oldRecordFromCancellation(err: unknown): ClusterRecord | undefined {
  return err instanceof TransactionCanceledException ? recordFromAttributes(err.CancellationReasons?.[0]?.Item) : undefined;
}

function recordFromAttributes(raw: Record<string, AttributeValue> | undefined): ClusterRecord | undefined {
  return raw === undefined || Object.keys(raw).length === 0 ? undefined : fromItem(unmarshall(raw) as Item);
}
