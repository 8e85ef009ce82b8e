import type { ClusterRecord } from '../lifecycle/types.ts';
import { DEFAULT_SESSION_TIMEOUT_MINUTES, sessionIsDead, type ManagedQueue } from '../ports/cluster-queues.ts';
import type { Observation } from '../ports/compute-backend.ts';
import type {
  HarvestAction,
  HarvestConfig,
  HarvestObserved,
  ReapForecast,
  ReapReason,
} from './types.ts';

/**
 * The harvester's pure planner. Level-triggered: it decides from the records
 * and the backend's current state alone, never from events it happened to
 * see, so running it twice on the same input gives the same actions, and a
 * missed run is caught up by the next one.
 *
 * Activity of a cluster is the latest of: the record's `lastActivityAt` (API
 * calls and synced scheduler activity), `lastHeartbeatAt` (client
 * heartbeats), `runningAt` and `createdAt` (a cluster that just became ready
 * gets a full idle period), and the scheduler-reported
 * `activity.lastActivityAt` (task start/finish, client connect). A scheduler
 * that reports tasks processing or clients connected makes the cluster active
 * *now*.
 *
 * Rules for a RUNNING cluster, first match wins:
 * 1. the backend holds nothing for it → FAILED `resources-vanished`;
 *    a permanent component failure → FAILED `component-failed`;
 * 2. older than `spec.maxLifetimeHours` (when positive) → reap `max-lifetime`;
 * 3. scheduler unreachable: the first time, remember when
 *    (`schedulerUnreachableSince`); after `schedulerUnreachableMinutes` →
 *    reap `scheduler-unreachable`. While unreachable, idle and lease rules are
 *    suspended (a busy scheduler may be slow to answer);
 * 4. not busy and no activity for the idle timeout (`spec.idleTimeoutMinutes`,
 *    or the default when not positive) → reap `idle`; for a cluster whose
 *    client ever sent a heartbeat, no activity for `leaseTimeoutMinutes`
 *    (shorter) → reap `lease-expired`.
 * If the backend could not be observed, only rule 2 applies.
 * REQUESTED/PROVISIONING past `provisioningDeadlineMinutes` → FAILED
 * `provisioning-deadline`; DELETING past `deletingDeadlineMinutes` → finish
 * the delete. Backend resources with no live record → teardown (orphans).
 * Cluster queues (issue 12) are resources like any other: the queues of a
 * cluster with no live record → delete them all; a reply queue of a live
 * cluster whose session's last-seen is older than `sessionTimeoutMinutes` →
 * delete it (see `planQueues`).
 */
export function planHarvest(
  records: readonly ClusterRecord[],
  observed: HarvestObserved,
  now: number,
  config: HarvestConfig,
): HarvestAction[] {
  const actions: HarvestAction[] = [];
  const live = new Set<string>();
  for (const record of records) {
    if (record.status === 'DELETED' || record.status === 'FAILED') continue;
    live.add(record.id);
    actions.push(...planRecord(record, observed.observations[record.id], now, config));
  }
  const seen = new Set<string>();
  for (const ref of observed.backendClusters) {
    if (live.has(ref.clusterId) || seen.has(ref.clusterId)) continue;
    seen.add(ref.clusterId);
    actions.push({
      kind: 'teardown-orphan',
      reason: 'orphan',
      clusterId: ref.clusterId,
      ...(ref.owner !== undefined ? { owner: ref.owner } : {}),
      ...(ref.namespace !== undefined ? { namespace: ref.namespace } : {}),
      detail: `backend resources${ref.namespace ? ` in ${ref.namespace}` : ''} have no live cluster record`,
    });
  }
  if (observed.queues) actions.push(...planQueues(observed.queues, live, now, config));
  return actions;
}

/**
 * Queue actions: every queue of a cluster without a live record goes (one
 * action per cluster); a live cluster keeps its request queue and DLQ and
 * loses only the reply queues of dead sessions.
 */
export function planQueues(queues: readonly ManagedQueue[], live: ReadonlySet<string>, now: number, config: HarvestConfig): HarvestAction[] {
  const actions: HarvestAction[] = [];
  const timeoutMinutes = config.sessionTimeoutMinutes ?? DEFAULT_SESSION_TIMEOUT_MINUTES;
  const orphans = new Map<string, string[]>();
  for (const queue of queues) {
    if (!live.has(queue.clusterId)) {
      orphans.set(queue.clusterId, [...(orphans.get(queue.clusterId) ?? []), queue.name]);
      continue;
    }
    if (queue.kind !== 'reply' || queue.sessionId === undefined) continue;
    if (!sessionIsDead(queue, now, minutes(timeoutMinutes))) continue;
    actions.push({
      kind: 'delete-session-queue',
      reason: 'session-dead',
      clusterId: queue.clusterId,
      sessionId: queue.sessionId,
      ...(queue.lastSeenAt !== undefined ? { lastSeenAt: queue.lastSeenAt } : {}),
      detail: `session-dead: session ${queue.sessionId} last seen ${queue.lastSeenAt ?? 'never'} (timeout ${timeoutMinutes} min); its reply queue is deleted`,
    });
  }
  for (const [clusterId, names] of orphans) {
    actions.push({
      kind: 'delete-orphan-queues',
      reason: 'orphan',
      clusterId,
      queues: names.sort(),
      detail: `${names.length} SQS queue(s) have no live cluster record`,
    });
  }
  return actions;
}

