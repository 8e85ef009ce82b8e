import type { Clock } from '../shared/core/clock.ts';
import type { Logger } from '../shared/core/logger.ts';
import { accrue } from '../shared/cost/accrual.ts';
import { planHarvest, planRecord } from '../shared/harvest/plan.ts';
import type { HarvestAction, HarvestConfig } from '../shared/harvest/types.ts';
import { revise, transition } from '../shared/lifecycle/machine.ts';
import type { ClusterCost, ClusterRecord, ClusterStatus, StatusChange } from '../shared/lifecycle/types.ts';
import { DEFAULT_SESSION_TIMEOUT_MINUTES, sessionIsDead, type ClusterQueues, type ManagedQueue } from '../shared/ports/cluster-queues.ts';
import type { ClusterStore } from '../shared/ports/cluster-store.ts';
import type { BackendClusterRef, ComputeBackend, GrantChange, Observation } from '../shared/ports/compute-backend.ts';
import { VersionConflictError } from '../shared/ports/errors.ts';
import type { WorkQueue } from '../shared/ports/work-queue.ts';

/**
 * One harvester run (EventBridge every 5 minutes on AWS, a timer in `recc
 * up`). Reads actual state, plans purely (`planHarvest`), acts idempotently:
 *
 * 1. `backend.list()` is read BEFORE the records: the provisioner only
 *    applies resources for a record that already exists, so any resource in
 *    the list whose record is missing from the later read is really an orphan.
 *    Each orphan is re-checked with a consistent `store.get` before teardown
 *    (a GSI read may lag).
 * 2. Every RUNNING record is observed (bounded concurrency); an observe error
 *    leaves that cluster to rules that need no observation.
 * 3. Lifecycle writes are conditional on the version the plan was made from.
 *    On a lost race the cluster is re-planned from the current record and the
 *    action retried only if the plan still asks for it.
 * 4. A reaped cluster (→ DELETING with its reason) is handed to the
 *    provisioner through the queue when one is given; otherwise the harvester
 *    tears it down and marks it DELETED itself (the reason stays on the record).
 *
 * Cluster queues (issue 12), when given, are listed with the backend (before
 * the records, for the same reason): queues of clusters without a live record
 * are deleted (re-checked with `store.get` first), and reply queues of dead
 * sessions (last-seen older than `sessionTimeoutMinutes`) are deleted after
 * re-reading their last-seen, so a heartbeat that lands meanwhile wins.
 *
 * 5. Last, a backend that grants access outside a cluster's own resources
 *    (EKS: access entries, Pod Identity associations) sweeps the grants no
 *    live cluster needs (`ComputeBackend.sweepGrants`, issue 21 #3).
 *
 * Running it again on the same state does nothing new; an action that failed
 * is retried by the next run.
 */
export interface HarvesterDeps {
  store: ClusterStore;
  backend: ComputeBackend;
  clock: Clock;
  config: HarvestConfig;
  logger: Logger;
  /** Hand reaped clusters to the provisioner; without it the harvester tears them down itself. */
  queue?: WorkQueue;
  /** Actor in the status history. @default 'harvester' */
  actor?: string;
  /** Concurrent `observe` calls. @default 4 */
  observeConcurrency?: number;
  /** Per-cluster SQS queues: orphans and dead sessions' reply queues are removed. */
  queues?: ClusterQueues;
  /** Scheduled-job runs to reconcile (control/job-reconcile.ts): stuck ones become FAILED with a reason. */
  runs?: { reconcile: () => Promise<{ runId: string; reason: string }[]> };
}

export type ActionOutcome = 'done' | 'skipped' | 'error';

export interface HarvestActionResult {
  clusterId: string;
  kind: HarvestAction['kind'];
  reason: string;
  detail: string;
  outcome: ActionOutcome;
  /** Why it was skipped or failed. */
  note?: string;
}

