import type { JobRecord, RunRecord } from './types.ts';

/**
 * The alert for a scheduled-job run that ended badly (pure): which runs call
 * for one, its dedupe key (one per run and channel, claimed in the persisted
 * AlertLedger by the cost reporter) and its message naming the job, the run,
 * the outcome and the reason.
 */
export const ALERTING_OUTCOMES = ['FAILED', 'TIMED_OUT'] as const;

/** Runs that ended longer ago than this are not alerted (a first cost-reporter run does not page for history). */
export const RUN_ALERT_WINDOW_MS = 3 * 86_400_000;

export function runNeedsAlert(run: RunRecord, now: number): boolean {
  const outcome = run.outcome ?? run.status;
  if (!(ALERTING_OUTCOMES as readonly string[]).includes(outcome) || run.endedAt === undefined) return false;
  const ended = Date.parse(run.endedAt);
  return Number.isFinite(ended) && now - ended <= RUN_ALERT_WINDOW_MS;
}

export function runAlertKey(runId: string, channel: string): string {
  return ['run-alert', runId, channel].join('#');
}

export function formatRunAlert(job: Pick<JobRecord, 'name' | 'owner'>, run: RunRecord): { subject: string; text: string } {
  const outcome = run.outcome ?? run.status;
  const subject = `recc job ${job.name}: run ${run.id} ${outcome}`;
  const lines = [
    `recc scheduled job ${job.name} (owner ${job.owner}): run ${run.id} for ${run.scheduledAt} ended ${outcome}${run.endedAt ? ` at ${run.endedAt}` : ''}.`,
    `Reason: ${run.statusReason ?? 'none recorded'}`,
    ...(run.attempt > 1 ? [`Attempt ${run.attempt}.`] : []),
    ...(run.clusterId ? [`Cluster ${run.clusterId}${run.cost !== undefined ? `, cost $${run.cost.toFixed(2)}` : ''}.`] : []),
    `Logs: recc job logs ${run.id}`,
  ];
  return { subject, text: lines.join('\n') };
}
