import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseJobDefinition } from '../../../shared/jobs/definition.ts';
import { JobValidationError } from '../../../shared/jobs/errors.ts';
import { fireTimesBetween, nextFireTime, parseSchedule } from '../../../shared/jobs/schedule.ts';
import { jobIdFor, runIdFor } from '../../../shared/jobs/ids.ts';

const valid = { name: 'nightly', schedule: 'rate(1 minute)', cluster: { template: 'small' }, entry: { module: 'examples/backfill-job.ts' } };

function problems(input: unknown): { path: string; message: string }[] {
  try {
    parseJobDefinition(input);
  } catch (err) {
    expect(err).toBeInstanceOf(JobValidationError);
    expect((err as JobValidationError).statusCode).toBe(400);
    return (err as JobValidationError).details;
  }
  throw new Error('expected a JobValidationError');
}

describe('parseJobDefinition', () => {
  it('fills defaults and resolves the cluster spec from the template', () => {
    const { definition, spec, schedule } = parseJobDefinition(valid);
    expect(definition).toMatchObject({
      name: 'nightly',
      timezone: 'UTC',
      concurrency: 'Forbid',
      catchUp: 'run-latest',
      entry: { kind: 'module', module: 'examples/backfill-job.ts', params: {} },
      timeouts: { preRunningSeconds: 900, activeSeconds: 14_400, idleSeconds: 3600 },
      retries: { limit: 0 },
      cleanup: { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, runRecordTtlDays: 30 },
      enabled: true,
    });
    expect(schedule).toMatchObject({ kind: 'rate', intervalMs: 60_000 });
    expect(spec.nWorkers).toBeGreaterThan(0);
  });

  it('reports every problem at once with its path: bad schedule, unknown zone, bad spec, bad entry, bad policy', () => {
    const got = problems({
      name: 'Nightly Job',
      schedule: 'cron(0 10 * * * *)',
      timezone: 'Mars/Olympus_Mons',
      cluster: { template: 'small', overrides: { nWorkers: -3, instanceTyp: 'm5.large' } },
      entry: { module: '../etc/passwd' },
      concurrency: 'Sometimes',
      timeouts: { activeSeconds: 1 },
      extra: 1,
    });
    const paths = got.map((p) => p.path);
    expect(paths).toEqual(
      expect.arrayContaining(['name', 'schedule', 'timezone', 'cluster.overrides.nWorkers', 'cluster.overrides.instanceTyp', 'entry.module', 'concurrency', 'timeouts.activeSeconds', 'extra']),
    );
    expect(got.find((p) => p.path === 'timezone')?.message).toMatch(/unknown time zone "Mars\/Olympus_Mons"/);
    expect(got.find((p) => p.path === 'schedule')?.message).toMatch(/exactly one of day-of-month and day-of-week must be \?/);
    expect(new Set(paths).size).toBe(paths.length);
  });

  it('reports an unknown template under cluster.template', () => {
    expect(problems({ ...valid, cluster: { template: 'no-such-template' } }).map((p) => p.path)).toContain('cluster.template');
  });

  it('never throws anything but JobValidationError on arbitrary JSON (fast-check)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        try {
          parseJobDefinition(v);
        } catch (err) {
          expect(err).toBeInstanceOf(JobValidationError);
          expect((err as JobValidationError).details.length).toBeGreaterThan(0);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('schedule expressions', () => {
  const T = Date.parse('2026-12-04T00:00:00Z');
  it('evaluates AWS cron (1=SUN … 7=SAT) in the time zone, across DST', () => {
    const { schedule } = parseSchedule('cron(30 2 ? * 1 *)', 'Europe/Paris');
    // Sundays 02:30 Paris: winter UTC+1, summer UTC+2; 2027-03-28 02:30 does not exist (spring forward).
    const times = fireTimesBetween(schedule!, 'Europe/Paris', 0, Date.parse('2027-03-20T00:00:00Z'), Date.parse('2027-04-05T00:00:00Z')).map((t) => new Date(t).toISOString());
    expect(times[0]).toBe('2027-03-21T01:30:00.000Z');
    expect(times.at(-1)).toBe('2027-04-04T00:30:00.000Z');
  });

  it('fires rate() from its anchor and at() once', () => {
    const { schedule: rate } = parseSchedule('rate(5 minutes)');
    expect(fireTimesBetween(rate!, 'UTC', T + 1000, T, T + 11 * 60_000)).toEqual([T + 1000 + 300_000, T + 1000 + 600_000]);
    const { schedule: at } = parseSchedule('at(2026-12-05T09:00:00)', 'America/New_York');
    expect(nextFireTime(at!, 'America/New_York', T, T)).toBe(Date.parse('2026-12-05T14:00:00Z'));
    expect(nextFireTime(at!, 'America/New_York', T, Date.parse('2026-12-05T14:00:00Z'))).toBeUndefined();
  });

  it('rejects what EventBridge Scheduler rejects', () => {
    for (const bad of ['rate(1 minutes)', 'rate(5 minute)', 'rate(0 minutes)', 'rate(5 weeks)', 'cron(* * * * *)', 'cron(0 10 ? * ? *)', 'cron(61 * * * ? *)', 'at(2026-02-30T00:00:00)', 'at(tomorrow)', '0 * * * *']) {
      expect(parseSchedule(bad).problems, bad).toHaveLength(1);
    }
  });
});

describe('ids', () => {
  it('derives the same run id for the same job and fire time, and different ones otherwise', () => {
    const job = jobIdFor('alice', 'nightly');
    expect(job).toMatch(/^j-[0-9a-z]{13}$/);
    expect(jobIdFor('alice', 'nightly')).toBe(job);
    expect(jobIdFor('bob', 'nightly')).not.toBe(job);
    expect(jobIdFor('alice\u0000n', 'ightly')).not.toBe(jobIdFor('alice', 'n\u0000ightly'));
    const t = Date.parse('2026-12-04T18:30:00Z');
    expect(runIdFor(job, t)).toBe(`r-${job.slice(2)}-20261204t183000000z`);
    expect(runIdFor(job, t, 2)).toBe(`${runIdFor(job, t)}-a2`);
    expect(runIdFor(job, t + 60_000)).not.toBe(runIdFor(job, t));
  });
});

describe('job update merge', () => {
  it('changes only the fields given: one timeout, one override, the template kept', async () => {
    const { mergeUpdate } = await import('../../../control/jobs.ts');
    const { definitionToInput } = await import('../../../shared/jobs/definition.ts');
    const stored = definitionToInput(parseJobDefinition({ ...valid, cluster: { template: 'small', overrides: { nWorkers: 3 } }, timeouts: { activeSeconds: 600, idleSeconds: 300 } }).definition);
    const next = parseJobDefinition(mergeUpdate(stored, { timeouts: { activeSeconds: 900 }, cluster: { overrides: { workerCpu: 1 } } }, 'nightly')).definition;
    expect(next.timeouts).toEqual({ preRunningSeconds: 900, activeSeconds: 900, idleSeconds: 300 });
    expect(next.cluster).toEqual({ template: 'small', overrides: { nWorkers: 3, workerCpu: 1 } });
    expect(next.schedule).toBe('rate(1 minute)');
  });
});
