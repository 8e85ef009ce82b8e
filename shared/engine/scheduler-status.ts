import { z } from 'zod';
import { ValidationError } from '../core/errors.ts';

/**
 * The scheduler's status: what its dashboard serves at `GET /api/status`, what
 * `client.schedulerInfo()` returns, and what the compute backends read to tell
 * whether a cluster is ready and idle. The one definition of that shape; it
 * never includes the token.
 */
export const schedulerStatusSchema = z.object({
  workers: z.number().int().nonnegative(),
  workerNames: z.array(z.string()),
  tasksProcessing: z.number().int().nonnegative(),
  tasksQueued: z.number().int().nonnegative(),
  tasksInMemory: z.number().int().nonnegative(),
  tasksTotal: z.number().int().nonnegative(),
  clientsConnected: z.number().int().nonnegative(),
  /** ISO time of the last client message or task result; null before the first. */
  lastActivityAt: z.string().nullable(),
  uptimeSeconds: z.number().nonnegative(),
});

export type SchedulerStatus = z.infer<typeof schedulerStatusSchema>;

/** Parse a status body (JSON already decoded); a bad one is a ValidationError naming every field. */
export function parseSchedulerStatus(body: unknown): SchedulerStatus {
  const r = schedulerStatusSchema.safeParse(body);
  if (r.success) return r.data;
  const details = r.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
  throw new ValidationError(`invalid scheduler status: ${details.map((d) => `${d.path || '(root)'}: ${d.message}`).join('; ')}`, details);
}