export interface HarvestReport {
  at: string;
  /** Live records considered. */
  considered: number;
  backendClusters: number;
  listError?: string;
  observeErrors: { clusterId: string; error: string }[];
  actions: HarvestActionResult[];
  /** Clusters moved to DELETING, with their reason. */
  reaped: { clusterId: string; reason: string }[];
  /** Clusters moved to FAILED, with their reason. */
  failed: { clusterId: string; reason: string }[];
  orphansRemoved: string[];
  /** Job runs moved to FAILED (stuck past their deadline, or their cluster vanished). */
  runsFailed?: { runId: string; reason: string }[];
  /** With `queues`: clusters whose orphan queues were deleted. */
  queueOrphansRemoved?: string[];
  /** With `queues`: reply queues of dead sessions that were deleted. */
  sessionsRemoved?: { clusterId: string; sessionId: string }[];
  /** With `queues`: why listing them failed (queues are not reconciled this run). */
  queueListError?: string;
  /** Access grants removed or narrowed because the clusters they named are gone (backends with `sweepGrants`). */
  grantsRemoved?: GrantChange[];
  /** Why the grant sweep failed (it is retried by the next run). */
  grantSweepError?: string;
  /** Warm node groups kept (backends with `reconcileCapacity`); their idle nodes are not orphans. */
  warmGroups?: string[];
  /** Why keeping the warm capacity failed (retried by the next run). */
  capacityError?: string;
}

const MAX_ATTEMPTS = 3;

export async function runHarvester(deps: HarvesterDeps): Promise<HarvestReport> {
  const now = deps.clock.now();
  const at = new Date(now).toISOString();
  const log = deps.logger.child({ component: 'harvester' });
  const report: HarvestReport = {
    at,
    considered: 0,
    backendClusters: 0,
    observeErrors: [],
    actions: [],
    reaped: [],
    failed: [],
    orphansRemoved: [],
  };

  let refs: BackendClusterRef[] = [];
  try {
    refs = await deps.backend.list();
  } catch (err) {
    report.listError = message(err);
    log.warn('backend list failed; orphans are not reconciled this run', { error: err });
  }
  let queues: ManagedQueue[] | undefined;
  if (deps.queues) {
    report.queueOrphansRemoved = [];
    report.sessionsRemoved = [];
    try {
      queues = await deps.queues.list();
    } catch (err) {
      report.queueListError = message(err);
      log.warn('queue list failed; queues are not reconciled this run', { error: err });
    }
  }
  const records = await deps.store.listLive();
  report.considered = records.length;
  report.backendClusters = refs.length;

  const observations: Record<string, Observation> = {};
  await forEachLimit(
    records.filter((r) => r.status === 'RUNNING'),
    deps.observeConcurrency ?? 4,
    async (record) => {
      try {
        observations[record.id] = await deps.backend.observe(record.id);
      } catch (err) {
        report.observeErrors.push({ clusterId: record.id, error: message(err) });
        log.warn('observe failed', { clusterId: record.id, error: err });
      }
    },
  );

  const actions = planHarvest(records, { observations, backendClusters: listError(report) ? [] : refs, ...(queues ? { queues } : {}) }, now, deps.config);
  const byId = new Map(records.map((r) => [r.id, r]));
  for (const action of actions) {
    const result = await execute(deps, action, byId.get(action.clusterId), observations[action.clusterId], now);
    report.actions.push(result);
    if (result.outcome === 'done') {
      if (action.kind === 'reap') report.reaped.push({ clusterId: action.clusterId, reason: action.reason });
      if (action.kind === 'fail') report.failed.push({ clusterId: action.clusterId, reason: action.reason });
      if (action.kind === 'teardown-orphan') report.orphansRemoved.push(action.clusterId);
      if (action.kind === 'delete-orphan-queues') report.queueOrphansRemoved?.push(action.clusterId);
      if (action.kind === 'delete-session-queue') report.sessionsRemoved?.push({ clusterId: action.clusterId, sessionId: action.sessionId });
    }
    const fields = { clusterId: result.clusterId, action: result.kind, reason: result.reason, detail: result.detail, outcome: result.outcome, note: result.note };
    if (result.outcome === 'error') log.error('harvester action failed', fields);
    else if (result.kind === 'record-activity') log.debug('harvester action', fields);
    else log.info(`harvester ${result.kind}`, fields);
  }
  if (deps.backend.sweepGrants) {
    try {
      report.grantsRemoved = await deps.backend.sweepGrants();
      for (const g of report.grantsRemoved) log.info('harvester removed an orphaned grant', { ...g });
    } catch (err) {
      report.grantSweepError = message(err);
      log.error('grant sweep failed', { error: err });
    }
  }
  if (deps.backend.reconcileCapacity) {
    try {
      report.warmGroups = await deps.backend.reconcileCapacity();
    } catch (err) {
      report.capacityError = message(err);
      log.error('keeping the warm capacity failed', { error: err });
    }
  }
  if (deps.runs) {
    try {
      report.runsFailed = await deps.runs.reconcile();
      for (const r of report.runsFailed) log.info('harvester failed a stuck run', r);
    } catch (err) {
      log.error('run reconcile failed', { error: err });
    }
  }
  log.info('harvester run finished', {
    considered: report.considered,
    backendClusters: report.backendClusters,
    reaped: report.reaped.length,
    failed: report.failed.length,
    orphansRemoved: report.orphansRemoved.length,
    ...(deps.queues ? { queueOrphansRemoved: report.queueOrphansRemoved?.length ?? 0, sessionsRemoved: report.sessionsRemoved?.length ?? 0 } : {}),
    ...(report.grantsRemoved ? { grantsRemoved: report.grantsRemoved.length } : {}),
    ...(report.warmGroups ? { warmGroups: report.warmGroups.length } : {}),
    errors: report.actions.filter((a) => a.outcome === 'error').length + report.observeErrors.length + (report.grantSweepError ? 1 : 0) + (report.capacityError ? 1 : 0),
  });
  return report;
}

