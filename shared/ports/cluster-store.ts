import type { ClusterRecord, ClusterStatus, StatusChange } from '../lifecycle/types.ts';
import type { QuotaLimitsByScope } from '../quota/limits.ts';
import type { Usage } from '../quota/usage.ts';

/**
 * Quota enforcement on a write (`shared/quota/`). The store derives what the
 * write changes in usage from the records themselves (`usageDeltas(stored,
 * next)` over `record.quotaScopes`) and updates one usage item per scope in
 * the same atomic write as the record. An increase on a scope listed in
 * `quota` must stay within its limits, else `QuotaExceededError` (403) and
 * nothing is written. Decreases always apply.
 */
export interface QuotaWriteOptions {
  quota?: QuotaLimitsByScope;
}

/**
 * Persistence port for cluster records. Adapters: DynamoDB (real AWS, DynamoDB
 * Local, dynalite) and in-memory. `test/conformance/cluster-store.ts` is the
 * contract every adapter passes.
 *
 * Concurrency: every state change is conditional on `expectedVersion`. A lost
 * race throws `VersionConflictError` (in `shared/ports/errors.ts`) carrying
 * the current record. A missing record throws `ClusterNotFoundError`.
 */
export interface ClusterStore {
  /**
   * Insert a new record (version 1) and its first history entry.
   * Idempotent by `clientToken`: if a record for (owner, clientToken) exists,
   * returns it with `created: false` and writes nothing. A record with
   * `quotaScopes` adds its usage to each scope in the same atomic write.
   */
  create(record: ClusterRecord, change: StatusChange, options?: QuotaWriteOptions): Promise<{ record: ClusterRecord; created: boolean }>;

  get(id: string): Promise<ClusterRecord | undefined>;

  /** The owner's clusters, newest first. */
  listByOwner(owner: string, options?: { status?: ClusterStatus }): Promise<ClusterRecord[]>;

  /** Every cluster, newest first (admins). */
  listAll(options?: { status?: ClusterStatus }): Promise<ClusterRecord[]>;

  /** Clusters in live statuses ordered by lastActivityAt ascending (harvester). */
  listLive(): Promise<ClusterRecord[]>;

  /**
   * Replace the record with `next` if the stored version is `expectedVersion`.
   * `next.version` must be `expectedVersion + 1`. When `change` is given it is
   * appended to the history in the same conditional write (a transaction where
   * the backend has them). Usage moves with the record (see
   * `QuotaWriteOptions`): a release (DELETING, FAILED, …) or scale-down
   * decrements, a scale-up increments within `options.quota`.
   */
  put(next: ClusterRecord, expectedVersion: number, change?: StatusChange, options?: QuotaWriteOptions): Promise<ClusterRecord>;

  /**
   * Record activity without bumping the version (heartbeats must not make
   * lifecycle writes lose races). Only moves timestamps forward; a no-op on a
   * missing record returns undefined.
   */
  touch(id: string, at: { activityAt?: string; heartbeatAt?: string }): Promise<ClusterRecord | undefined>;

  /** Status history, oldest first. */
  history(id: string): Promise<StatusChange[]>;

  /** Current usage of each scope (stored units; zero for a scope never charged). Strongly consistent. */
  usage(scopes: readonly string[]): Promise<Map<string, Usage>>;
}
