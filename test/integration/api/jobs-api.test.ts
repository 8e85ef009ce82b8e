import { describe, expect, it } from 'vitest';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { LocalJobScheduler } from '../../../adapters/scheduler/local.ts';
import { MemoryJobStore } from '../../../adapters/store/jobs-memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { JobService } from '../../../control/jobs.ts';
import { makeHandler as makeJobStarter } from '../../../functions/job-starter.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { makeApi, roleArn, userArn } from '../../support/api-invoke.ts';

/**
 * The job routes through the same middleware as the cluster API (in-process
 * API Gateway events): validation with a detail per problem, owner-or-admin,
 * and the job starter's event contract.
 */
async function setup() {
  const clock = new ManualClock(Date.UTC(2026, 11, 4, 18, 0));
  const jobs = new MemoryJobStore();
  const scheduler = new LocalJobScheduler({ store: jobs, clock, fire: async () => undefined, recordMissed: async () => undefined });
  const jobService = new JobService({ jobs, scheduler, driver: { readLogs: async () => 'the logs\n' }, clock });
  const deps = { store: new InMemoryClusterStore(), queue: new InMemoryWorkQueue(), clock, ids: new SequentialIds(), jobService };
  return { api: await makeApi(deps), jobService, deps };
}

const def = { name: 'nightly', schedule: 'cron(0 2 ? * * *)', timezone: 'Europe/London', cluster: { template: 'small' }, entry: { module: 'examples/backfill-job.ts' } };

