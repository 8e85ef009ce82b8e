import type { ClusterSpec, Plan } from '../spec/types.ts';
import { InvalidTransitionError, LifecycleUsageError, RecordInvariantError } from './errors.ts';
import {
  CLUSTER_STATUSES,
  LIVE_STATUSES,
  TERMINAL_STATUSES,
  type ClusterRecord,
  type ClusterStatus,
  type StatusChange,
} from './types.ts';

/**
 * The cluster lifecycle: ONE transition table and pure functions over it.
 *
 *   REQUESTED → PROVISIONING → RUNNING → DELETING → DELETED
 *   REQUESTED | PROVISIONING | RUNNING → DELETING   (a delete may arrive at any live status)
 *   REQUESTED | PROVISIONING | RUNNING | DELETING → FAILED (with a reason)
 *
 * DELETED and FAILED are terminal: nothing leaves them. In particular
 * FAILED → DELETING is NOT a transition. Deleting a FAILED or DELETED cluster
 * (or one already DELETING) is an idempotent no-op, not an error: use cases
 * ask `deleteTarget(status)`, which answers `undefined` for those. Whoever
 * marks a cluster FAILED (the provisioner) tears its backend resources down
 * first, and the harvester's orphan sweep removes anything a FAILED or DELETED
 * record still owns on the backend, so a failed cluster never needs a status
 * of its own to be cleaned up.
 *
 * Self-transitions (RUNNING → RUNNING) are not in the table either; a change
 * that keeps the status (scale, connection details) goes through `revise`.
 */
export const TRANSITIONS: Readonly<Record<ClusterStatus, readonly ClusterStatus[]>> = Object.freeze({
  REQUESTED: Object.freeze(['PROVISIONING', 'DELETING', 'FAILED'] as const),
  PROVISIONING: Object.freeze(['RUNNING', 'DELETING', 'FAILED'] as const),
  RUNNING: Object.freeze(['DELETING', 'FAILED'] as const),
  DELETING: Object.freeze(['DELETED', 'FAILED'] as const),
  DELETED: Object.freeze([] as const),
  FAILED: Object.freeze([] as const),
});

export function allowedTargets(from: ClusterStatus): readonly ClusterStatus[] {
  return TRANSITIONS[from];
}

export function canTransition(from: ClusterStatus, to: ClusterStatus): boolean {
  return TRANSITIONS[from].includes(to);
}

export function isLive(status: ClusterStatus): boolean {
  return LIVE_STATUSES.includes(status);
}

export function isTerminal(status: ClusterStatus): boolean {
  return TERMINAL_STATUSES.includes(status);
}

/**
 * What a delete request does from `status`: `'DELETING'` for a live cluster
 * not yet being deleted, `undefined` (an idempotent no-op) for DELETING,
 * DELETED and FAILED.
 */
export function deleteTarget(status: ClusterStatus): 'DELETING' | undefined {
  return canTransition(status, 'DELETING') ? 'DELETING' : undefined;
}

/** Fields a patch may never change: identity, concurrency and lifecycle bookkeeping. */
const PROTECTED_FIELDS = [
  'id',
  'owner',
  'createdAt',
  'version',
  'status',
  'statusReason',
  'updatedAt',
  'provisioningAt',
  'runningAt',
  'endedAt',
] as const satisfies readonly (keyof ClusterRecord)[];

export interface TransitionContext {
  /** Who causes the change: a user name, `provisioner`, `harvester`, `local-stack`. */
  actor: string;
  /** Required for FAILED; becomes `statusReason` (cleared when absent). */
  reason?: string;
  /** ISO time of the change (`new Date(clock.now()).toISOString()`). */
  at: string;
  /** Other fields to change in the same write (connection, desiredWorkers, lastActivityAt, …). */
  patch?: Partial<ClusterRecord>;
}

/**
 * Move `record` to status `to`. Returns the next record (version + 1,
 * `updatedAt` = `at`, first-entry stamps set, `statusReason` = reason) and the
 * StatusChange to record with it. Pure: `record` is not modified.
 *
 * @throws InvalidTransitionError when the table does not allow from → to.
 * @throws LifecycleUsageError when FAILED has no reason, `at` is not a time or
 *   the patch touches a protected field.
 */
export function transition(
  record: ClusterRecord,
  to: ClusterStatus,
  ctx: TransitionContext,
): { next: ClusterRecord; change: StatusChange } {
  const from = record.status;
  if (!canTransition(from, to)) throw new InvalidTransitionError(record.id, from, to, allowedTargets(from));
  checkTime(ctx.at, 'at');
  if (!ctx.actor) throw new LifecycleUsageError('a transition needs an actor');
  if (to === 'FAILED' && !ctx.reason?.trim()) {
    throw new LifecycleUsageError(`cluster ${record.id}: a transition to FAILED needs a reason`);
  }

  const next = applyPatch(record, ctx.patch);
  next.status = to;
  next.version = record.version + 1;
  next.updatedAt = ctx.at;
  if (ctx.reason) next.statusReason = ctx.reason;
  else delete next.statusReason;
  if (to === 'PROVISIONING' && next.provisioningAt === undefined) next.provisioningAt = ctx.at;
  if (to === 'RUNNING' && next.runningAt === undefined) next.runningAt = ctx.at;
  if (isTerminal(to) && next.endedAt === undefined) next.endedAt = ctx.at;

  const change: StatusChange = { clusterId: record.id, from, to, at: ctx.at, actor: ctx.actor, version: next.version };
  if (ctx.reason) change.reason = ctx.reason;
  return { next, change };
}

