import type { ClusterRecord, ClusterStatus, StatusChange } from '../../shared/lifecycle/types.ts';
import { LIVE_STATUSES } from '../../shared/lifecycle/types.ts';
import { StoreUsageError } from './errors.ts';

/**
 * Contract checks and orderings shared by every ClusterStore adapter, so the
 * in-memory fake and DynamoDB agree exactly.
 */

/** `Date.prototype.toISOString()` output: the only form that sorts correctly as text. */
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** Throws StoreUsageError unless `value` is a `toISOString()` time (or absent when optional). */
export function checkIsoTime(op: string, name: string, value: string | undefined, optional = false): void {
  if (value === undefined && optional) return;
  if (typeof value !== 'string' || !ISO_TIME.test(value)) {
    throw new StoreUsageError(`${op}: ${name} must be a toISOString() time, got ${JSON.stringify(value)}`);
  }
}

function checkRecordTimes(record: ClusterRecord, op: string): void {
  checkIsoTime(op, 'createdAt', record.createdAt);
  checkIsoTime(op, 'lastActivityAt', record.lastActivityAt);
  checkIsoTime(op, 'lastHeartbeatAt', record.lastHeartbeatAt, true);
}

export function checkTouch(at: { activityAt?: string; heartbeatAt?: string }): void {
  checkIsoTime('touch', 'activityAt', at.activityAt, true);
  checkIsoTime('touch', 'heartbeatAt', at.heartbeatAt, true);
}

export function checkCreate(record: ClusterRecord, change: StatusChange): void {
  if (!record.id || !record.owner) throw new StoreUsageError('create: record needs an id and an owner');
  checkRecordTimes(record, 'create');
  if (record.version !== 1) throw new StoreUsageError(`create: record ${record.id} must have version 1, has ${record.version}`);
  checkChange(record, change, 'create');
}

export function checkPut(next: ClusterRecord, expectedVersion: number, change: StatusChange | undefined): void {
  if (!Number.isInteger(expectedVersion) || expectedVersion < 1) {
    throw new StoreUsageError(`put: expectedVersion must be an integer ≥ 1, got ${expectedVersion}`);
  }
  if (next.version !== expectedVersion + 1) {
    throw new StoreUsageError(`put: record ${next.id} has version ${next.version}, expected ${expectedVersion + 1}`);
  }
  checkRecordTimes(next, 'put');
  if (change !== undefined) checkChange(next, change, 'put');
}

function checkChange(record: ClusterRecord, change: StatusChange, op: string): void {
  if (change.clusterId !== record.id) throw new StoreUsageError(`${op}: change is for ${change.clusterId}, record is ${record.id}`);
  if (change.version !== record.version) {
    throw new StoreUsageError(`${op}: change has version ${change.version}, record has ${record.version}`);
  }
  if (change.to !== record.status) throw new StoreUsageError(`${op}: change goes to ${change.to}, record is ${record.status}`);
}

export function isLiveStatus(status: ClusterStatus): boolean {
  return LIVE_STATUSES.includes(status);
}

/** Newest first: createdAt descending, then id descending. */
export function newestFirst(a: ClusterRecord, b: ClusterRecord): number {
  if (a.createdAt !== b.createdAt) return a.createdAt < b.createdAt ? 1 : -1;
  return a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** Least recently active first: lastActivityAt ascending, then id ascending. */
export function leastRecentlyActiveFirst(a: ClusterRecord, b: ClusterRecord): number {
  if (a.lastActivityAt !== b.lastActivityAt) return a.lastActivityAt < b.lastActivityAt ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** The later of two ISO times (either may be absent). Times compare as strings (`toISOString()` format). */
export function laterOf(a: string | undefined, b: string | undefined): string | undefined {
  if (a === undefined) return b;
  if (b === undefined) return a;
  return a >= b ? a : b;
}
