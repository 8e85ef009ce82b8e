import { TransactionCanceledException } from '@aws-sdk/client-dynamodb';
import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CONFLICT_BACKOFF, backoffDelay, sleep } from '../../shared/core/retry.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { BackendUnavailableError, VersionConflictError } from '../../shared/ports/errors.ts';
import { QuotaExceededError } from '../../shared/quota/errors.ts';
import type { Usage } from '../../shared/quota/usage.ts';
import { historyItem, toItem, tokenItem, tokenTarget } from './dynamodb-items.ts';
import { KEYS } from './dynamodb-table.ts';
import { usageFromAttributes, usageUpdateInput, violationsNow, type UsageWrite } from './dynamodb-usage.ts';
import { cancellationCodes, oldRecordFromCancellation, putRecordOnce, type ClusterWriter, type ConditionalPut, type WriteOutcome, type WriterContext } from './dynamodb-writer.ts';

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/**
 * Writes for backends with TransactWriteItems (AWS, DynamoDB Local).
 * `create` writes record + first history item + idempotency item + one usage
 * item per quota scope in one transaction; a record write with a status
 * change or a usage change writes record + history item + usage items in one
 * transaction. Nothing here knows about dynalite.
 */
export class TransactionalWriter implements ClusterWriter {
  constructor(private readonly ctx: WriterContext) {}

  async create(record: ClusterRecord, change: StatusChange, usage: readonly UsageWrite[]): Promise<{ record: ClusterRecord; created: boolean }> {
    const { doc, table } = this.ctx;
    const token = record.clientToken;
    // Many creators of one scope contend for its usage item: allow more attempts than for a record race.
    const maxAttempts = this.ctx.maxAttempts * (usage.length > 0 ? 10 : 3);
    for (let attempt = 0; ; attempt += 1) {
      if (token !== undefined) {
        const existing = await this.recordForToken(record.owner, token);
        if (existing !== undefined) return { record: existing, created: false };
      }
      const items: TransactItems = [
        { Put: { TableName: table, Item: toItem(record), ConditionExpression: 'attribute_not_exists(pk)' } },
        { Put: { TableName: table, Item: historyItem(change), ConditionExpression: 'attribute_not_exists(pk)' } },
      ];
      if (token !== undefined) items.push({ Put: { TableName: table, Item: tokenItem(record), ConditionExpression: 'attribute_not_exists(pk)' } });
      const usageStart = items.length;
      for (const write of usage) items.push({ Update: usageUpdateInput(table, write) });
      try {
        await doc.send(new TransactWriteCommand({ TransactItems: items }));
        return { record: structuredClone(record), created: true };
      } catch (err) {
        const reasons = cancellationCodes(err);
        if (reasons === undefined) throw err;
        if (reasons[0] === 'ConditionalCheckFailed') throw new VersionConflictError(record.id, 0, await this.ctx.getRecord(record.id), { cause: err });
        const quota = this.quotaFailure(err, usage, usageStart);
        if (quota !== undefined) {
          const violations = await violationsNow(this.ctx, quota.writes, quota.known);
          if (violations.length > 0) throw new QuotaExceededError(violations, { cause: err });
          // Usage dropped since the condition failed: try again (bounded like a conflict).
          if (attempt + 1 >= maxAttempts) throw new BackendUnavailableError(`create of ${record.id} kept racing quota releases; retry the request`, { cause: err });
          continue;
        }
        // Token taken (re-read it at the top of the loop) or a concurrent transaction touched an item.
        const busy = reasons.includes('TransactionConflict');
        if (!busy && (token === undefined || reasons[2] !== 'ConditionalCheckFailed')) throw err;
        if (attempt + 1 >= maxAttempts) {
          throw new BackendUnavailableError(`create of ${record.id} kept conflicting with concurrent writes; retry the request`, { cause: err });
        }
        if (busy) await sleep(backoffDelay(attempt, CONFLICT_BACKOFF));
      }
    }
  }

  async writeOnce(put: ConditionalPut, change: StatusChange | undefined, usage: readonly UsageWrite[]): Promise<WriteOutcome> {
    // Without a status change or a usage change there is one item: a plain conditional put is enough.
    if (change === undefined && usage.length === 0) return putRecordOnce(this.ctx, put);
    const items: TransactItems = [{ Put: put }];
    if (change !== undefined) items.push({ Put: { TableName: this.ctx.table, Item: historyItem(change), ConditionExpression: 'attribute_not_exists(pk)' } });
    const usageStart = items.length;
    for (const write of usage) items.push({ Update: usageUpdateInput(this.ctx.table, write) });
    try {
      await this.ctx.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return { kind: 'written' };
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes === undefined) throw err;
      if (codes[0] === 'ConditionalCheckFailed') return { kind: 'lost', current: oldRecordFromCancellation(err), cause: err };
      const quota = this.quotaFailure(err, usage, usageStart);
      if (quota !== undefined) return { kind: 'quota', ...quota, cause: err };
      if (codes.includes('TransactionConflict')) return { kind: 'busy', cause: err };
      throw err;
    }
  }

  /** The usage writes whose limit condition cancelled the transaction, and the items sent back; undefined if none did. */
  private quotaFailure(err: unknown, usage: readonly UsageWrite[], usageStart: number): { writes: UsageWrite[]; known: Map<string, Usage> } | undefined {
    const reasons = err instanceof TransactionCanceledException ? (err.CancellationReasons ?? []) : [];
    const writes: UsageWrite[] = [];
    const known = new Map<string, Usage>();
    usage.forEach((write, i) => {
      const reason = reasons[usageStart + i];
      if (reason?.Code !== 'ConditionalCheckFailed') return;
      writes.push(write);
      const old = usageFromAttributes(reason.Item);
      if (old !== undefined) known.set(write.scope, old);
    });
    return writes.length > 0 ? { writes, known } : undefined;
  }

  /** The record that owns (owner, token), if its token item exists. */
  private async recordForToken(owner: string, token: string): Promise<ClusterRecord | undefined> {
    const { Item } = await this.ctx.doc.send(
      new GetCommand({ TableName: this.ctx.table, Key: { pk: KEYS.tokenPk(owner, token), sk: KEYS.tokenSk }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : this.ctx.getRecord(tokenTarget(Item));
  }
}
