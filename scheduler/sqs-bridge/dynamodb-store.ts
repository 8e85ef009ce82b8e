import { ConditionalCheckFailedException } from '@aws-sdk/client-dynamodb';
import { BatchWriteCommand, GetCommand, PutCommand, QueryCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { randomBytes } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { retry } from '../../shared/core/retry.ts';
import { SubmissionStoreError } from './errors.ts';
import type { AppendOptions, LogSize, StoreRecord, SubmissionStore } from './store.ts';

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

/** Bytes of a record per item (DynamoDB's item limit is 400 KB, keys and attributes included). */
export const CHUNK_BYTES = 350 * 1024;
const DELETE_RETRY = { initialMs: 50, maxMs: 2_000, factor: 2, jitter: 'equal' as const, deadlineMs: 30_000 };

export interface DynamoDbSubmissionStoreOptions {
  client: DynamoDBDocumentClient;
  tableName: string;
  /**
   * The partition of this cluster's record: `SQSLOG#<namespace>` on EKS, so
   * the scheduler's role reaches it through `dynamodb:LeadingKeys` and the
   * pod's namespace tag (`submissionLogPartition`).
   */
  partition: string;
  /** Items expire this long after their last write (DynamoDB TTL, attribute `ttl`). @default 14 days */
  ttlSeconds?: number;
  /** @default Date.now */
  now?: () => number;
}

/** The partition key of a cluster's submission record. */
export function submissionLogPartition(namespaceOrClusterId: string): string {
  return `SQSLOG#${namespaceOrClusterId}`;
}

const HEAD_SK = 'HEAD';
/** The first generation (no head yet); later ones are random, so a crashed compaction's leftovers never collide with the next. */
const FIRST_GEN = '0';
const genPrefix = (gen: string) => `G${gen}#`;
const itemSk = (gen: string, seq: number, part: number) => `${genPrefix(gen)}${String(seq).padStart(12, '0')}#${String(part).padStart(4, '0')}`;

interface LogItem {
  sk: string;
  data: Uint8Array;
  parts?: number;
  ttl?: number;
}

/**
 * The SubmissionStore in the cluster table (DynamoDB), so a scheduler pod
 * that restarts anywhere reloads what its cluster accepted. One partition per
 * cluster (`partition`):
 *
 * | item | sk | attributes |
 * |---|---|---|
 * | head | `HEAD` | `gen`: the live generation |
 * | record part | `G<gen>#<seq¹²>#<part⁴>` | `data` (msgpack, ≤ 350 KiB), `parts` on part 0, `ttl` |
 *
 * Every write is conditional: a record part is put only where none is
 * (`attribute_not_exists`), so two schedulers writing one cluster's record
 * fail loudly instead of overwriting each other; the head moves only from the
 * generation this store read (compaction is fenced the same way). Part 0 of
 * a record is written last and names the count, so a record torn by a crash
 * is ignored on load. Compaction writes the kept records as a new
 * generation (a random id), moves the head, then deletes older generations (what a crash
 * leaves behind is deleted by the next compaction, or expires by TTL).
 * Writes are durable when they resolve: `sync: false` changes nothing here.
 */
export class DynamoDbSubmissionStore implements SubmissionStore {
  private gen = FIRST_GEN;
  private headGen: string | undefined;
  private nextSeq = 0;
  private loaded = false;
  /** Appends called and not settled (close waits for them). */
  private readonly inFlight = new Set<Promise<unknown>>();
  /** Appends numbered in the current generation and being written (a compaction waits for these only). */
  private readonly writing = new Set<Promise<unknown>>();
  private logSize: LogSize = { records: 0, bytes: 0 };
  /** Appends waiting for a load or a compaction (later ones queue behind them). */
  private waiting = 0;
  private compacting: Promise<void> | undefined;
  private readonly ttlSeconds: number;
  private readonly now: () => number;

  constructor(private readonly options: DynamoDbSubmissionStoreOptions) {
    this.ttlSeconds = options.ttlSeconds ?? 14 * 86_400;
    this.now = options.now ?? Date.now;
  }

  private get pk() {
    return { pk: this.options.partition };
  }

  async load(): Promise<StoreRecord[]> {
    try {
      const head = await this.options.client.send(new GetCommand({ TableName: this.options.tableName, Key: { ...this.pk, sk: HEAD_SK }, ConsistentRead: true }));
      this.headGen = typeof head.Item?.gen === 'string' ? head.Item.gen : undefined;
      this.gen = this.headGen ?? FIRST_GEN;
      const items = await this.query(genPrefix(this.gen));
      const nowS = Math.floor(this.now() / 1000);
      const bySeq = new Map<string, LogItem[]>();
      for (const item of items) {
        // Emulators never delete expired items: what DynamoDB would have dropped is ignored.
        if (typeof item.ttl === 'number' && item.ttl < nowS) continue;
        const seq = item.sk.slice(genPrefix(this.gen).length, genPrefix(this.gen).length + 12);
        let parts = bySeq.get(seq);
        if (!parts) bySeq.set(seq, (parts = []));
        parts.push(item);
      }
      const out: StoreRecord[] = [];
      let maxSeq = -1;
      let bytes = 0;
      for (const [seq, parts] of [...bySeq].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
        maxSeq = Math.max(maxSeq, Number(seq));
        parts.sort((a, b) => (a.sk < b.sk ? -1 : 1));
        const count = parts[0]?.sk.endsWith('#0000') ? parts[0].parts : undefined;
        if (count === undefined || parts.length !== count) continue; // torn: part 0 is written last
        const data = Buffer.concat(parts.map((p) => p.data));
        const record = unpackOrUndefined(data);
        if (record) {
          out.push(record);
          bytes += data.length;
        }
      }
      this.nextSeq = maxSeq + 1;
      this.logSize = { records: out.length, bytes };
      this.loaded = true;
      return out;
    } catch (err) {
      throw storeError(`cannot read the submission record of ${this.options.partition}`, err);
    }
  }

  append(records: readonly StoreRecord[], _options: AppendOptions = {}): Promise<void> {
    if (records.length === 0) return Promise.resolve();
    // Numbered at the call when nothing is ahead of it, so a compaction that starts next orders it before itself.
    if (this.loaded && !this.compacting && this.waiting === 0) return this.track(this.write(records));
    this.waiting++;
    return this.track(
      (async () => {
        try {
          await this.ready();
        } finally {
          this.waiting--;
        }
        return this.write(records);
      })(),
    );
  }

  /** Number the records (in call order: concurrent appends keep their order on load) and put them in the current generation. */
  private async write(records: readonly StoreRecord[]): Promise<void> {
    const numbered = records.map((r) => ({ seq: this.nextSeq++, body: packr.pack(r) }));
    for (const n of numbered) {
      this.logSize.records++;
      this.logSize.bytes += n.body.length;
    }
    const gen = this.gen;
    const puts = Promise.all(numbered.map((n) => this.putRecord(gen, n.seq, n.body)));
    this.writing.add(puts);
    try {
      await puts;
    } finally {
      this.writing.delete(puts);
    }
  }

  private async ready(): Promise<void> {
    while (this.compacting) await this.compacting.catch(() => undefined);
    if (!this.loaded) await this.load();
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.inFlight.add(p);
    const done = () => this.inFlight.delete(p);
    p.then(done, done);
    return p;
  }

  private async putRecord(gen: string, seq: number, body: Buffer): Promise<void> {
    const chunks: Buffer[] = [];
    for (let at = 0; at < body.length || chunks.length === 0; at += CHUNK_BYTES) chunks.push(body.subarray(at, at + CHUNK_BYTES));
    const ttl = Math.floor(this.now() / 1000) + this.ttlSeconds;
    const put = (part: number) =>
      this.options.client.send(
        new PutCommand({
          TableName: this.options.tableName,
          Item: { ...this.pk, sk: itemSk(gen, seq, part), entity: 'sqs-log', data: chunks[part], ttl, ...(part === 0 ? { parts: chunks.length } : {}) },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
    try {
      await Promise.all(chunks.slice(1).map((_, i) => put(i + 1)));
      await put(0);
    } catch (err) {
      if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') {
        throw new SubmissionStoreError(`another writer holds the submission record of ${this.options.partition} (record ${seq} of generation ${gen} exists); is a second scheduler running for this cluster?`, { cause: err });
      }
      throw storeError(`cannot record submissions in ${this.options.partition}`, err);
    }
  }

  async compact(records: readonly StoreRecord[]): Promise<void> {
    while (this.compacting) await this.compacting.catch(() => undefined);
    const run = (async () => {
      if (!this.loaded) await this.load();
      // Appends already numbered belong to the old generation; those after this wait for the new one
      // (waiting for every append in flight would wait for those, which wait for this: a deadlock).
      while (this.writing.size > 0) await Promise.allSettled([...this.writing]);
      const from = this.headGen;
      const gen = `${Date.now().toString(36)}${randomBytes(4).toString('hex')}`;
      const bodies = records.map((r) => packr.pack(r));
      try {
        await Promise.all(bodies.map((body, seq) => this.putRecord(gen, seq, body)));
        await this.options.client.send(
          new PutCommand({
            TableName: this.options.tableName,
            Item: { ...this.pk, sk: HEAD_SK, entity: 'sqs-log', gen },
            ConditionExpression: from === undefined ? 'attribute_not_exists(pk)' : 'gen = :from',
            ...(from === undefined ? {} : { ExpressionAttributeValues: { ':from': from } }),
          }),
        );
      } catch (err) {
        if (err instanceof SubmissionStoreError) throw err;
        if (err instanceof ConditionalCheckFailedException || (err as { name?: string }).name === 'ConditionalCheckFailedException') {
          throw new SubmissionStoreError(`the submission record of ${this.options.partition} was compacted by another writer; is a second scheduler running for this cluster?`, { cause: err });
        }
        throw storeError(`cannot compact the submission record of ${this.options.partition}`, err);
      }
      this.gen = gen;
      this.headGen = gen;
      this.nextSeq = records.length;
      this.logSize = { records: records.length, bytes: bodies.reduce((n, b) => n + b.length, 0) };
      await this.dropOtherGenerations(gen).catch(() => undefined); // retried by the next compaction; TTL otherwise
    })();
    this.compacting = run;
    try {
      await run;
    } finally {
      if (this.compacting === run) this.compacting = undefined;
    }
  }

  size(): LogSize {
    return { ...this.logSize };
  }

  private async dropOtherGenerations(keep: string): Promise<void> {
    const stale = (await this.query('G')).filter((i) => !i.sk.startsWith(genPrefix(keep)));
    for (let i = 0; i < stale.length; i += 25) {
      let requests = stale.slice(i, i + 25).map((s) => ({ DeleteRequest: { Key: { ...this.pk, sk: s.sk } } }));
      await retry(async () => {
        const out = await this.options.client.send(new BatchWriteCommand({ RequestItems: { [this.options.tableName]: requests } }));
        const left = out.UnprocessedItems?.[this.options.tableName] ?? [];
        if (left.length === 0) return;
        requests = left as typeof requests;
        throw new Error(`${left.length} deletes left`);
      }, DELETE_RETRY);
    }
  }

  private async query(prefix: string): Promise<LogItem[]> {
    const out: LogItem[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.options.client.send(
        new QueryCommand({
          TableName: this.options.tableName,
          KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
          ExpressionAttributeValues: { ':pk': this.options.partition, ':prefix': prefix },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) out.push(item as LogItem);
      start = page.LastEvaluatedKey;
    } while (start);
    return out;
  }

  async close(): Promise<void> {
    while (this.inFlight.size > 0 || this.compacting) {
      await Promise.allSettled([...this.inFlight, ...(this.compacting ? [this.compacting] : [])]);
    }
  }
}

function unpackOrUndefined(data: Buffer): StoreRecord | undefined {
  try {
    return unpackr.unpack(data) as StoreRecord;
  } catch {
    return undefined;
  }
}

function storeError(message: string, err: unknown): SubmissionStoreError {
  return new SubmissionStoreError(`${message}: ${(err as Error).name ?? ''} ${(err as Error).message ?? ''}`.trim(), { cause: err });
}
