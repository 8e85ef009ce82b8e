import type { ClusterRecord, ClusterStatus, StatusChange } from '../lifecycle/types.ts';

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
   * returns it with `created: false` and writes nothing.
   */
  create(record: ClusterRecord, change: StatusChange): Promise<{ record: ClusterRecord; created: boolean }>;

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
   * the backend has them).
   */
  put(next: ClusterRecord, expectedVersion: number, change?: StatusChange): Promise<ClusterRecord>;

  /**
   * Record activity without bumping the version (heartbeats must not make
   * lifecycle writes lose races). Only moves timestamps forward; a no-op on a
   * missing record returns undefined.
   */
  touch(id: string, at: { activityAt?: string; heartbeatAt?: string }): Promise<ClusterRecord | undefined>;

  /** Status history, oldest first. */
  history(id: string): Promise<StatusChange[]>;
}
