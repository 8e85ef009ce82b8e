import type { SubmitMessage } from '../../comm/sqs-envelope/index.ts';
import type { SchedulerEventMessage } from '../../comm/sqs-envelope/index.ts';

/**
 * What the SQS bridge records durably, per session, so that a restarted
 * scheduler recomputes accepted work and a reconnecting client gets the
 * results it has not released. A record is written before the envelope that
 * caused it is acknowledged (deleted from the request queue).
 */
export type StoreRecord =
  /** A submission (its messages as they arrived), by envelope id; `rel`: keys released just before it. */
  | { t: 'submit'; s: string; rq: string; id: string; m: Array<[SubmitMessage, Uint8Array[] | null]>; rel?: string[] }
  | { t: 'cancel'; s: string; id: string; keys: string[] }
  | { t: 'release'; s: string; id: string; keys: string[] }
  /** Results sent to the session's reply queue, kept until released. */
  | { t: 'result'; s: string; m: Array<[SchedulerEventMessage, Uint8Array[] | null]> }
  /**
   * Envelope ids recorded and still within the deduplication window
   * (seen-ids.ts), written by a compaction: the records that carried them
   * may be gone, a redelivered copy must still be dropped.
   */
  | { t: 'seen'; s: string; rq: string; ids: string[] }
  /** The session ended: everything of it can go. */
  | { t: 'close'; s: string; id: string };

/** How much the record holds now (what a compaction wrote, plus appends since). */
export interface LogSize {
  records: number;
  bytes: number;
}

export interface AppendOptions {
  /** @default true */
  sync?: boolean;
}

/**
 * The bridge's durable record of submissions (the port). Local: an
 * append-only file in the cluster's state directory, fsynced per group of
 * appends. On AWS a DynamoDB item per submission would implement the same.
 */
export interface SubmissionStore {
  /** Every record still relevant, in the order written (after a restart: what to recompute). */
  load(): Promise<StoreRecord[]>;
  /**
   * Resolves once the records are durable (concurrent appends share one
   * flush). With `sync: false`, once they would survive a killed process
   * (written to the operating system); a later sync makes them durable, in
   * the order appended. Adapters whose writes are durable anyway ignore it.
   */
  append(records: readonly StoreRecord[], options?: AppendOptions): Promise<void>;
  /**
   * Replace the whole record with these (dropping what no longer matters).
   * Appends already made are ordered before the new record (their effect
   * must be in `records`); appends made after this call are kept after it.
   * A crash at any point leaves either the old record or the new one, with
   * every append that had resolved. One compaction at a time.
   */
  compact(records: readonly StoreRecord[]): Promise<void>;
  /** The record's size since load (a compaction resets it to what it wrote). */
  size(): LogSize;
  close(): Promise<void>;
}
