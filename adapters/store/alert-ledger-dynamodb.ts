import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { AlertClaim, AlertLedger } from '../../shared/ports/alert-ledger.ts';
import { BackendUnavailableError } from '../../shared/ports/errors.ts';

/**
 * AlertLedger on DynamoDB: one marker item per alert key in the cluster table
 * (single-table design): `{pk: "ALERT#<key>", sk: "ALERT", at, expiresAt,
 * ttl, note}`. `claim` is a put conditional on `attribute_not_exists(pk)` (or an
 * expired marker), so exactly one of any number of concurrent claimers wins. `ttl` (epoch
 * seconds of `expiresAt`) lets DynamoDB TTL drop old markers where TTL is on;
 * `has` ignores expired markers, since emulators never delete them.
 */
export interface DynamoDbAlertLedgerOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /** Partition and sort key attribute names of the table. @default 'pk', 'sk' */
  partitionKey?: string;
  sortKey?: string;
  /** For the expiry checks. @default Date.now */
  now?: () => number;
}

export class DynamoDbAlertLedger implements AlertLedger {
  private readonly pk: string;
  private readonly sk: string;
  private readonly now: () => number;

  constructor(private readonly options: DynamoDbAlertLedgerOptions) {
    this.pk = options.partitionKey ?? 'pk';
    this.sk = options.sortKey ?? 'sk';
    this.now = options.now ?? Date.now;
  }

  private key(key: string): Record<string, string> {
    return { [this.pk]: `ALERT#${key}`, [this.sk]: 'ALERT' };
  }

  async claim(key: string, claim: AlertClaim): Promise<boolean> {
    const expires = Date.parse(claim.expiresAt);
    try {
      await this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: {
            ...this.key(key),
            entity: 'alert',
            alertKey: key,
            at: claim.at,
            expiresAt: claim.expiresAt,
            ...(Number.isFinite(expires) ? { ttl: Math.floor(expires / 1000) } : {}),
            ...(claim.note !== undefined ? { note: claim.note } : {}),
          },
          // A marker past its expiry counts as absent (emulators never delete TTL items).
          ConditionExpression: 'attribute_not_exists(#pk) OR #exp <= :now',
          ExpressionAttributeNames: { '#pk': this.pk, '#exp': 'expiresAt' },
          ExpressionAttributeValues: { ':now': new Date(this.now()).toISOString() },
        }),
      );
      return true;
    } catch (err) {
      if (isConditionFailed(err)) return false;
      throw new BackendUnavailableError(`could not record alert ${key}`, { cause: err });
    }
  }

  /**
   * Expire the marker instead of deleting it (`UpdateItem`, so the function
   * needs no DeleteItem permission); an expired marker can be claimed again.
   */
  async release(key: string): Promise<void> {
    try {
      await this.options.client.send(
        new UpdateCommand({
          TableName: this.options.tableName,
          Key: this.key(key),
          UpdateExpression: 'SET #exp = :released, #ttl = :zero',
          ConditionExpression: 'attribute_exists(#pk)',
          ExpressionAttributeNames: { '#exp': 'expiresAt', '#ttl': 'ttl', '#pk': this.pk },
          ExpressionAttributeValues: { ':released': RELEASED, ':zero': 0 },
        }),
      );
    } catch (err) {
      if (isConditionFailed(err)) return;
      throw new BackendUnavailableError(`could not release alert ${key}`, { cause: err });
    }
  }

  async has(key: string): Promise<boolean> {
    try {
      const out = await this.options.client.send(
        new GetCommand({ TableName: this.options.tableName, Key: this.key(key), ConsistentRead: true }),
      );
      const item = out.Item;
      if (!item) return false;
      const expires = typeof item.expiresAt === 'string' ? Date.parse(item.expiresAt) : Number.NaN;
      return !(Number.isFinite(expires) && expires <= this.now());
    } catch (err) {
      throw new BackendUnavailableError(`could not read alert ${key}`, { cause: err });
    }
  }
}

/** `expiresAt` of a released claim: long past, so it counts as absent. */
const RELEASED = '1970-01-01T00:00:00.000Z';

function isConditionFailed(err: unknown): boolean {
  return err instanceof ConditionalCheckFailedException;
}
