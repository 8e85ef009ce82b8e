import type { ClusterRecord } from './types.ts';

/**
 * Where a cluster's start time went (issue 19 #5), from the record's own
 * stamps and the backend's start milestones (`startTimes`, kept at RUNNING):
 *
 * | stage | from → to |
 * |---|---|
 * | queue | created (REQUESTED written) → the provisioner took it (PROVISIONING) |
 * | provision | PROVISIONING → first pod/process created (render, secrets, SQS queues, apply) |
 * | node and image | pod created → scheduler container running (EKS: node boot, image pull) |
 * | process start | → the scheduler accepts connections |
 * | connect | → the last desired worker registered (workers boot beside the scheduler; what is left of their start shows here) |
 * | observe | → the provisioner saw it ready and wrote RUNNING (its poll interval) |
 *
 * The API stage (the create request until the record is written) is only
 * visible to the caller; the bench measures it from the client. A milestone
 * the backend did not report is skipped: its time counts in the next stage.
 * Durations are clamped at 0 (stamps from different clocks, e.g. the API
 * server's and a node's, can be a little out of order).
 */
export const START_STAGES = ['queue', 'provision', 'node and image', 'process start', 'connect', 'observe'] as const;
export type StartStage = (typeof START_STAGES)[number];

export interface StartStageTime {
  stage: StartStage;
  /** ISO times bounding the stage. */
  from: string;
  to: string;
  ms: number;
}

export interface StartTimeline {
  /** createdAt → runningAt. */
  totalMs: number;
  stages: StartStageTime[];
}

/** The stage breakdown of a cluster that reached RUNNING; undefined before (or without runningAt). */
export function startTimeline(record: Pick<ClusterRecord, 'createdAt' | 'provisioningAt' | 'runningAt' | 'startTimes'>): StartTimeline | undefined {
  if (record.runningAt === undefined || record.provisioningAt === undefined) return undefined;
  const t = record.startTimes ?? {};
  const marks: Array<[StartStage, string | undefined]> = [
    ['queue', record.provisioningAt],
    ['provision', t.podsCreatedAt],
    ['node and image', t.containersStartedAt],
    ['process start', t.schedulerReadyAt],
    ['connect', t.workersRegisteredAt],
    ['observe', record.runningAt],
  ];
  const stages: StartStageTime[] = [];
  let from = record.createdAt;
  for (const [stage, to] of marks) {
    if (to === undefined || Number.isNaN(Date.parse(to))) continue;
    stages.push({ stage, from, to, ms: Math.max(0, Date.parse(to) - Date.parse(from)) });
    from = to;
  }
  return { totalMs: Math.max(0, Date.parse(record.runningAt) - Date.parse(record.createdAt)), stages };
}
