import type { LogSize } from './store.ts';

/**
 * When the bridge rewrites its submission record during a session: once the
 * record has grown past a floor and to twice what the last compaction kept,
 * by records or by bytes. Doubling keeps the rewriting proportional to what
 * is appended (each byte is rewritten a bounded number of times on average),
 * the floor keeps a small record from being rewritten over and over.
 */
export interface CompactionPolicy {
  /** Records in the log before a compaction is considered (DynamoDB: items read on a restart). */
  minRecords: number;
  /** Bytes in the log before a compaction is considered (the file read on a restart). */
  minBytes: number;
}

export const DEFAULT_COMPACTION: Readonly<CompactionPolicy> = Object.freeze({ minRecords: 5_000, minBytes: 16 * 1024 * 1024 });

export function compactionDue(now: LogSize, afterLast: LogSize, policy: CompactionPolicy): boolean {
  return now.records >= Math.max(policy.minRecords, 2 * afterLast.records) || now.bytes >= Math.max(policy.minBytes, 2 * afterLast.bytes);
}

/**
 * Whether rewriting the record to `kept` records is worth it: only when it
 * drops records. A session whose every submission is still held (each keeps
 * a future the client holds) compacts to as many records as it has, or more
 * (the compacted form adds a function-definition and a release record), and
 * rewriting it would only cost the write. The bridge then waits for the
 * record to double again, as after a compaction.
 */
export function compactionShrinks(before: LogSize, kept: number): boolean {
  return kept < before.records;
}
