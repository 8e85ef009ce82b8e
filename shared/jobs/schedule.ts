import { Cron } from 'croner';
import type { ErrorDetail } from '../core/errors.ts';

/**
 * Schedule expressions in EventBridge Scheduler's syntax, evaluated locally
 * with croner (never a hand-written cron parser), so the local stack fires
 * when AWS would:
 *
 * - `cron(min hour day-of-month month day-of-week year)`: six fields, exactly
 *   one of day-of-month / day-of-week is `?`, day-of-week 1–7 = SUN–SAT
 *   (croner's `alternativeWeekdays`), `0/15` steps allowed (`sloppyRanges`).
 * - `rate(N unit)`: unit minute|hour|day, singular for 1 and plural above,
 *   as AWS demands. Fires every N units from the schedule's anchor (its
 *   creation time, like a schedule without StartDate).
 * - `at(yyyy-mm-ddThh:mm:ss)`: once, at that wall time in the time zone.
 */
export type ParsedSchedule =
  | { kind: 'cron'; expression: string; fields: string }
  | { kind: 'rate'; expression: string; intervalMs: number; value: number; unit: 'minute' | 'hour' | 'day' }
  | { kind: 'at'; expression: string; wallTime: string };

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** Problems of a time zone name (empty when valid). */
export function timezoneProblems(timezone: unknown, path = 'timezone'): ErrorDetail[] {
  if (typeof timezone !== 'string' || timezone.trim() === '') return [{ path, message: 'must be an IANA time zone such as Europe/London' }];
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: timezone });
    return [];
  } catch {
    return [{ path, message: `unknown time zone ${JSON.stringify(timezone)}; use an IANA name such as America/New_York or UTC` }];
  }
}

/** Parse a schedule expression; `problems` is empty exactly when `schedule` is set. */
export function parseSchedule(expression: unknown, timezone = 'UTC', path = 'schedule'): { schedule?: ParsedSchedule; problems: ErrorDetail[] } {
  const bad = (message: string) => ({ problems: [{ path, message }] });
  if (typeof expression !== 'string') return bad('must be cron(...), rate(...) or at(...)');
  const text = expression.trim();
  const m = /^(cron|rate|at)\((.*)\)$/s.exec(text);
  if (!m) return bad(`${JSON.stringify(expression)} is not cron(...), rate(...) or at(...)`);
  const kind = m[1] as 'cron' | 'rate' | 'at';
  const body = (m[2] ?? '').trim();
  const zoneOk = timezoneProblems(timezone).length === 0;
  if (kind === 'rate') {
    const r = /^(\d{1,6}) (minute|minutes|hour|hours|day|days)$/.exec(body);
    if (!r) return bad(`rate(${body}) must be rate(N minute|minutes|hour|hours|day|days), e.g. rate(5 minutes)`);
    const value = Number(r[1]);
    const word = r[2] as string;
    const unit = word.replace(/s$/, '') as 'minute' | 'hour' | 'day';
    if (value < 1) return bad('the rate must be at least 1');
    if (value === 1 && word.endsWith('s')) return bad(`write rate(1 ${unit}), not rate(1 ${word})`);
    if (value > 1 && !word.endsWith('s')) return bad(`write rate(${value} ${unit}s), not rate(${value} ${word})`);
    return { schedule: { kind: 'rate', expression: text, intervalMs: value * UNIT_MS[unit], value, unit }, problems: [] };
  }
  if (kind === 'at') {
    if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/.test(body)) return bad(`at(${body}) must be at(yyyy-mm-ddThh:mm:ss), a wall time in the time zone`);
    if (Number.isNaN(Date.parse(`${body}Z`)) || new Date(`${body}Z`).toISOString().slice(0, 19) !== body) return bad(`at(${body}) is not a real date and time`);
    return { schedule: { kind: 'at', expression: text, wallTime: body }, problems: [] };
  }
  const fields = body.split(/\s+/);
  if (fields.length !== 6) return bad(`cron(${body}) needs 6 fields (minutes hours day-of-month month day-of-week year), got ${fields.length}`);
  const [, , dom, , dow] = fields as [string, string, string, string, string, string];
  if ((dom === '?') === (dow === '?')) return bad('exactly one of day-of-month and day-of-week must be ?');
  try {
    // Validate with a zone croner accepts even when the given one is wrong (that is reported on its own).
    cronFor(fields.join(' '), zoneOk ? timezone : 'UTC');
  } catch (err) {
    return bad(`cron(${body}): ${(err as Error).message.replace(/^CronPattern: /, '')}`);
  }
  return { schedule: { kind: 'cron', expression: text, fields: fields.join(' ') }, problems: [] };
}

function cronFor(fields: string, timezone: string): Cron {
  return new Cron(`0 ${fields}`, { timezone, mode: '7-part', alternativeWeekdays: true, sloppyRanges: true });
}

/** The UTC instant of the schedule's single at() time. */
export function atInstant(schedule: Extract<ParsedSchedule, { kind: 'at' }>, timezone: string): number {
  const once = new Cron(schedule.wallTime, { timezone }).getOnce();
  if (once === null) return Date.parse(`${schedule.wallTime}Z`);
  return once.getTime();
}

/**
 * Fire times strictly after `afterMs` (and after `anchorMs`) and at or before `untilMs`, oldest
 * first, at most `limit` of them. `anchorMs` starts rate() schedules (and no
 * schedule fires before it).
 */
export function fireTimesBetween(
  schedule: ParsedSchedule,
  timezone: string,
  anchorMs: number,
  afterMs: number,
  untilMs: number,
  limit = 100,
): number[] {
  const from = Math.max(afterMs, anchorMs);
  const out: number[] = [];
  if (schedule.kind === 'at') {
    const t = atInstant(schedule, timezone);
    if (t > from && t <= untilMs) out.push(t);
    return out;
  }
  if (schedule.kind === 'rate') {
    const k0 = Math.max(1, Math.floor((from - anchorMs) / schedule.intervalMs) + 1);
    for (let k = k0; out.length < limit; k += 1) {
      const t = anchorMs + k * schedule.intervalMs;
      if (t > untilMs) break;
      if (t > from) out.push(t);
    }
    return out;
  }
  const cron = cronFor(schedule.fields, timezone);
  let cursor = new Date(from);
  while (out.length < limit) {
    const next = cron.nextRun(cursor);
    if (next === null || next.getTime() > untilMs) break;
    out.push(next.getTime());
    cursor = next;
  }
  return out;
}

/** The next fire time strictly after `afterMs`, or undefined when there is none (a past at()). */
export function nextFireTime(schedule: ParsedSchedule, timezone: string, anchorMs: number, afterMs: number): number | undefined {
  return fireTimesBetween(schedule, timezone, anchorMs, afterMs, Number.MAX_SAFE_INTEGER, 1)[0];
}