/** The actions for one live record (at most one lifecycle action). */
export function planRecord(
  record: ClusterRecord,
  observation: Observation | undefined,
  now: number,
  config: HarvestConfig,
): HarvestAction[] {
  const id = record.id;
  const version = record.version;
  switch (record.status) {
    case 'REQUESTED':
    case 'PROVISIONING': {
      const since = toMs(record.provisioningAt) ?? toMs(record.createdAt) ?? now;
      const deadline = minutes(config.provisioningDeadlineMinutes);
      if (now - since >= deadline) {
        return [
          {
            kind: 'fail',
            reason: 'provisioning-deadline',
            clusterId: id,
            version,
            detail: `provisioning-deadline: still ${record.status} after ${fmtMinutes(now - since)} (deadline ${config.provisioningDeadlineMinutes} min)`,
          },
        ];
      }
      return [];
    }
    case 'DELETING': {
      const since = toMs(record.updatedAt) ?? now;
      if (now - since >= minutes(config.deletingDeadlineMinutes)) {
        return [
          {
            kind: 'finish-delete',
            reason: 'deleting-deadline',
            clusterId: id,
            version,
            detail: `deleting-deadline: DELETING for ${fmtMinutes(now - since)}; the harvester finishes the delete`,
          },
        ];
      }
      return [];
    }
    case 'RUNNING':
      return planRunning(record, observation, now, config);
    default:
      return [];
  }
}

function planRunning(
  record: ClusterRecord,
  obs: Observation | undefined,
  now: number,
  config: HarvestConfig,
): HarvestAction[] {
  const id = record.id;
  const version = record.version;
  if (obs && !obs.exists) {
    return [
      {
        kind: 'fail',
        reason: 'resources-vanished',
        clusterId: id,
        version,
        detail: 'resources-vanished: the backend holds nothing for this RUNNING cluster (processes, pods or namespace are gone)',
      },
    ];
  }
  const permanent = obs?.failures.filter((f) => f.permanent) ?? [];
  if (permanent.length > 0) {
    const what = permanent.map((f) => `${f.component} ${f.reason}: ${f.message}`).join('; ');
    return [{ kind: 'fail', reason: 'component-failed', clusterId: id, version, detail: `component-failed: ${what}` }];
  }

  const lifetime = maxLifetimeMs(record);
  const created = toMs(record.createdAt) ?? now;
  if (lifetime !== undefined && now - created >= lifetime) {
    return [reap(record, 'max-lifetime', `max-lifetime: running for ${fmtMinutes(now - created)}, longer than maxLifetimeHours ${record.spec.maxLifetimeHours}`)];
  }
  if (!obs) return [];

  if (obs.schedulerReachable === false) {
    const since = toMs(record.schedulerUnreachableSince);
    if (since === undefined) {
      return [
        {
          kind: 'mark-unreachable',
          reason: 'scheduler-unreachable',
          clusterId: id,
          version,
          since: new Date(now).toISOString(),
          detail: 'the scheduler did not answer; counting towards scheduler-unreachable',
        },
      ];
    }
    if (now - since >= minutes(config.schedulerUnreachableMinutes)) {
      return [
        reap(
          record,
          'scheduler-unreachable',
          `scheduler-unreachable: the scheduler has not answered since ${new Date(since).toISOString()} (limit ${config.schedulerUnreachableMinutes} min)`,
        ),
      ];
    }
    return [];
  }

  const due = idleDeadline(record, obs, config);
  if (due && now >= due.at) {
    const last = new Date(lastActivityMs(record, obs)).toISOString();
    const detail =
      due.reason === 'idle'
        ? `idle: no activity since ${last} (idle timeout ${idleTimeoutMinutes(record, config)} min)`
        : `lease-expired: no client heartbeat since ${record.lastHeartbeatAt ?? last} and no activity since ${last} (lease ${config.leaseTimeoutMinutes} min)`;
    return [reap(record, due.reason, detail)];
  }

  const actions: HarvestAction[] = [];
  if (record.schedulerUnreachableSince !== undefined) {
    actions.push({
      kind: 'clear-unreachable',
      reason: 'scheduler-reachable',
      clusterId: id,
      version,
      detail: 'the scheduler answers again',
    });
  }
  const seen = schedulerActivityMs(obs, now);
  const recorded = toMs(record.lastActivityAt);
  if (seen !== undefined && (recorded === undefined || seen > recorded)) {
    actions.push({
      kind: 'record-activity',
      reason: 'scheduler-activity',
      clusterId: id,
      at: new Date(seen).toISOString(),
      detail: 'scheduler reported activity',
    });
  }
  return actions;
}