/**
 * A change that keeps the status (scale, connection, cost): version + 1 and
 * `updatedAt` = `at`. No StatusChange; store it with `put(next, version)`.
 *
 * @throws LifecycleUsageError when the patch touches a protected field.
 */
export function revise(record: ClusterRecord, ctx: { at: string; patch: Partial<ClusterRecord> }): ClusterRecord {
  checkTime(ctx.at, 'at');
  const next = applyPatch(record, ctx.patch);
  next.version = record.version + 1;
  next.updatedAt = ctx.at;
  return next;
}

export interface NewClusterInput {
  id: string;
  owner: string;
  spec: ClusterSpec;
  plan: Plan;
  /** ISO creation time. */
  at: string;
  /** Defaults to `spec.name`, then the id. */
  name?: string;
  /** Defaults to `spec.job`. */
  job?: string;
  template?: string;
  clientToken?: string;
  /** Defaults to `namespaceFor(owner, id)`. */
  namespace?: string;
  /** The creator's full IAM principal ARN (audit). */
  principalArn?: string;
  /** Quota scopes the cluster counts against (`ClusterRecord.quotaScopes`). */
  quotaScopes?: readonly string[];
}

/** The REQUESTED record (version 1) of a new cluster. */
export function newClusterRecord(input: NewClusterInput): ClusterRecord {
  checkTime(input.at, 'at');
  if (!input.id) throw new LifecycleUsageError('a cluster needs an id');
  if (!input.owner) throw new LifecycleUsageError('a cluster needs an owner');
  const record: ClusterRecord = {
    id: input.id,
    owner: input.owner,
    name: input.name ?? input.spec.name ?? input.id,
    namespace: input.namespace ?? namespaceFor(input.owner, input.id),
    status: 'REQUESTED',
    version: 1,
    spec: structuredClone(input.spec),
    plan: structuredClone(input.plan),
    desiredWorkers: input.spec.nWorkers,
    createdAt: input.at,
    updatedAt: input.at,
    lastActivityAt: input.at,
  };
  const job = input.job ?? input.spec.job;
  if (job !== undefined) record.job = job;
  if (input.template !== undefined) record.template = input.template;
  if (input.clientToken !== undefined) record.clientToken = input.clientToken;
  if (input.principalArn !== undefined) record.principalArn = input.principalArn;
  if (input.quotaScopes !== undefined && input.quotaScopes.length > 0) record.quotaScopes = [...input.quotaScopes];
  return record;
}

/** The first history entry of a record made by `newClusterRecord` (from: null). */
export function initialChange(record: ClusterRecord, ctx: { actor: string; reason?: string }): StatusChange {
  if (!ctx.actor) throw new LifecycleUsageError('a status change needs an actor');
  const change: StatusChange = {
    clusterId: record.id,
    from: null,
    to: record.status,
    at: record.createdAt,
    actor: ctx.actor,
    version: record.version,
  };
  if (ctx.reason) change.reason = ctx.reason;
  return change;
}

/**
 * The Kubernetes namespace (DNS label, ≤ 63 chars) for a cluster:
 * `recc-<owner slug>-<last segment of the id>`.
 */
export function namespaceFor(owner: string, id: string): string {
  const slug = (s: string): string =>
    s
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '');
  const suffix = slug(id.split('-').pop() ?? id) || slug(id) || 'x';
  const room = 63 - 'recc-'.length - 1 - suffix.length;
  const who = slug(owner).slice(0, Math.max(room, 1)).replace(/-+$/g, '') || 'user';
  return `recc-${who}-${suffix}`.slice(0, 63).replace(/-+$/g, '');
}

/**
 * Check a record's invariants (used by tests and by adapters' debug paths).
 * @throws RecordInvariantError listing every violated invariant.
 */
