import type { Context } from 'aws-lambda';
import { z } from 'zod';
import { ValidationError } from '../shared/core/errors.ts';
import { zodDetails } from './commons/api.ts';
import { lazyHandler } from './commons/lazy.ts';
import { jobApiDepsFromEnv, type JobApiDeps } from './job-api.ts';

/**
 * The target of every job's EventBridge Scheduler schedule. The event is the
 * schedule's input: `{jobId, scheduledTime}` (EventBridge fills in
 * `<aws.scheduler.scheduled-time>`). The run id derives from both, so a
 * retried or duplicated delivery starts the run once. A job deleted since is
 * a no-op; a malformed event fails (to the DLQ after the retries).
 */
const fireEvent = z.strictObject({ jobId: z.string().regex(/^j-[0-9a-z]{13}$/), scheduledTime: z.iso.datetime({ offset: true }) });

export function makeHandler(deps: JobApiDeps) {
  return async (event: unknown, _context?: Context) => {
    const parsed = fireEvent.safeParse(event);
    if (!parsed.success) throw new ValidationError('invalid job fire event', zodDetails(parsed.error.issues, 'event'));
    if (!deps.jobService) throw new ValidationError('scheduled jobs are not configured', []);
    try {
      const { run, created } = await deps.jobService.trigger(parsed.data.jobId, Date.parse(parsed.data.scheduledTime), 'schedule');
      return { runId: run.id, status: run.status, created };
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return { runId: null, status: 'JOB_GONE', created: false };
      throw err;
    }
  };
}

export const handler = lazyHandler(() => makeHandler(jobApiDepsFromEnv()));
