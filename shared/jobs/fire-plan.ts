import { fireTimesBetween, parseSchedule } from './schedule.ts';
import type { JobRecord, RunTrigger } from './types.ts';

/**
 * What the local scheduler does for one job at `now` (pure): the fire times
 * due since the last one it handled are either fired or recorded as missed.
 *
 * - The latest due time within `graceMs` of now fires as `schedule`.
 * - Older due times were missed (the stack was down): with `run-latest` the
 *   latest of them fires as `catch-up` if nothing fires on time; every other
 *   missed time is recorded (at most `maxMissed`, the newest).
 * - With `record-missed` every late time is recorded, none runs.
 */
export interface FirePlan {
  fire?: { at: number; trigger: RunTrigger };
  missed: number[];
  /** The new `lastFiredAt` (ms), when anything was due. */
  handledUntil?: number;
}

export function planFires(job: JobRecord, now: number, options: { graceMs: number; maxMissed: number }): FirePlan {
  if (!job.enabled) return { missed: [] };
  const { schedule } = parseSchedule(job.schedule, job.timezone);
  if (schedule === undefined) return { missed: [] };
  const anchor = Date.parse(job.scheduleAnchorAt);
  const after = job.lastFiredAt === undefined ? anchor : Math.max(Date.parse(job.lastFiredAt), anchor);
  // Bounded: a job with a 1-minute rate down for a month must not enumerate 43,200 times.
  const windowStart = Math.max(after, now - (options.maxMissed + 1) * 7 * 86_400_000);
  const due = fireTimesBetween(schedule, job.timezone, anchor, windowStart, now, 10_000);
  const latest = due.at(-1);
  if (latest === undefined) return { missed: [] };
  const onTime = now - latest <= options.graceMs;
  let fire: FirePlan['fire'];
  let late = due;
  if (onTime) {
    fire = { at: latest, trigger: 'schedule' };
    late = due.slice(0, -1);
  } else if (job.catchUp === 'run-latest') {
    fire = { at: latest, trigger: 'catch-up' };
    late = due.slice(0, -1);
  }
  return { ...(fire ? { fire } : {}), missed: late.slice(-options.maxMissed), handledUntil: latest };
}
