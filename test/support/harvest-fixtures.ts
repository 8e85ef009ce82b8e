import { transition } from '../../shared/lifecycle/machine.ts';
import type { ClusterRecord, StatusChange } from '../../shared/lifecycle/types.ts';
import type { Observation } from '../../shared/ports/compute-backend.ts';
import type { ClusterSpec, Plan } from '../../shared/spec/types.ts';
import { sampleCluster, samplePlan, sampleSpec, t } from './cluster-records.ts';

/**
 * Records at a chosen lifecycle point for harvester and cost tests. Times are
 * minutes after 2026-01-01T00:00:00Z (`t()` from cluster-records.ts).
 */
export interface RecordAt {
  id: string;
  owner?: string;
  job?: string;
  name?: string;
  /** Minutes: created, entered PROVISIONING, entered RUNNING. */
  createdAt?: number;
  provisioningAt?: number;
  runningAt?: number;
  spec?: Partial<ClusterSpec>;
  plan?: Partial<Plan>;
}

/** The record and its full history up to `status`. */
export function recordAt(status: 'REQUESTED' | 'PROVISIONING' | 'RUNNING', input: RecordAt): { record: ClusterRecord; history: StatusChange[] } {
  const created = input.createdAt ?? 0;
  const { record: r0, change: c0 } = sampleCluster({ id: input.id, owner: input.owner ?? 'alice', at: t(created), ...(input.name ? { name: input.name } : {}) });
  let record: ClusterRecord = {
    ...r0,
    spec: sampleSpec(input.spec),
    plan: samplePlan(input.plan),
    ...(input.job !== undefined ? { job: input.job } : {}),
  };
  record.desiredWorkers = record.spec.nWorkers;
  const history = [c0];
  if (status === 'REQUESTED') return { record, history };
  const p = transition(record, 'PROVISIONING', { actor: 'provisioner', at: t(input.provisioningAt ?? created) });
  record = p.next;
  history.push(p.change);
  if (status === 'PROVISIONING') return { record, history };
  const r = transition(record, 'RUNNING', { actor: 'provisioner', at: t(input.runningAt ?? input.provisioningAt ?? created) });
  history.push(r.change);
  return { record: r.next, history };
}

export const running = (input: RecordAt): ClusterRecord => recordAt('RUNNING', input).record;

/** A healthy, idle observation of a live cluster (2 of 2 workers, scheduler reachable); `over` replaces fields. */
export function healthyObservation(clusterId: string, over: Partial<Observation> = {}): Observation {
  return {
    clusterId,
    exists: true,
    schedulerReady: true,
    workersDesired: 2,
    workersRegistered: 2,
    ready: true,
    failures: [],
    schedulerReachable: true,
    activity: { tasksProcessing: 0, clientsConnected: 0 },
    ...over,
  };
}