describe('job API', () => {
  it('creates, reads, updates, runs, lists runs, reads logs and deletes; others get 404, admins see all', async () => {
    const { api } = await setup();
    const alice = userArn('alice');
    const created = await api({ method: 'POST', path: '/jobs', body: def, arn: alice });
    expect(created.statusCode).toBe(201);
    expect(created.body.job).toMatchObject({ name: 'nightly', owner: 'alice', nextFireAt: '2026-12-05T02:00:00.000Z' });
    expect((await api({ method: 'GET', path: '/jobs/nightly', arn: userArn('bob') })).statusCode).toBe(404);
    expect((await api({ method: 'GET', path: '/jobs/nightly?owner=alice', arn: userArn('bob') })).statusCode).toBe(404);
    expect((await api({ method: 'GET', path: '/jobs/nightly?owner=alice', arn: roleArn('recc-admin', 'root') })).statusCode).toBe(200);
    const updated = await api({ method: 'PATCH', path: '/jobs/nightly', body: { timeouts: { activeSeconds: 600 } }, arn: alice });
    expect(updated.body.job.timeouts).toEqual({ preRunningSeconds: 900, activeSeconds: 600, idleSeconds: 3600 });
    const run = await api({ method: 'POST', path: '/jobs/nightly/runs', arn: alice });
    expect(run.statusCode).toBe(202);
    expect((await api({ method: 'GET', path: '/jobs/nightly/runs?limit=5', arn: alice })).body.runs.map((r: any) => r.id)).toEqual([run.body.run.id]);
    expect((await api({ method: 'GET', path: `/runs/${run.body.run.id}/logs`, arn: alice })).body.logs).toBe('the logs\n');
    expect((await api({ method: 'GET', path: `/runs/${run.body.run.id}`, arn: userArn('bob') })).statusCode).toBe(404);
    expect((await api({ method: 'POST', path: `/runs/${run.body.run.id}/cancel`, arn: alice })).body.run.cancelRequestedAt).toBeDefined();
    expect((await api({ method: 'DELETE', path: '/jobs/nightly', arn: alice })).body).toEqual({ deleted: true, cancelledRuns: [run.body.run.id] });
    expect((await api({ method: 'GET', path: '/jobs/nightly', arn: alice })).statusCode).toBe(404);
  });

  it('answers 400 with one detail per problem, never 500, for hostile input', async () => {
    const { api } = await setup();
    const alice = userArn('alice');
    const bad = await api({ method: 'POST', path: '/jobs', body: { ...def, schedule: 'cron(0 2 * * * *)', timezone: 'Europe/Lndon', cluster: { template: 'small', overrides: { nWorkers: 'many' } }, concurrency: 'Never' }, arn: alice });
    expect(bad.statusCode).toBe(400);
    expect(bad.body.error.details.map((d: any) => d.path).sort()).toEqual(['cluster.overrides.nWorkers', 'concurrency', 'schedule', 'timezone']);
    for (const body of [[], 'x', null, { ...def, entry: { module: 'a.ts', command: ['x'] } }, { ...def, name: 'Nightly!' }, { ...def, entry: { module: '/etc/passwd' } }]) {
      const r = await api({ method: 'POST', path: '/jobs', body, arn: alice });
      expect(r.statusCode, JSON.stringify(body)).toBe(400);
      expect(r.body.error.details.length).toBeGreaterThan(0);
    }
    expect((await api({ method: 'GET', path: '/jobs/nightly/runs?limit=abc', arn: alice })).statusCode).toBe(400);
    expect((await api({ method: 'GET', path: '/runs/..%2Fetc', arn: alice })).statusCode).toBe(400);
    await api({ method: 'POST', path: '/jobs', body: def, arn: alice });
    const rename = await api({ method: 'PATCH', path: '/jobs/nightly', body: { name: 'other' }, arn: alice });
    expect(rename.statusCode).toBe(400);
    expect((await api({ method: 'PATCH', path: '/jobs/nightly', body: { schedule: 'rate(0 minutes)' }, arn: alice })).body.error.details).toEqual([
      { path: 'schedule', message: 'the rate must be at least 1' },
    ]);
  });

  it('job starter: one run per (job, scheduled time); a deleted job is a no-op; a malformed event is refused', async () => {
    const { api, jobService, deps } = await setup();
    const job = (await api({ method: 'POST', path: '/jobs', body: def, arn: userArn('alice') })).body.job;
    const start = makeJobStarter({ ...deps, identity: { allowedAccounts: [] } as never, jobService });
    const event = { jobId: job.id, scheduledTime: '2026-12-05T02:00:00Z' };
    const results = await Promise.all(Array.from({ length: 10 }, () => start(event)));
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(results.map((r) => r.runId)).size).toBe(1);
    await expect(start({ jobId: job.id })).rejects.toMatchObject({ statusCode: 400 });
    expect(await start({ jobId: 'j-0000000000000', scheduledTime: '2026-12-05T02:00:00Z' })).toEqual({ runId: null, status: 'JOB_GONE', created: false });
  });

  it('pages GET /jobs and GET /jobs/{name}/runs with limit and nextToken, every item once; a foreign token is a 400 naming nextToken', async () => {
    // Prepare: 3 jobs, and 5 runs of one fired by the job starter a minute apart.
    const { api, jobService, deps } = await setup();
    const alice = userArn('alice');
    for (const name of ['a-job', 'b-job', 'c-job']) {
      expect((await api({ method: 'POST', path: '/jobs', body: { ...def, name }, arn: alice })).statusCode).toBe(201);
      deps.clock.advance(1000);
    }
    const job = (await api({ method: 'GET', path: '/jobs/a-job', arn: alice })).body.job;
    const start = makeJobStarter({ ...deps, identity: { allowedAccounts: [] } as never, jobService });
    for (let i = 0; i < 5; i += 1) await start({ jobId: job.id, scheduledTime: new Date(Date.UTC(2026, 11, 5, 2, i)).toISOString() });
    const follow = async (path: string, key: 'jobs' | 'runs') => {
      const pages: string[][] = [];
      let token: string | null = null;
      do {
        const r = await api({ method: 'GET', path: `${path}${path.includes('?') ? '&' : '?'}limit=2${token ? `&nextToken=${token}` : ''}`, arn: alice });
        expect(r.statusCode).toBe(200);
        pages.push(r.body[key].map((x: any) => x.name ?? x.scheduledAt));
        token = r.body.nextToken;
      } while (token);
      return pages;
    };

    // Act / Assess
    expect(await follow('/jobs', 'jobs')).toEqual([['c-job', 'b-job'], ['a-job']]);
    expect(await follow('/jobs/a-job/runs', 'runs')).toEqual([
      ['2026-12-05T02:04:00.000Z', '2026-12-05T02:03:00.000Z'],
      ['2026-12-05T02:02:00.000Z', '2026-12-05T02:01:00.000Z'],
      ['2026-12-05T02:00:00.000Z'],
    ]);
    expect((await api({ method: 'GET', path: '/jobs', arn: alice })).body.nextToken).toBeNull();
    const bad = await api({ method: 'GET', path: '/jobs/a-job/runs?nextToken=bm90LWEtdG9rZW4', arn: alice });
    expect(bad.statusCode).toBe(400);
    expect(bad.body.error.details).toEqual([{ path: 'nextToken', message: 'is not a token from a previous page of this list; start again without it' }]);
    expect((await api({ method: 'GET', path: '/jobs?limit=0', arn: alice })).body.error.details[0].path).toBe('limit');
  });
});
