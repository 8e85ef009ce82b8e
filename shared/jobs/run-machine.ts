import { InvalidRunTransitionError, RunInvariantError, RunMachineUsageError } from './errors.ts';
import {
  ACTIVE_RUN_STATUSES,
  FINAL_STATUSES,
  OUTCOME_STATUSES,
  RUN_STATUSES,
  type RunRecord,
  type RunStatus,
  type RunStatusChange,
  type RunTrigger,
} from './types.ts';

/**
 * The run lifecycle: ONE frozen transition table and pure functions over it.
 *
 *   PENDING → PROVISIONING → SUBMITTING → RUNNING → SUCCEEDED | FAILED | TIMED_OUT | CANCELLED → CLEANED
 *   PENDING → SKIPPED                      (Forbid overlap, a missed fire recorded as missed)
 *   any active status → FAILED | TIMED_OUT | CANCELLED   (cluster lost, deadline, cancel)
 *
 * The outcome (SUCCEEDED, FAILED, TIMED_OUT, CANCELLED) is written before
 * anything is torn down; teardown (kill the driver, copy its logs, delete the
 * cluster) follows from the instructions `handleRunEvent` returns, and only
 * then CLEANED, which keeps the outcome in `outcome`. SKIPPED and CLEANED are
 * final. Every change carries a stimulus id naming what caused it.
 */
