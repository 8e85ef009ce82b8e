import { z } from 'zod';
import { DatastoresSpecShape } from '../../shared/datastores/config.ts';
import { CLUSTER_STATUSES, type ClusterRecord, type StatusChange } from '../../shared/lifecycle/types.ts';
import { isLiveStatus, laterOf } from './common.ts';
import { KEYS, KEY_ATTRIBUTES } from './dynamodb-table.ts';
import { ClusterStoreError } from './errors.ts';

/**
 * Item mapping of the cluster table: records, history and idempotency items
 * to DynamoDB items and back. Items read back are checked with zod against
 * the shape of `ClusterRecord` / `StatusChange` (structure and types only, not
 * the API's input rules, so records written under older limits stay
 * readable); a malformed item is a `ClusterStoreError` naming the item and
 * every bad path, never a half-typed object travelling on.
 */
export type Item = Record<string, unknown>;

const str = z.string();
const num = z.number();
const resources = z.object({ cpu: num, memoryGiB: num, pods: num, gpus: num });

const specShape = z.object({
  instanceType: str,
  nWorkers: num,
  workerCpu: num,
  workerMemoryGiB: num,
  schedulerCpu: num,
  schedulerMemoryGiB: num,
  resources: z.record(str, num),
  image: str.optional(),
  sourceGitBranch: str.optional(),
  env: z.record(str, str),
  idleTimeoutMinutes: num,
  maxLifetimeHours: num,
  name: str.optional(),
  job: str.optional(),
  tags: z.record(str, str),
  datastores: DatastoresSpecShape.optional(),
  adaptive: z.object({ minimum: num, maximum: num, targetDuration: num, waitCount: num, interval: num }).optional(),
});

const planShape = z.object({
  instanceType: str,
  region: str,
  instances: num,
  workersPerInstance: num,
  schedulerNode: num,
  nodes: z.array(z.object({ index: num, workers: num, hostsScheduler: z.boolean(), used: resources, allocatable: resources })),
  headroom: resources,
  boundBy: z.enum(['cpu', 'memory', 'pods', 'gpus']),
  ec2CostPerHour: num,
  controlPlaneCostPerHour: num,
  costPerHour: num,
  costPerWorkerHour: num,
  priceSource: str,
  pricePerInstanceHour: num.optional(),
  controlPlaneShare: num.optional(),
  workersBesideScheduler: num.optional(),
});

const status = z.enum(CLUSTER_STATUSES);

export const clusterRecordShape = z.object({
  id: str,
  owner: str,
  principalArn: str.optional(),
  name: str,
  job: str.optional(),
  namespace: str,
  template: str.optional(),
  status,
  statusReason: str.optional(),
  version: num,
  spec: specShape,
  plan: planShape,
  desiredWorkers: num,
  clientToken: str.optional(),
  createdAt: str,
  updatedAt: str,
  lastActivityAt: str,
  lastHeartbeatAt: str.optional(),
  provisioningAt: str.optional(),
  runningAt: str.optional(),
  endedAt: str.optional(),
  connection: z
    .object({ schedulerAddress: str, dashboardUrl: str.optional(), token: str, caPem: str.optional(), requestQueueUrl: str.optional(), payloadBucket: str.optional(), payloadPrefix: str.optional() })
    .optional(),
  cost: z
    .object({ toDate: num, perHour: num, asOf: str, projected: num.optional(), projectedUntil: str.optional() })
    .optional(),
  schedulerUnreachableSince: str.optional(),
  quotaScopes: z.array(str).optional(),
  retireWorkers: z.array(str).optional(),
  kubectlEditAt: str.optional(),
  startTimes: z
    .object({ podsCreatedAt: str.optional(), containersStartedAt: str.optional(), schedulerReadyAt: str.optional(), workersRegisteredAt: str.optional() })
    .optional(),
});

export const statusChangeShape = z.object({
  clusterId: str,
  from: status.nullable(),
  to: status,
  at: str,
  actor: str,
  reason: str.optional(),
  version: num,
});

// The shapes must follow the domain types exactly: a field added to
// ClusterRecord without a schema entry would otherwise vanish on every read.
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const _recordMatches: Equal<z.infer<typeof clusterRecordShape>, ClusterRecord> = true;
const _changeMatches: Equal<z.infer<typeof statusChangeShape>, StatusChange> = true;
void _recordMatches;
void _changeMatches;

