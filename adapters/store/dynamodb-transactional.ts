import { GetCommand, TransactWriteCommand } from '@aws-sdk/lib-dynamodb';
import { CONFLICT_BACKOFF, backoffDelay, sleep } from '../../shared/core/retry.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { BackendUnavailableError, VersionConflictError } from '../../shared/ports/errors.ts';
import { historyItem, toItem, tokenItem, tokenTarget } from './dynamodb-items.ts';
import { KEYS } from './dynamodb-table.ts';
import { cancellationCodes, oldRecordFromCancellation, putRecordOnce, type ClusterWriter, type ConditionalPut, type WriteOutcome, type WriterContext } from './dynamodb-writer.ts';

type TransactItems = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>;

/**
 * Writes for backends with TransactWriteItems (AWS, DynamoDB Local).
 * `create` writes record + first history item + idempotency item in one
 * transaction; a record write with a status change writes record + history
 * item in one transaction. Nothing here knows about dynalite.
 */
export class TransactionalWriter implements ClusterWriter {
  constructor(private readonly ctx: WriterContext) {}

  async create(record: ClusterRecord, change: StatusChange): Promise<{ record: ClusterRecord; created: boolean }> {
    const { doc, table } = this.ctx;
    const token = record.clientToken;
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
      try {
        await doc.send(new TransactWriteCommand({ TransactItems: items }));
        return { record: structuredClone(record), created: true };
      } catch (err) {
        const reasons = cancellationCodes(err);
        if (reasons === undefined) throw err;
        if (reasons[0] === 'ConditionalCheckFailed') throw new VersionConflictError(record.id, 0, await this.ctx.getRecord(record.id), { cause: err });
        // Token taken (re-read it at the top of the loop) or a concurrent transaction touched an item.
        const busy = reasons.includes('TransactionConflict');
        if (!busy && reasons[2] !== 'ConditionalCheckFailed') throw err;
        if (attempt + 1 >= this.ctx.maxAttempts * 3) {
          throw new BackendUnavailableError(`create of ${record.id} kept conflicting with concurrent writes; retry the request`, { cause: err });
        }
        if (busy) await sleep(backoffDelay(attempt, CONFLICT_BACKOFF));
      }
    }
  }

  async writeOnce(put: ConditionalPut, change: StatusChange | undefined): Promise<WriteOutcome> {
    // Without a status change there is one item: a plain conditional put is enough.
    if (change === undefined) return putRecordOnce(this.ctx, put);
    const items: TransactItems = [
      { Put: put },
      { Put: { TableName: this.ctx.table, Item: historyItem(change), ConditionExpression: 'attribute_not_exists(pk)' } },
    ];
    try {
      await this.ctx.doc.send(new TransactWriteCommand({ TransactItems: items }));
      return { kind: 'written' };
    } catch (err) {
      const codes = cancellationCodes(err);
      if (codes === undefined) throw err;
      if (codes[0] === 'ConditionalCheckFailed') return { kind: 'lost', current: oldRecordFromCancellation(err), cause: err };
      if (codes.includes('TransactionConflict')) return { kind: 'busy', cause: err };
      throw err;
    }
  }

  /** The record that owns (owner, token), if its token item exists. */
  private async recordForToken(owner: string, token: string): Promise<ClusterRecord | undefined> {
    const { Item } = await this.ctx.doc.send(
      new GetCommand({ TableName: this.ctx.table, Key: { pk: KEYS.tokenPk(owner, token), sk: KEYS.tokenSk }, ConsistentRead: true }),
    );
    return Item === undefined ? undefined : this.ctx.getRecord(tokenTarget(Item));
  }
}