export const RUN_TRANSITIONS: Readonly<Record<RunStatus, readonly RunStatus[]>> = Object.freeze({
  PENDING: Object.freeze(['PROVISIONING', 'SKIPPED', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const),
  PROVISIONING: Object.freeze(['SUBMITTING', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const),
  SUBMITTING: Object.freeze(['RUNNING', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const),
  RUNNING: Object.freeze(['SUCCEEDED', 'FAILED', 'TIMED_OUT', 'CANCELLED'] as const),
  SUCCEEDED: Object.freeze(['CLEANED'] as const),
  FAILED: Object.freeze(['CLEANED'] as const),
  TIMED_OUT: Object.freeze(['CLEANED'] as const),
  CANCELLED: Object.freeze(['CLEANED'] as const),
  SKIPPED: Object.freeze([] as const),
  CLEANED: Object.freeze([] as const),
});

/** Statuses whose entry needs a reason. */
const NEEDS_REASON: readonly RunStatus[] = ['FAILED', 'TIMED_OUT', 'CANCELLED', 'SKIPPED'];

export function canRunTransition(from: RunStatus, to: RunStatus): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}
export const isActiveRun = (s: RunStatus): boolean => ACTIVE_RUN_STATUSES.includes(s);
export const isOutcome = (s: RunStatus): boolean => OUTCOME_STATUSES.includes(s);
export const isFinalRun = (s: RunStatus): boolean => FINAL_STATUSES.includes(s);

const PROTECTED: readonly (keyof RunRecord)[] = [
  'id', 'jobId', 'owner', 'scheduledAt', 'createdAt', 'version', 'status', 'outcome', 'statusReason',
  'updatedAt', 'provisioningAt', 'runningAt', 'endedAt', 'cleanedAt',
];

export interface RunTransitionContext {
  actor: string;
  at: string;
  /** What caused the change: trigger id, `driver-exit:<pid>`, `deadline:active`, `cancel:<request>`. */
  stimulusId: string;
  reason?: string;
  patch?: Partial<RunRecord>;
}

/**
 * Move `run` to `to`. Pure; returns the next record (version + 1) and the
 * change to store with it.
 * @throws InvalidRunTransitionError when the table does not allow it.
 * @throws RunMachineUsageError for a missing reason/actor/stimulus, a bad time or a protected patch field.
 */
export function transitionRun(run: RunRecord, to: RunStatus, ctx: RunTransitionContext): { next: RunRecord; change: RunStatusChange } {
  const from = run.status;
  if (!canRunTransition(from, to)) throw new InvalidRunTransitionError(run.id, from, to, RUN_TRANSITIONS[from]);
  checkTime(ctx.at);
  if (!ctx.actor) throw new RunMachineUsageError('a run transition needs an actor');
  if (!ctx.stimulusId) throw new RunMachineUsageError('a run transition needs a stimulus id');
  if (NEEDS_REASON.includes(to) && !ctx.reason?.trim()) throw new RunMachineUsageError(`run ${run.id}: ${to} needs a reason`);
  const next = applyPatch(run, ctx.patch);
  next.status = to;
  next.version = run.version + 1;
  next.updatedAt = ctx.at;
  if (ctx.reason) next.statusReason = ctx.reason;
  else if (to !== 'CLEANED') delete next.statusReason;
  if (to === 'PROVISIONING') next.provisioningAt ??= ctx.at;
  if (to === 'RUNNING') next.runningAt ??= ctx.at;
  if (isOutcome(to)) {
    next.outcome = to;
    next.endedAt ??= ctx.at;
  }
  if (to === 'SKIPPED') next.endedAt ??= ctx.at;
  if (to === 'CLEANED') next.cleanedAt ??= ctx.at;
  const change: RunStatusChange = { runId: run.id, from, to, at: ctx.at, actor: ctx.actor, stimulusId: ctx.stimulusId, version: next.version };
  if (ctx.reason) change.reason = ctx.reason;
  return { next, change };
}

export interface NewRunInput {
  id: string;
  jobId: string;
  jobName: string;
  owner: string;
  scheduledAt: string;
  trigger: RunTrigger;
  attempt?: number;
  at: string;
  ttlDays: number;
}

/** The PENDING record (version 1) of a new run, and its first history entry. */
export function newRunRecord(input: NewRunInput, ctx: { actor: string; stimulusId: string }): { run: RunRecord; change: RunStatusChange } {
  checkTime(input.at);
  checkTime(input.scheduledAt);
  if (!input.id || !input.jobId || !input.owner) throw new RunMachineUsageError('a run needs an id, a job id and an owner');
  if (!ctx.actor || !ctx.stimulusId) throw new RunMachineUsageError('a run needs an actor and a stimulus id');
  const run: RunRecord = {
    id: input.id,
    jobId: input.jobId,
    jobName: input.jobName,
    owner: input.owner,
    scheduledAt: input.scheduledAt,
    trigger: input.trigger,
    attempt: input.attempt ?? 1,
    status: 'PENDING',
    version: 1,
    createdAt: input.at,
    updatedAt: input.at,
    expiresAt: Math.floor(Date.parse(input.at) / 1000) + input.ttlDays * 86_400,
  };
  return { run, change: { runId: run.id, from: null, to: 'PENDING', at: input.at, actor: ctx.actor, stimulusId: ctx.stimulusId, version: 1 } };
}

// ---------------------------------------------------------------------------
// Events → transitions + instructions

export type RunEvent =
  | { type: 'start'; stimulusId: string; preRunningDeadline: string; activeDeadline: string }
  | { type: 'skip'; stimulusId: string; reason: string }
  | { type: 'cluster-requested'; stimulusId: string; clusterId: string }
  | { type: 'cluster-running'; stimulusId: string }
  | { type: 'driver-started'; stimulusId: string; pid?: number }
  | { type: 'driver-exited'; stimulusId: string; exitCode: number | null; signal: string | null; stderrTail: string }
  | { type: 'cluster-lost'; stimulusId: string; reason: string }
  /** Any other failure with its reason: the driver could not start, the driver was lost, the cluster could not be created. */
  | { type: 'fail'; stimulusId: string; reason: string }
  | { type: 'deadline'; stimulusId: string; which: 'pre-running' | 'active' | 'idle' }
  | { type: 'cancel'; stimulusId: string; by: string }
  | { type: 'cleaned'; stimulusId: string; logsRef?: string; cost?: number };

/** Side effects for the shell to carry out, in order, after storing `next`. */
export type RunInstruction =
  | { do: 'create-cluster' }
  | { do: 'start-driver' }
  | { do: 'kill-driver' }
  | { do: 'copy-logs' }
  | { do: 'delete-cluster' }
  | { do: 'schedule-retry'; attempt: number };

export interface RunPolicy {
  deleteClusterOnSuccess: boolean;
  deleteClusterOnFailure: boolean;
  retryLimit: number;
}

export type RunStep =
  | { kind: 'changed'; next: RunRecord; change: RunStatusChange; instructions: RunInstruction[] }
  | { kind: 'patched'; next: RunRecord; instructions: RunInstruction[] }
  | { kind: 'ignored'; why: string };

/**
 * Apply one event to a run. Pure. An event that does not apply in the
 * run's status (a driver exit after a cancel, a second cancel) is `ignored`,
 * never an error: events race, and the table decides.
 */
export function handleRunEvent(run: RunRecord, event: RunEvent, policy: RunPolicy, ctx: { actor: string; at: string }): RunStep {
  const base = { actor: ctx.actor, at: ctx.at, stimulusId: event.stimulusId };
  const go = (to: RunStatus, reason?: string, patch?: Partial<RunRecord>, instructions: RunInstruction[] = []): RunStep => {
    if (!canRunTransition(run.status, to)) return { kind: 'ignored', why: `${event.type} does not apply to a ${run.status} run` };
    const { next, change } = transitionRun(run, to, { ...base, ...(reason ? { reason } : {}), ...(patch ? { patch } : {}) });
    return { kind: 'changed', next, change, instructions };
  };
  const teardown = (to: RunStatus): RunInstruction[] => {
    const out: RunInstruction[] = [];
    const driverMayRun = run.status === 'SUBMITTING' || run.status === 'RUNNING';
    if (driverMayRun && to !== 'SUCCEEDED' && !(to === 'FAILED' && event.type === 'driver-exited')) out.push({ do: 'kill-driver' });
    if (driverMayRun) out.push({ do: 'copy-logs' });
    const keep = to === 'SUCCEEDED' ? !policy.deleteClusterOnSuccess : !policy.deleteClusterOnFailure;
    if (run.clusterId !== undefined && !(keep && to !== 'CANCELLED')) out.push({ do: 'delete-cluster' });
    if ((to === 'FAILED' || to === 'TIMED_OUT') && run.attempt <= policy.retryLimit) out.push({ do: 'schedule-retry', attempt: run.attempt + 1 });
    return out;
  };
  switch (event.type) {
    case 'start':
      return go('PROVISIONING', undefined, { preRunningDeadline: event.preRunningDeadline, activeDeadline: event.activeDeadline }, [{ do: 'create-cluster' }]);
    case 'skip':
      return go('SKIPPED', event.reason);
    case 'cluster-requested': {
      if (run.status !== 'PROVISIONING') return { kind: 'ignored', why: `cluster-requested does not apply to a ${run.status} run` };
      if (run.clusterId !== undefined) return { kind: 'ignored', why: `run already has cluster ${run.clusterId}` };
      return { kind: 'patched', next: revise(run, ctx.at, { clusterId: event.clusterId }), instructions: [] };
    }
    case 'cluster-running':
      if (run.clusterId === undefined) return { kind: 'ignored', why: 'cluster-running for a run that has no cluster yet' };
      return go('SUBMITTING', undefined, undefined, [{ do: 'start-driver' }]);
    case 'driver-started':
      return go('RUNNING', undefined, event.pid === undefined ? undefined : { driver: { ...run.driver, pid: event.pid } });
    case 'driver-exited': {
      const driver = { ...run.driver, exitCode: event.exitCode, signal: event.signal, stderrTail: event.stderrTail };
      if (event.exitCode === 0) return go('SUCCEEDED', undefined, { driver }, teardown('SUCCEEDED'));
      const how = event.exitCode === null ? `was killed by ${event.signal ?? 'a signal'}` : `exited with status ${event.exitCode}`;
      const tail = event.stderrTail.trim() ? `; stderr: ${lastLines(event.stderrTail, 5)}` : '';
      return go('FAILED', `the driver ${how}${tail}`, { driver }, teardown('FAILED'));
    }
    case 'cluster-lost':
    case 'fail':
      return go('FAILED', event.reason, undefined, teardown('FAILED'));
    case 'deadline': {
      const what = { 'pre-running': 'the cluster was not RUNNING by the pre-running deadline', active: 'the run passed its active timeout', idle: 'the driver was idle past the idle timeout' }[event.which];
      return go('TIMED_OUT', what, undefined, teardown('TIMED_OUT'));
    }
    case 'cancel':
      return go('CANCELLED', `cancelled by ${event.by}`, { cancelRequestedAt: ctx.at }, teardown('CANCELLED'));
    case 'cleaned':
      return go('CLEANED', undefined, {
        ...(event.logsRef === undefined ? {} : { logsRef: event.logsRef }),
        ...(event.cost === undefined ? {} : { cost: event.cost }),
      });
  }
}

/**
 * Teardown still owed by a run found with an outcome (after a crash between
 * recording the outcome and CLEANED): every step is idempotent, so all that
 * may apply are redone.
 */
export function teardownInstructions(run: RunRecord, policy: RunPolicy): RunInstruction[] {
  if (!isOutcome(run.status)) return [];
  const out: RunInstruction[] = [{ do: 'kill-driver' }];
  if (run.driver?.pid !== undefined || run.runningAt !== undefined) out.push({ do: 'copy-logs' });
  const keep = run.status === 'SUCCEEDED' ? !policy.deleteClusterOnSuccess : !policy.deleteClusterOnFailure && run.status !== 'CANCELLED';
  if (run.clusterId !== undefined && !keep) out.push({ do: 'delete-cluster' });
  return out;
}

/** A change that keeps the status (cluster id, driver output time): version + 1. */
export function revise(run: RunRecord, at: string, patch: Partial<RunRecord>): RunRecord {
  checkTime(at);
  const next = applyPatch(run, patch);
  next.version = run.version + 1;
  next.updatedAt = at;
  return next;
}

export interface RunObservation {
  now: number;
  /** The run cluster's status; `missing` when the record is gone. */
  cluster?: 'REQUESTED' | 'PROVISIONING' | 'RUNNING' | 'DELETING' | 'DELETED' | 'FAILED' | 'missing';
  clusterReason?: string;
  /** The driver process, once started. */
  driver?: { running: true; lastOutputAt?: number } | { running: false; exitCode: number | null; signal: string | null; stderrTail: string };
  idleTimeoutMs: number;
}

/**
 * The next event for an active run given what is observed (pure; the driver
 * step and the harvester both use it). `undefined`: nothing to do yet.
 * Cancels win over everything, then exits (an exit just before a deadline
 * counts), then deadlines, then cluster progress.
 */
export function nextRunEvent(run: RunRecord, obs: RunObservation): RunEvent | undefined {
  if (!isActiveRun(run.status)) return undefined;
  const at = obs.now;
  if (run.cancelRequestedAt !== undefined) return { type: 'cancel', stimulusId: `cancel:${run.cancelRequestedAt}`, by: 'request' };
  if (run.status === 'RUNNING' && obs.driver && !obs.driver.running) {
    return { type: 'driver-exited', stimulusId: `driver-exit:${run.driver?.pid ?? '?'}`, exitCode: obs.driver.exitCode, signal: obs.driver.signal, stderrTail: obs.driver.stderrTail };
  }
  if (run.activeDeadline !== undefined && at > Date.parse(run.activeDeadline)) return { type: 'deadline', stimulusId: `deadline:active:${run.activeDeadline}`, which: 'active' };
  if (run.status === 'PROVISIONING' && run.preRunningDeadline !== undefined && at > Date.parse(run.preRunningDeadline) && obs.cluster !== 'RUNNING') {
    return { type: 'deadline', stimulusId: `deadline:pre-running:${run.preRunningDeadline}`, which: 'pre-running' };
  }
  if (run.status === 'RUNNING' && obs.driver?.running) {
    const last = obs.driver.lastOutputAt ?? Date.parse(run.runningAt ?? run.updatedAt);
    if (at - last > obs.idleTimeoutMs) return { type: 'deadline', stimulusId: `deadline:idle:${new Date(last).toISOString()}`, which: 'idle' };
  }
  // A driver still running outlives its cluster only briefly (an `id:` cluster is deleted by the script's own close()):
  // its exit, or a deadline, decides; a lost cluster decides only for a run without a live driver.
  if (run.clusterId !== undefined && !obs.driver?.running && (obs.cluster === 'FAILED' || obs.cluster === 'DELETED' || obs.cluster === 'DELETING' || obs.cluster === 'missing')) {
    const why = obs.cluster === 'missing' ? 'vanished' : `is ${obs.cluster}${obs.clusterReason ? ` (${obs.clusterReason})` : ''}`;
    return { type: 'cluster-lost', stimulusId: `cluster:${run.clusterId}:${obs.cluster}`, reason: `the run's cluster ${run.clusterId} ${why}` };
  }
  if (run.status === 'PROVISIONING' && obs.cluster === 'RUNNING') return { type: 'cluster-running', stimulusId: `cluster:${run.clusterId ?? '?'}:RUNNING` };
  return undefined;
}

/** Retry delay before attempt `attempt` (2 = first retry): backoff doubling, capped. */
export function retryDelaySeconds(attempt: number, retries: { backoffSeconds: number; maxBackoffSeconds: number }): number {
  return Math.min(retries.maxBackoffSeconds, retries.backoffSeconds * 2 ** Math.max(0, attempt - 2));
}

// ---------------------------------------------------------------------------
// Invariants

/** @throws RunInvariantError listing every violated invariant. */
export function assertRunInvariants(run: RunRecord): void {
  const p: string[] = [];
  const isTime = (s: string | undefined): boolean => s !== undefined && !Number.isNaN(Date.parse(s));
  if (!run.id || !run.jobId || !run.owner) p.push('id, jobId and owner must be set');
  if (!RUN_STATUSES.includes(run.status)) p.push(`status ${String(run.status)} is unknown`);
  if (!Number.isInteger(run.version) || run.version < 1) p.push(`version ${run.version} is not an integer ≥ 1`);
  for (const k of ['createdAt', 'updatedAt', 'scheduledAt'] as const) if (!isTime(run[k])) p.push(`${k} is not a time`);
  if (run.updatedAt < run.createdAt) p.push('updatedAt is before createdAt');
  const active = isActiveRun(run.status);
  if (active && run.endedAt !== undefined) p.push(`${run.status} with endedAt`);
  if (!active && run.endedAt === undefined) p.push(`${run.status} without endedAt`);
  if (isOutcome(run.status) && run.outcome !== run.status) p.push(`${run.status} with outcome ${String(run.outcome)}`);
  if (run.status === 'CLEANED' && (run.outcome === undefined || !isOutcome(run.outcome))) p.push('CLEANED without an outcome');
  if (run.status === 'CLEANED' && run.cleanedAt === undefined) p.push('CLEANED without cleanedAt');
  if ((active || run.status === 'SKIPPED') && run.outcome !== undefined) p.push(`${run.status} with an outcome`);
  const reasonFor = run.status === 'CLEANED' ? run.outcome : run.status;
  if (reasonFor !== undefined && NEEDS_REASON.includes(reasonFor) && !run.statusReason) p.push(`${reasonFor} without statusReason`);
  if (['SUBMITTING', 'RUNNING'].includes(run.status) && run.clusterId === undefined) p.push(`${run.status} without a cluster`);
  if (run.status !== 'PENDING' && run.status !== 'SKIPPED' && run.provisioningAt === undefined && run.outcome !== 'CANCELLED' && run.outcome !== 'FAILED' && run.outcome !== 'TIMED_OUT') {
    p.push(`${run.status} without provisioningAt`);
  }
  if (run.status === 'RUNNING' && run.runningAt === undefined) p.push('RUNNING without runningAt');
  if (run.runningAt !== undefined && run.provisioningAt !== undefined && run.runningAt < run.provisioningAt) p.push('runningAt is before provisioningAt');
  if (run.endedAt !== undefined && run.endedAt < run.createdAt) p.push('endedAt is before createdAt');
  if (p.length > 0) throw new RunInvariantError(`run ${run.id || '?'}`, p);
}

/** Oldest-first history: starts null → PENDING at version 1, legal steps, rising versions, stimulus ids. */
export function assertRunHistoryInvariants(history: readonly RunStatusChange[], run?: RunRecord): void {
  const p: string[] = [];
  const first = history[0];
  if (first === undefined) p.push('history is empty');
  else if (first.from !== null || first.to !== 'PENDING' || first.version !== 1) p.push(`first entry is ${first.from ?? 'null'} → ${first.to} at ${first.version}`);
  for (let i = 1; i < history.length; i += 1) {
    const prev = history[i - 1] as RunStatusChange;
    const cur = history[i] as RunStatusChange;
    if (cur.from !== prev.to) p.push(`entry ${i} starts at ${cur.from ?? 'null'} but the previous ended at ${prev.to}`);
    if (cur.from !== null && !canRunTransition(cur.from, cur.to)) p.push(`entry ${i} ${cur.from} → ${cur.to} is not legal`);
    if (cur.version <= prev.version) p.push(`entry ${i} version ${cur.version} is not above ${prev.version}`);
    if (cur.at < prev.at) p.push(`entry ${i} goes back in time`);
  }
  for (const [i, c] of history.entries()) {
    if (!c.stimulusId) p.push(`entry ${i} has no stimulus id`);
    if (NEEDS_REASON.includes(c.to) && !c.reason) p.push(`entry ${i} → ${c.to} has no reason`);
    if (run !== undefined && c.runId !== run.id) p.push(`entry ${i} belongs to ${c.runId}`);
  }
  const last = history[history.length - 1];
  if (run !== undefined && last !== undefined) {
    if (last.to !== run.status) p.push(`last entry ends at ${last.to} but the run is ${run.status}`);
    if (last.version > run.version) p.push(`last entry version ${last.version} is above the run's ${run.version}`);
  }
  if (p.length > 0) throw new RunInvariantError(`history of ${run?.id ?? first?.runId ?? '?'}`, p);
}

function applyPatch(run: RunRecord, patch: Partial<RunRecord> | undefined): RunRecord {
  const next = structuredClone(run);
  if (patch === undefined) return next;
  for (const key of PROTECTED) {
    if (key in patch && patch[key] !== run[key]) throw new RunMachineUsageError(`run ${run.id}: a patch may not change ${key}`);
  }
  for (const [key, value] of Object.entries(structuredClone(patch))) {
    if (value === undefined) delete (next as unknown as Record<string, unknown>)[key];
    else (next as unknown as Record<string, unknown>)[key] = value;
  }
  return next;
}

function checkTime(at: string): void {
  if (typeof at !== 'string' || Number.isNaN(Date.parse(at))) throw new RunMachineUsageError(`expected an ISO time, got ${JSON.stringify(at)}`);
}

function lastLines(text: string, n: number): string {
  return text.trimEnd().split('\n').slice(-n).join(' | ').slice(-1000);
}