const listError = (report: HarvestReport): boolean => report.listError !== undefined;

async function execute(
  deps: HarvesterDeps,
  action: HarvestAction,
  record: ClusterRecord | undefined,
  observation: Observation | undefined,
  now: number,
): Promise<HarvestActionResult> {
  const base = { clusterId: action.clusterId, kind: action.kind, reason: action.reason, detail: action.detail };
  try {
    const note = await perform(deps, action, record, observation, now);
    return note === undefined ? { ...base, outcome: 'done' } : { ...base, outcome: 'skipped', note };
  } catch (err) {
    return { ...base, outcome: 'error', note: message(err) };
  }
}

/** Do the action; returns a note when it was skipped, undefined when done. */
async function perform(
  deps: HarvesterDeps,
  action: HarvestAction,
  record: ClusterRecord | undefined,
  observation: Observation | undefined,
  now: number,
): Promise<string | undefined> {
  const actor = deps.actor ?? 'harvester';
  const at = new Date(now).toISOString();
  switch (action.kind) {
    case 'teardown-orphan': {
      const current = await deps.store.get(action.clusterId);
      if (current && current.status !== 'DELETED' && current.status !== 'FAILED') {
        return `a live record appeared (${current.status}); not an orphan`;
      }
      await deps.backend.teardown(action.clusterId);
      return undefined;
    }
    case 'record-activity':
      await deps.store.touch(action.clusterId, { activityAt: action.at });
      return undefined;
    case 'delete-orphan-queues': {
      if (!deps.queues) return 'no cluster queues configured';
      const current = await deps.store.get(action.clusterId);
      if (current && current.status !== 'DELETED' && current.status !== 'FAILED') {
        return `a live record appeared (${current.status}); not an orphan`;
      }
      await deps.queues.deleteClusterQueues(action.clusterId);
      return undefined;
    }
    case 'delete-session-queue': {
      if (!deps.queues) return 'no cluster queues configured';
      // The heartbeat may have landed since the list: judge the queue as it is now.
      const fresh = await deps.queues.describeSession(action.clusterId, action.sessionId);
      if (!fresh) return 'the reply queue is already gone';
      const timeout = (deps.config.sessionTimeoutMinutes ?? DEFAULT_SESSION_TIMEOUT_MINUTES) * 60_000;
      if (!sessionIsDead(fresh, now, timeout)) return `the session was seen again at ${fresh.lastSeenAt ?? '?'}`;
      await deps.queues.deleteSessionQueue(action.clusterId, action.sessionId);
      return undefined;
    }
    case 'mark-unreachable':
    case 'clear-unreachable': {
      if (!record) return 'record not loaded';
      const patch: Partial<ClusterRecord> =
        action.kind === 'mark-unreachable' ? { schedulerUnreachableSince: action.since } : { schedulerUnreachableSince: undefined };
      const written = await writeWithReplan(deps, record, observation, now, action.kind, (r) => ({ next: revise(r, { at, patch }) }));
      return written ? undefined : 'the cluster changed meanwhile';
    }
    case 'reap':
    case 'fail': {
      if (!record) return 'record not loaded';
      // A reap deletes the cluster; a failure (deadline passed) records why it is gone.
      const to = action.kind === 'reap' ? 'DELETING' : 'FAILED';
      const written = await writeWithReplan(deps, record, observation, now, action.kind, (r) =>
        transition(r, to, {
          actor,
          reason: action.detail,
          at,
          patch: { cost: finalCost(r, to, now, deps.config), schedulerUnreachableSince: undefined },
        }),
      );
      if (!written) return 'the cluster changed meanwhile; re-planned and left alone';
      if (action.kind === 'reap') await finishDelete(deps, written, action.detail, now);
      else await deps.backend.teardown(action.clusterId);
      return undefined;
    }
    case 'finish-delete': {
      if (!record) return 'record not loaded';
      await deps.backend.teardown(action.clusterId);
      const reason = record.statusReason ?? action.detail;
      const written = await writeWithReplan(deps, record, observation, now, 'finish-delete', (r) =>
        transition(r, 'DELETED', { actor, reason: r.statusReason ?? reason, at, patch: { cost: finalCost(r, 'DELETED', now, deps.config) } }),
      );
      return written ? undefined : 'the cluster changed meanwhile';
    }
  }
}