function reap(record: ClusterRecord, reason: ReapReason, detail: string): HarvestAction {
  return { kind: 'reap', reason, clusterId: record.id, version: record.version, detail };
}

/**
 * When this RUNNING cluster will be reaped if it stays idle from now on, as
 * far as the record alone tells (the harvester also sees live scheduler
 * activity). `undefined` for clusters that are not RUNNING. For `recc cluster
 * get`; the reap itself happens at the first harvester run after `at`.
 */
export function reapAt(record: ClusterRecord, config: HarvestConfig): ReapForecast | undefined {
  if (record.status !== 'RUNNING') return undefined;
  const candidates: { at: number; reason: ReapReason }[] = [];
  const idle = idleDeadline(record, undefined, config);
  if (idle) candidates.push(idle);
  const lifetime = maxLifetimeMs(record);
  const created = toMs(record.createdAt);
  if (lifetime !== undefined && created !== undefined) candidates.push({ at: created + lifetime, reason: 'max-lifetime' });
  const unreachable = toMs(record.schedulerUnreachableSince);
  if (unreachable !== undefined) {
    candidates.push({ at: unreachable + minutes(config.schedulerUnreachableMinutes), reason: 'scheduler-unreachable' });
  }
  if (candidates.length === 0) return undefined;
  const first = candidates.reduce((a, b) => (b.at < a.at ? b : a));
  return { at: new Date(first.at).toISOString(), reason: first.reason };
}

/**
 * The time the idle or lease rule fires if nothing happens, or undefined when
 * the scheduler reports the cluster busy. Ties go to `idle`.
 */
function idleDeadline(
  record: ClusterRecord,
  obs: Observation | undefined,
  config: HarvestConfig,
): { at: number; reason: 'idle' | 'lease-expired' } | undefined {
  if (schedulerBusy(obs)) return undefined;
  const last = lastActivityMs(record, obs);
  if (!Number.isFinite(last)) return undefined;
  const idleAt = last + minutes(idleTimeoutMinutes(record, config));
  if (record.lastHeartbeatAt !== undefined) {
    const leaseAt = last + minutes(config.leaseTimeoutMinutes);
    if (leaseAt < idleAt) return { at: leaseAt, reason: 'lease-expired' };
  }
  return { at: idleAt, reason: 'idle' };
}

/** True when the scheduler reports tasks processing or clients connected. */
export function schedulerBusy(obs: Observation | undefined): boolean {
  const a = obs?.activity;
  return a !== undefined && (a.tasksProcessing > 0 || a.clientsConnected > 0);
}

/** Latest activity signal in ms (see the module comment). */
export function lastActivityMs(record: ClusterRecord, obs: Observation | undefined): number {
  const times = [
    toMs(record.lastActivityAt),
    toMs(record.lastHeartbeatAt),
    toMs(record.runningAt),
    toMs(record.createdAt),
    toMs(obs?.activity?.lastActivityAt),
  ].filter((t): t is number => t !== undefined);
  return times.length > 0 ? Math.max(...times) : Number.NEGATIVE_INFINITY;
}

/** Scheduler-reported activity: now when busy, else its last activity time. */
function schedulerActivityMs(obs: Observation, now: number): number | undefined {
  if (schedulerBusy(obs)) return now;
  return toMs(obs.activity?.lastActivityAt);
}

export function idleTimeoutMinutes(record: ClusterRecord, config: HarvestConfig): number {
  const m = record.spec.idleTimeoutMinutes;
  return Number.isFinite(m) && m > 0 ? m : config.defaultIdleTimeoutMinutes;
}

function maxLifetimeMs(record: ClusterRecord): number | undefined {
  const h = record.spec.maxLifetimeHours;
  return Number.isFinite(h) && h > 0 ? h * 3_600_000 : undefined;
}

const minutes = (m: number): number => m * 60_000;

function toMs(iso: string | undefined): number | undefined {
  if (iso === undefined) return undefined;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? undefined : t;
}

function fmtMinutes(ms: number): string {
  const m = ms / 60_000;
  return m >= 120 ? `${(m / 60).toFixed(1)} h` : `${Math.round(m * 10) / 10} min`;
}

/** The reason code at the start of a `statusReason` written by the harvester (`idle: …` → `idle`). */
export function reasonCode(statusReason: string | undefined): string | undefined {
  if (!statusReason) return undefined;
  const i = statusReason.indexOf(':');
  return i < 0 ? statusReason : statusReason.slice(0, i);
}
