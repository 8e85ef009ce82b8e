import type { ClusterStore, QuotaWriteOptions } from '../../shared/ports/cluster-store.ts';
import { ClusterNotFoundError, VersionConflictError } from '../../shared/ports/errors.ts';
import type { ClusterRecord, ClusterStatus, StatusChange } from '../../shared/lifecycle/types.ts';
import { QuotaExceededError } from '../../shared/quota/errors.ts';
import { quotaViolations } from '../../shared/quota/limits.ts';
import { addUsage, usageDeltas, ZERO_USAGE, type Usage } from '../../shared/quota/usage.ts';
import { checkCreate, checkPut, checkTouch, isLiveStatus, laterOf, leastRecentlyActiveFirst, newestFirst } from './common.ts';

/**
 * In-memory ClusterStore with the same semantics as the DynamoDB adapter:
 * versioned conditional puts, clientToken idempotency per owner, status
 * history, forward-only `touch`. Every method is atomic (no await between
 * check and write) and records are copied in and out, so callers can never
 * mutate stored state. Used by unit tests, `control/` tests and the local
 * stack when no DynamoDB endpoint is configured.
 */
export class InMemoryClusterStore implements ClusterStore {
  private readonly records = new Map<string, ClusterRecord>();
  private readonly tokens = new Map<string, string>();
  private readonly changes = new Map<string, StatusChange[]>();
  /** Usage per quota scope, changed only together with the record write that causes it. */
  private readonly usages = new Map<string, Usage>();

  async create(record: ClusterRecord, change: StatusChange, options: QuotaWriteOptions = {}): Promise<{ record: ClusterRecord; created: boolean }> {
    checkCreate(record, change);
    const tokenKey = record.clientToken === undefined ? undefined : JSON.stringify([record.owner, record.clientToken]);
    if (tokenKey !== undefined) {
      const existingId = this.tokens.get(tokenKey);
      const existing = existingId === undefined ? undefined : this.records.get(existingId);
      if (existing !== undefined) return { record: structuredClone(existing), created: false };
    }
    const clash = this.records.get(record.id);
    if (clash !== undefined) throw new VersionConflictError(record.id, 0, structuredClone(clash));
    this.applyUsage(usageDeltas(undefined, record), options);
    this.records.set(record.id, structuredClone(record));
    this.changes.set(record.id, [structuredClone(change)]);
    if (tokenKey !== undefined) this.tokens.set(tokenKey, record.id);
    return { record: structuredClone(record), created: true };
  }

  async get(id: string): Promise<ClusterRecord | undefined> {
    const r = this.records.get(id);
    return r === undefined ? undefined : structuredClone(r);
  }

  async listByOwner(owner: string, options: { status?: ClusterStatus } = {}): Promise<ClusterRecord[]> {
    return this.select((r) => r.owner === owner && (options.status === undefined || r.status === options.status)).sort(newestFirst);
  }

  async listAll(options: { status?: ClusterStatus } = {}): Promise<ClusterRecord[]> {
    return this.select((r) => options.status === undefined || r.status === options.status).sort(newestFirst);
  }

  async listLive(): Promise<ClusterRecord[]> {
    return this.select((r) => isLiveStatus(r.status)).sort(leastRecentlyActiveFirst);
  }

  async put(next: ClusterRecord, expectedVersion: number, change?: StatusChange, options: QuotaWriteOptions = {}): Promise<ClusterRecord> {
    checkPut(next, expectedVersion, change);
    const current = this.records.get(next.id);
    if (current === undefined) throw new ClusterNotFoundError(next.id);
    if (current.version !== expectedVersion) throw new VersionConflictError(next.id, expectedVersion, structuredClone(current));
    this.applyUsage(usageDeltas(current, next), options);
    const stored = structuredClone(next);
    // Activity timestamps only move forward, even when `next` was built from a
    // read that predates a concurrent touch (touch does not bump the version).
    stored.lastActivityAt = laterOf(current.lastActivityAt, next.lastActivityAt) ?? next.lastActivityAt;
    const heartbeat = laterOf(current.lastHeartbeatAt, next.lastHeartbeatAt);
    if (heartbeat === undefined) delete stored.lastHeartbeatAt;
    else stored.lastHeartbeatAt = heartbeat;
    this.records.set(next.id, stored);
    if (change !== undefined) this.changes.get(next.id)?.push(structuredClone(change));
    return structuredClone(stored);
  }

  async touch(id: string, at: { activityAt?: string; heartbeatAt?: string }): Promise<ClusterRecord | undefined> {
    checkTouch(at);
    const current = this.records.get(id);
    if (current === undefined) return undefined;
    current.lastActivityAt = laterOf(current.lastActivityAt, at.activityAt) ?? current.lastActivityAt;
    const heartbeat = laterOf(current.lastHeartbeatAt, at.heartbeatAt);
    if (heartbeat !== undefined) current.lastHeartbeatAt = heartbeat;
    return structuredClone(current);
  }

  async history(id: string): Promise<StatusChange[]> {
    return structuredClone(this.changes.get(id) ?? []).sort((a, b) => a.version - b.version);
  }

  async usage(scopes: readonly string[]): Promise<Map<string, Usage>> {
    return new Map(scopes.map((scope) => [scope, { ...(this.usages.get(scope) ?? ZERO_USAGE) }]));
  }

  /** Check every increase against its limits first, then apply all deltas (nothing changes on a violation). */
  private applyUsage(deltas: Map<string, Usage>, options: QuotaWriteOptions): void {
    const violations = [...deltas].flatMap(([scope, delta]) => quotaViolations(scope, this.usages.get(scope) ?? ZERO_USAGE, delta, options.quota?.get(scope)));
    if (violations.length > 0) throw new QuotaExceededError(violations);
    for (const [scope, delta] of deltas) this.usages.set(scope, addUsage(this.usages.get(scope) ?? ZERO_USAGE, delta));
  }

  private select(keep: (r: ClusterRecord) => boolean): ClusterRecord[] {
    return [...this.records.values()].filter(keep).map((r) => structuredClone(r));
  }
}