/** After a reap: queue the delete for the provisioner, or tear down and finish here. */
async function finishDelete(deps: HarvesterDeps, record: ClusterRecord, reason: string, now: number): Promise<void> {
  if (deps.queue) {
    await deps.queue.send({ clusterId: record.id, cause: 'delete-requested' });
    return;
  }
  await deps.backend.teardown(record.id);
  const at = new Date(now).toISOString();
  let current: ClusterRecord | undefined = record;
  for (let attempt = 0; attempt < MAX_ATTEMPTS && current?.status === 'DELETING'; attempt += 1) {
    const { next, change } = transition(current, 'DELETED', {
      actor: deps.actor ?? 'harvester',
      reason: current.statusReason ?? reason,
      at,
      patch: { cost: finalCost(current, 'DELETED', now, deps.config) },
    });
    try {
      await deps.store.put(next, current.version, change);
      return;
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      current = err.current;
    }
  }
}

/**
 * Write `build(record)` conditionally; on a lost race re-plan the cluster from
 * the current record and retry only while the plan still asks for `kind`.
 * Returns the stored record, or undefined when the plan no longer applies.
 */
async function writeWithReplan(
  deps: HarvesterDeps,
  record: ClusterRecord,
  observation: Observation | undefined,
  now: number,
  kind: HarvestAction['kind'],
  build: (r: ClusterRecord) => { next: ClusterRecord; change?: StatusChange },
): Promise<ClusterRecord | undefined> {
  let current = record;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt += 1) {
    const { next, change } = build(current);
    try {
      return await deps.store.put(next, current.version, change);
    } catch (err) {
      if (!(err instanceof VersionConflictError)) throw err;
      const fresh = err.current;
      if (!fresh) return undefined;
      const again = planRecord(fresh, observation, now, deps.config);
      if (!again.some((a) => a.kind === kind)) return undefined;
      current = fresh;
    }
  }
  return undefined;
}

/** Cost to `now` as it will stand after moving to `to` (no projection once it is going away). */
function finalCost(record: ClusterRecord, to: ClusterStatus, now: number, config: HarvestConfig): ClusterCost {
  const at = new Date(now).toISOString();
  const ending = to === 'DELETED' || to === 'FAILED';
  const cost = accrue({ ...record, status: to, ...(ending && record.endedAt === undefined ? { endedAt: at } : {}) }, now, config);
  delete cost.projected;
  delete cost.projectedUntil;
  return cost;
}

async function forEachLimit<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, async () => {
    while (next < items.length) {
      const item = items[next] as T;
      next += 1;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
