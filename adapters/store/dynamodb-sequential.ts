import { isDeepStrictEqual } from 'node:util';
import { DeleteCommand, GetCommand, PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { backoffDelay, sleep, type BackoffPolicy } from '../../shared/core/retry.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import { BackendUnavailableError, VersionConflictError } from '../../shared/ports/errors.ts';
import { QuotaExceededError } from '../../shared/quota/errors.ts';
import { toItem, tokenItem, tokenTarget, withoutUndefined } from './dynamodb-items.ts';
import { KEYS } from './dynamodb-table.ts';
import { grows, reversed, updateUsageOnce, violationsNow, type UsageWrite } from './dynamodb-usage.ts';
import { isConditionFailure, putHistory, putRecordOnce, type ClusterWriter, type ConditionalPut, type WriteOutcome, type WriterContext } from './dynamodb-writer.ts';

/** Polling for the record of a clientToken another creator holds: 20 ms growing to 200 ms, no jitter needed. */
const TOKEN_POLL: BackoffPolicy = Object.freeze({ initialMs: 20, maxMs: 200, factor: 1.5, jitter: 'none' });

/**
 * Writes for dynalite, which has no transactions: the items of one change as
 * an ordered sequence of conditional writes.
 *
 * `create`: the idempotency item first (`attribute_not_exists`, so exactly
 * one creator wins a clientToken), then the record (`attribute_not_exists`),
 * then the history item. A record write: the record first (conditional on the
 * version, so only the winner continues), then its history item. A crash
 * between the steps can leave a history gap, or a token that points at a
 * record that never appeared; a later create with that token waits
 * `idempotencyWaitMs` for the record, then takes the token over with a
 * conditional swap.
 *
 * Quota usage: increases are reserved before the record is written (each a
 * conditional ADD, so a limit is never overshot) and undone if the record
 * write loses; decreases are applied after the record write. A crash between
 * the steps can leave usage counted too high, never too low.
 */
export class SequentialWriter implements ClusterWriter {
  constructor(
    private readonly ctx: WriterContext,
    private readonly idempotencyWaitMs: number,
  ) {}

  async create(record: ClusterRecord, change: StatusChange, usage: readonly UsageWrite[]): Promise<{ record: ClusterRecord; created: boolean }> {
    const token = record.clientToken;
    if (token !== undefined) {
      const existing = await this.claimToken(record, token);
      if (existing !== undefined) return { record: existing, created: false };
    }
    for (let attempt = 0; ; attempt += 1) {
      const refused = await this.reserve(usage);
      if (refused === undefined) break;
      const violations = await violationsNow(this.ctx, [refused]);
      // Empty: a release landed between the failed condition and the re-read; reserve again.
      if (violations.length > 0 || attempt + 1 >= this.ctx.maxAttempts) {
        if (token !== undefined) await this.releaseToken(record, token);
        if (violations.length === 0) throw new BackendUnavailableError(`create of ${record.id} kept racing quota releases; retry the request`);
        throw new QuotaExceededError(violations);
      }
    }
    try {
      await this.ctx.doc.send(new PutCommand({ TableName: this.ctx.table, Item: toItem(record), ConditionExpression: 'attribute_not_exists(pk)' }));
    } catch (err) {
      const clash = isConditionFailure(err) ? await this.ctx.getRecord(record.id) : undefined;
      // An SDK retry of our own PutItem whose answer was lost finds our record: that is success.
      const ours = clash !== undefined && isDeepStrictEqual(clash, withoutUndefined(record));
      if (!ours) {
        await this.unreserve(usage.filter(grows));
        if (token !== undefined) await this.releaseToken(record, token);
        if (isConditionFailure(err)) throw new VersionConflictError(record.id, 0, clash, { cause: err });
        throw err;
      }
    }
    await putHistory(this.ctx, change);
    return { record: structuredClone(record), created: true };
  }

  async writeOnce(put: ConditionalPut, change: StatusChange | undefined, usage: readonly UsageWrite[]): Promise<WriteOutcome> {
    const refused = await this.reserve(usage);
    if (refused !== undefined) return { kind: 'quota', writes: [refused], known: new Map(), cause: undefined };
    const outcome = await putRecordOnce(this.ctx, put);
    if (outcome.kind !== 'written') {
      await this.unreserve(usage.filter(grows));
      return outcome;
    }
    // Only the winner of the record write appends the history item and releases usage.
    if (change !== undefined) await putHistory(this.ctx, change);
    for (const write of usage.filter((w) => !grows(w))) await updateUsageOnce(this.ctx, write);
    return outcome;
  }

  /** Reserve every increase (conditional ADDs); on a refusal undo the ones made and return the refused write. */
  private async reserve(usage: readonly UsageWrite[]): Promise<UsageWrite | undefined> {
    const done: UsageWrite[] = [];
    for (const write of usage.filter(grows)) {
      if (!(await updateUsageOnce(this.ctx, write))) {
        await this.unreserve(done);
        return write;
      }
      done.push(write);
    }
    return undefined;
  }

  private async unreserve(writes: readonly UsageWrite[]): Promise<void> {
    for (const write of writes) await updateUsageOnce(this.ctx, reversed(write));
  }

  /** Make `record.id` the owner of (owner, token), or return the record of the creator that already owns it. */
  private async claimToken(record: ClusterRecord, token: string): Promise<ClusterRecord | undefined> {
    const { doc, table } = this.ctx;
    for (let attempt = 0; attempt < this.ctx.maxAttempts; attempt += 1) {
      try {
        await doc.send(new PutCommand({ TableName: table, Item: tokenItem(record), ConditionExpression: 'attribute_not_exists(pk)' }));
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
        await sleep(backoffDelay(poll, TOKEN_POLL));
      }
      if (holder === undefined) continue;
      // The holder never wrote its record (it crashed): take the token over.
      try {
        await doc.send(
          new UpdateCommand({
            TableName: table,
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
      await this.ctx.doc.send(
        new DeleteCommand({
          TableName: this.ctx.table,
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
    const { Item } = await this.ctx.doc.send(
      new GetCommand({ TableName: this.ctx.table, Key: { pk: KEYS.tokenPk(owner, token), sk: KEYS.tokenSk }, ConsistentRead: true }),
    );
    if (Item === undefined) return undefined;
    const clusterId = tokenTarget(Item);
    return { clusterId, record: await this.ctx.getRecord(clusterId) };
  }
}
