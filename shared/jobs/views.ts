import type { JobRecord, RunRecord } from './types.ts';

/** What the API answers for a job. */
export type JobView = JobRecord & { nextFireAt: string | null };

/** What the API answers for a run: the record plus figures a person wants in a listing. */
export type RunView = RunRecord & {
  /** From the start of provisioning (or creation) to the outcome (or now). */
  durationMs: number | null;
  /** The outcome, whether or not the run is CLEANED yet; null while active. */
  result: string | null;
};

export function runView(run: RunRecord, now: number): RunView {
  const start = Date.parse(run.provisioningAt ?? run.createdAt);
  const end = run.endedAt !== undefined ? Date.parse(run.endedAt) : now;
  const durationMs = run.status === 'SKIPPED' ? null : Math.max(0, end - start);
  const result = run.status === 'SKIPPED' ? 'SKIPPED' : (run.outcome ?? null);
  return { ...run, durationMs, result };
}