function checked<T>(schema: z.ZodType<T>, item: Item, what: string): T {
  const rest: Item = Object.fromEntries(Object.entries(item).filter(([k]) => !(KEY_ATTRIBUTES as readonly string[]).includes(k)));
  const parsed = schema.safeParse(rest);
  if (parsed.success) return parsed.data;
  const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(item)'}: ${i.message}`).join('; ');
  throw new ClusterStoreError(`malformed ${what} item ${String(item.pk)} / ${String(item.sk)}: ${problems}`, { cause: parsed.error });
}

export function fromItem(item: Item): ClusterRecord {
  return checked(clusterRecordShape, item, 'cluster');
}

export function fromHistoryItem(item: Item): StatusChange {
  return checked(statusChangeShape, item, 'history');
}

/** The clusterId an idempotency item points at. */
export function tokenTarget(item: Item): string {
  return checked(z.object({ clusterId: str }), item, 'idempotency').clusterId;
}

/**
 * Nested objects as `Map`s for the marshaller. `@aws-sdk/util-dynamodb`
 * recognises a plain object by `value.constructor.name === 'Object'`, so a
 * user map with a `constructor` key (`env: {constructor: "y"}`) was refused
 * with "Unsupported type" (a 500). A Map is marshalled from its entries,
 * whatever the keys are.
 */
function asMarshallable(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(asMarshallable);
  if (value !== null && typeof value === 'object' && !(value instanceof Uint8Array)) {
    return new Map(Object.entries(value).map(([k, v]) => [k, asMarshallable(v)]));
  }
  return value;
}

export function toItem(record: ClusterRecord): Item {
  const fields = Object.fromEntries(Object.entries(record).map(([k, v]) => [k, asMarshallable(v)]));
  const item: Item = {
    ...fields,
    pk: KEYS.clusterPk(record.id),
    sk: KEYS.clusterSk,
    entity: 'cluster',
    gsi1pk: KEYS.ownerPk(record.owner),
    gsi1sk: KEYS.createdSk(record.createdAt, record.id),
    gsi2pk: KEYS.statusPk(record.status),
    gsi2sk: KEYS.createdSk(record.createdAt, record.id),
  };
  if (isLiveStatus(record.status)) item.gsi3pk = KEYS.livePk;
  return item;
}

export function historyItem(change: StatusChange): Item {
  return { ...structuredClone(change), pk: KEYS.clusterPk(change.clusterId), sk: KEYS.historySk(change.version), entity: 'history' };
}

/**
 * How long an idempotency item lives: a repeat of a create with the same
 * clientToken within this window returns the same cluster; after it DynamoDB
 * TTL removes the item (attribute `ttl`, epoch seconds).
 */
export const IDEMPOTENCY_TTL_SECONDS = 7 * 24 * 3600;

export function tokenItem(record: ClusterRecord): Item {
  return {
    ttl: Math.floor(Date.parse(record.createdAt) / 1000) + IDEMPOTENCY_TTL_SECONDS,
    pk: KEYS.tokenPk(record.owner, record.clientToken ?? ''),
    sk: KEYS.tokenSk,
    entity: 'token',
    owner: record.owner,
    clientToken: record.clientToken,
    clusterId: record.id,
    createdAt: record.createdAt,
  };
}

/** `candidate` with the later of its and `current`'s activity times (a touch moved them after the caller's read). */
export function withLaterTimes(candidate: ClusterRecord, current: ClusterRecord): ClusterRecord {
  const next = structuredClone(candidate);
  next.lastActivityAt = laterOf(candidate.lastActivityAt, current.lastActivityAt) ?? candidate.lastActivityAt;
  const hb = laterOf(candidate.lastHeartbeatAt, current.lastHeartbeatAt);
  if (hb !== undefined) next.lastHeartbeatAt = hb;
  return next;
}

/** A copy without keys whose value is undefined (DynamoDB never stores them). */
export function withoutUndefined<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/** One record per id, the highest version (a GSI may briefly show an item under its old key too). */
export function dedupe(records: ClusterRecord[]): ClusterRecord[] {
  const byId = new Map<string, ClusterRecord>();
  for (const r of records) {
    const seen = byId.get(r.id);
    if (seen === undefined || seen.version < r.version) byId.set(r.id, r);
  }
  return [...byId.values()];
}