export function assertRecordInvariants(record: ClusterRecord): void {
  const problems: string[] = [];
  const isTime = (s: string | undefined): boolean => s !== undefined && !Number.isNaN(Date.parse(s));
  if (!record.id) problems.push('id is empty');
  if (!record.owner) problems.push('owner is empty');
  if (!record.namespace) problems.push('namespace is empty');
  if (!CLUSTER_STATUSES.includes(record.status)) problems.push(`status ${String(record.status)} is unknown`);
  if (!Number.isInteger(record.version) || record.version < 1) problems.push(`version ${record.version} is not an integer ≥ 1`);
  if (!Number.isInteger(record.desiredWorkers) || record.desiredWorkers < 0) {
    problems.push(`desiredWorkers ${record.desiredWorkers} is not an integer ≥ 0`);
  }
  for (const key of ['createdAt', 'updatedAt', 'lastActivityAt'] as const) {
    if (!isTime(record[key])) problems.push(`${key} is not a time`);
  }
  for (const key of ['provisioningAt', 'runningAt', 'endedAt', 'lastHeartbeatAt'] as const) {
    if (record[key] !== undefined && !isTime(record[key])) problems.push(`${key} is not a time`);
  }
  if (record.updatedAt < record.createdAt) problems.push('updatedAt is before createdAt');
  if (record.lastActivityAt < record.createdAt) problems.push('lastActivityAt is before createdAt');
  if (isTerminal(record.status) && record.endedAt === undefined) problems.push(`${record.status} without endedAt`);
  if (isLive(record.status) && record.endedAt !== undefined) problems.push(`${record.status} with endedAt`);
  if (record.status === 'PROVISIONING' && record.provisioningAt === undefined) problems.push('PROVISIONING without provisioningAt');
  if (record.status === 'RUNNING' && record.runningAt === undefined) problems.push('RUNNING without runningAt');
  if (record.runningAt !== undefined && record.provisioningAt === undefined) problems.push('runningAt without provisioningAt');
  if (record.runningAt !== undefined && record.provisioningAt !== undefined && record.runningAt < record.provisioningAt) {
    problems.push('runningAt is before provisioningAt');
  }
  if (record.status === 'FAILED' && !record.statusReason) problems.push('FAILED without statusReason');
  if (record.status === 'REQUESTED' && record.provisioningAt !== undefined) problems.push('REQUESTED with provisioningAt');
  if (record.endedAt !== undefined && record.endedAt < record.createdAt) problems.push('endedAt is before createdAt');
  if (problems.length > 0) throw new RecordInvariantError(`cluster ${record.id || '?'}`, problems);
}

/**
 * Check a status history (oldest first): starts with `null → REQUESTED` at
 * version 1, each entry continues from the previous status by a legal
 * transition, versions strictly increase and times never go back. With
 * `record`, the last entry must be its status at a version ≤ its version.
 * @throws RecordInvariantError listing every violation.
 */
export function assertHistoryInvariants(history: readonly StatusChange[], record?: ClusterRecord): void {
  const problems: string[] = [];
  const first = history[0];
  if (first === undefined) problems.push('history is empty');
  else if (first.from !== null || first.to !== 'REQUESTED' || first.version !== 1) {
    problems.push(`first entry is ${first.from ?? 'null'} → ${first.to} at version ${first.version}, expected null → REQUESTED at 1`);
  }
  for (let i = 1; i < history.length; i += 1) {
    const prev = history[i - 1] as StatusChange;
    const cur = history[i] as StatusChange;
    if (cur.from !== prev.to) problems.push(`entry ${i} starts at ${cur.from ?? 'null'} but the previous one ended at ${prev.to}`);
    if (cur.from !== null && !canTransition(cur.from, cur.to)) problems.push(`entry ${i} ${cur.from} → ${cur.to} is not a legal transition`);
    if (cur.version <= prev.version) problems.push(`entry ${i} version ${cur.version} is not above ${prev.version}`);
    if (cur.at < prev.at) problems.push(`entry ${i} at ${cur.at} is before ${prev.at}`);
  }
  for (const [i, c] of history.entries()) {
    if (record !== undefined && c.clusterId !== record.id) problems.push(`entry ${i} belongs to ${c.clusterId}`);
    if (c.to === 'FAILED' && !c.reason) problems.push(`entry ${i} → FAILED has no reason`);
  }
  const last = history[history.length - 1];
  if (record !== undefined && last !== undefined) {
    if (last.to !== record.status) problems.push(`last entry ends at ${last.to} but the record is ${record.status}`);
    if (last.version > record.version) problems.push(`last entry version ${last.version} is above the record's ${record.version}`);
  }
  if (problems.length > 0) throw new RecordInvariantError(`history of ${record?.id ?? first?.clusterId ?? '?'}`, problems);
}

function applyPatch(record: ClusterRecord, patch: Partial<ClusterRecord> | undefined): ClusterRecord {
  const next = structuredClone(record);
  if (patch === undefined) return next;
  for (const key of PROTECTED_FIELDS) {
    if (key in patch && patch[key] !== record[key]) {
      throw new LifecycleUsageError(`cluster ${record.id}: a patch may not change ${key}`);
    }
  }
  for (const [key, value] of Object.entries(structuredClone(patch)) as [keyof ClusterRecord, unknown][]) {
    if (value === undefined) delete next[key];
    else (next as unknown as Record<string, unknown>)[key] = value;
  }
  return next;
}

function checkTime(at: string, what: string): void {
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) {
    throw new LifecycleUsageError(`${what} must be an ISO time, got ${JSON.stringify(at)}`);
  }
}
