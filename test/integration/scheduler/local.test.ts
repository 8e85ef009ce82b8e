import { describe, expect, it } from 'vitest';
import { LocalJobScheduler } from '../../../adapters/scheduler/local.ts';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { JobValidationError } from '../../../shared/jobs/errors.ts';
import type { JobRecord, RunTrigger } from '../../../shared/jobs/types.ts';
import { sampleJob } from '../../conformance/job-store.ts';

const T0 = Date.UTC(2026, 11, 4, 18, 0);

function world(job: Partial<JobRecord>) {
  const store = new MemoryJobStore();
  const clock = new ManualClock(T0);
  const fires: { at: string; trigger: RunTrigger }[] = [];
  const missed: string[] = [];
  const make = () =>
    new LocalJobScheduler({
      store,
      clock,
      fire: async (_job, at, trigger) => fires.push({ at: new Date(at).toISOString(), trigger }),
      recordMissed: async (_job, at) => missed.push(new Date(at).toISOString()),
      graceMs: 90_000,
    });
  return { store, clock, fires, missed, make, job: { ...sampleJob('alice', 'nightly', T0), ...job } };
}

describe('LocalJobScheduler', () => {
  it('fires rate(1 minute) once per minute, never twice for one time, even with two schedulers ticking', async () => {
    const w = world({ schedule: 'rate(1 minute)' });
    await w.store.createJob(w.job);
    const a = w.make();
    const b = w.make();
    for (let i = 0; i < 6; i += 1) {
      w.clock.advance(20_000);
      await Promise.all([a.tick(), b.tick()]);
    }
    expect(w.fires).toEqual([
      { at: new Date(T0 + 60_000).toISOString(), trigger: 'schedule' },
      { at: new Date(T0 + 120_000).toISOString(), trigger: 'schedule' },
    ]);
  });

  it('fires at() once, in its time zone', async () => {
    const w = world({ schedule: 'at(2026-12-04T13:05:00)', timezone: 'America/New_York' });
    await w.store.createJob(w.job);
    const s = w.make();
    await s.tick();
    w.clock.set(Date.parse('2026-12-04T18:05:10Z'));
    await s.tick();
    w.clock.advance(3_600_000);
    await s.tick();
    expect(w.fires).toEqual([{ at: '2026-12-04T18:05:00.000Z', trigger: 'schedule' }]);
  });

  it('after a restart runs the latest missed fire and records the others (run-latest)', async () => {
    const w = world({ schedule: 'rate(1 hour)', catchUp: 'run-latest' });
    await w.store.createJob(w.job);
    w.clock.advance(3 * 3_600_000 + 30 * 60_000); // down for 3.5 h: fires at +1h, +2h, +3h were missed
    await w.make().tick();
    expect(w.fires).toEqual([{ at: new Date(T0 + 3 * 3_600_000).toISOString(), trigger: 'catch-up' }]);
    expect(w.missed).toEqual([new Date(T0 + 3_600_000).toISOString(), new Date(T0 + 2 * 3_600_000).toISOString()]);
    await w.make().tick();
    expect(w.fires).toHaveLength(1);
  });

  it('records every missed fire and runs none with record-missed', async () => {
    const w = world({ schedule: 'cron(0 * ? * * *)', catchUp: 'record-missed' });
    await w.store.createJob(w.job);
    w.clock.advance(2 * 3_600_000 + 10 * 60_000);
    await w.make().tick();
    expect(w.fires).toEqual([]);
    expect(w.missed).toEqual([new Date(T0 + 3_600_000).toISOString(), new Date(T0 + 2 * 3_600_000).toISOString()]);
  });

  it('fires nothing for a disabled job, and create refuses what it cannot evaluate', async () => {
    const w = world({ schedule: 'rate(1 minute)', enabled: false });
    await w.store.createJob(w.job);
    w.clock.advance(600_000);
    await w.make().tick();
    expect(w.fires).toEqual([]);
    await expect(w.make().create({ ...w.job, schedule: 'rate(1 minutes)' })).rejects.toBeInstanceOf(JobValidationError);
  });
});
