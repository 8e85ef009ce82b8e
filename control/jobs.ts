import { decodePageToken, encodePageToken, pageLimit, pageNewestFirst, type PageRequest } from '../shared/api/pagination.ts';
import { isoAt, type Clock } from '../shared/core/clock.ts';
import { ValidationError } from '../shared/core/errors.ts';
import { silentLogger, type Logger } from '../shared/core/logger.ts';
import { definitionToInput, parseJobDefinition } from '../shared/jobs/definition.ts';
import { JobNotFoundError, JobStoreConflictError, RunNotFoundError } from '../shared/jobs/errors.ts';
import { jobIdFor, runIdFor } from '../shared/jobs/ids.ts';
import { handleRunEvent, isActiveRun, newRunRecord, revise } from '../shared/jobs/run-machine.ts';
import { nextFireTime, parseSchedule } from '../shared/jobs/schedule.ts';
import type { JobRecord, RunRecord, RunTrigger } from '../shared/jobs/types.ts';
import { runView, type JobView, type RunView } from '../shared/jobs/views.ts';
import type { JobDriver } from '../shared/ports/job-driver.ts';
import type { JobScheduler } from '../shared/ports/job-scheduler.ts';
import type { JobStore } from '../shared/ports/job-store.ts';
import { namespaceFor } from '../shared/lifecycle/machine.ts';
import type { Caller } from './clusters.ts';
import { ForbiddenError } from './errors.ts';

/**
 * The job use cases behind `recc job …` and the job-starter: definitions
 * (create/update/get/list/delete, each keeping the job's one schedule in
 * step), triggers (scheduled, manual, catch-up, retry — one path), run
 * listings, logs and cancel. Runs themselves are driven by `RunDriver`
 * (`control/job-runs.ts`).
 *
 * Visibility as for clusters: the owner or an admin; anyone else gets 404.
 */
export interface JobServiceDeps {
  jobs: JobStore;
  scheduler: JobScheduler;
  driver: Pick<JobDriver, 'readLogs'>;
  clock: Clock;
  logger?: Logger;
  templatesDir?: string;
  /** Called after a run is created (the local stack steps it at once; on AWS a queue message). */
  onRunCreated?: (run: RunRecord) => void;
}

export class JobService {
  private readonly logger: Logger;

  constructor(private readonly deps: JobServiceDeps) {
    this.logger = deps.logger ?? silentLogger;
  }

  private now(): string {
    return isoAt(this.deps.clock);
  }

  private parse(body: unknown) {
    return parseJobDefinition(body, this.deps.templatesDir === undefined ? {} : { templatesDir: this.deps.templatesDir });
  }

  async create(caller: Caller, body: unknown): Promise<JobView> {
    const { definition } = this.parse(body);
    const at = this.now();
    const id = jobIdFor(caller.user, definition.name);
    const job: JobRecord = {
      ...definition,
      id,
      owner: caller.user,
      namespace: definition.namespace ?? namespaceFor(caller.user, id),
      version: 1,
      createdAt: at,
      updatedAt: at,
      scheduleAnchorAt: at,
      ...(caller.principalArn === undefined ? {} : { principalArn: caller.principalArn }),
    };
    await this.deps.jobs.createJob(job);
    try {
      await this.deps.scheduler.create(job);
    } catch (err) {
      // No definition without its schedule: undo, so a retry starts clean.
      await this.deps.jobs.deleteJob(job.id).catch(() => undefined);
      throw err;
    }
    this.logger.info('job created', { jobId: id, owner: caller.user, name: job.name, schedule: job.schedule });
    return this.view(job);
  }

  /** Merge `body` over the stored definition, validate the whole, store it and update its schedule. */
  async update(caller: Caller, name: string, body: unknown, owner?: string): Promise<JobView> {
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new ValidationError('invalid job update', [{ path: '', message: 'must be an object of the fields to change' }]);
    }
    if ('name' in body && (body as { name: unknown }).name !== name) {
      throw new ValidationError('invalid job update', [{ path: 'name', message: 'a job cannot be renamed; create a new one' }]);
    }
    const current = await this.visibleJob(caller, name, owner);
    const { definition } = this.parse(mergeUpdate(definitionToInput(current), body as Record<string, unknown>, name));
    const at = this.now();
    const scheduleChanged = definition.schedule !== current.schedule || definition.timezone !== current.timezone;
    const next: JobRecord = {
      ...current,
      ...definition,
      namespace: definition.namespace ?? current.namespace,
      version: current.version + 1,
      updatedAt: at,
      // A new schedule starts now: fire times of the old one are not caught up.
      ...(scheduleChanged ? { scheduleAnchorAt: at } : {}),
    };
    if (scheduleChanged) delete next.lastFiredAt;
    await this.deps.jobs.putJob(next, current.version);
    await this.deps.scheduler.update(next);
    return this.view(next);
  }

  async get(caller: Caller, name: string, owner?: string): Promise<JobView> {
    return this.view(await this.visibleJob(caller, name, owner));
  }

  async list(caller: Caller, options: { all?: boolean } = {}): Promise<JobView[]> {
    if (options.all && !caller.admin) throw new ForbiddenError('listing every job needs an admin role', [{ path: 'all', message: 'admins only' }]);
    return (await this.deps.jobs.listJobs(options.all ? undefined : caller.user)).map((j) => this.view(j));
  }

  /** Delete the schedule, then the definition; active runs are asked to cancel. Idempotent. */
  async delete(caller: Caller, name: string, owner?: string): Promise<{ deleted: true; cancelledRuns: string[] }> {
    const job = await this.visibleJob(caller, name, owner);
    await this.deps.scheduler.delete(job);
    const cancelled: string[] = [];
    for (const run of await this.deps.jobs.listRuns(job.id, { limit: 50 })) {
      if (isActiveRun(run.status)) {
        await this.requestCancel(run.id, caller.user);
        cancelled.push(run.id);
      }
    }
    await this.deps.jobs.deleteJob(job.id);
    this.logger.info('job deleted', { jobId: job.id, owner: job.owner, cancelledRuns: cancelled });
    return { deleted: true, cancelledRuns: cancelled };
  }

  /** `recc job run NAME`: the same path as a scheduled fire, for now. */
  async runNow(caller: Caller, name: string, owner?: string): Promise<{ run: RunView; created: boolean }> {
    const job = await this.visibleJob(caller, name, owner);
    return this.trigger(job.id, this.deps.clock.now(), 'manual', caller.user);
  }

  /**
   * The job starter: one run per (job, fire time, attempt). A duplicated or
   * retried trigger gets the existing run with `created: false`. The job's
   * concurrency policy is applied to a new run: Forbid skips it while an
   * earlier run is active, Replace asks the active runs to cancel, Allow
   * does nothing.
   */
  async trigger(jobId: string, scheduledAtMs: number, trigger: RunTrigger, actor = 'scheduler', attempt = 1, notBefore?: number): Promise<{ run: RunView; created: boolean }> {
    if (!Number.isFinite(scheduledAtMs)) throw new ValidationError('invalid trigger', [{ path: 'scheduledTime', message: 'must be a time' }]);
    const job = await this.deps.jobs.getJob(jobId);
    if (job === undefined) throw new JobNotFoundError(jobId);
    const at = this.now();
    const { run, change } = newRunRecord(
      {
        id: runIdFor(job.id, scheduledAtMs, attempt),
        jobId: job.id,
        jobName: job.name,
        owner: job.owner,
        scheduledAt: new Date(scheduledAtMs).toISOString(),
        trigger,
        attempt,
        at,
        ttlDays: job.cleanup.runRecordTtlDays,
      },
      { actor, stimulusId: `trigger:${trigger}:${new Date(scheduledAtMs).toISOString()}` },
    );
    if (notBefore !== undefined) run.notBefore = new Date(notBefore).toISOString();
    const stored = await this.deps.jobs.createRun(run, change);
    if (!stored.created) return { run: runView(stored.run, this.deps.clock.now()), created: false };
    let current = stored.run;
    const others = (await this.deps.jobs.listRuns(job.id, { limit: 50 })).filter((r) => r.id !== current.id && isActiveRun(r.status));
    if (job.concurrency === 'Forbid') {
      // Deterministic between concurrent triggers: a run yields only to an earlier one.
      const earlier = others.find((o) => o.scheduledAt < current.scheduledAt || (o.scheduledAt === current.scheduledAt && o.id < current.id));
      if (earlier !== undefined) current = await this.skip(current, `Forbid: run ${earlier.id} is still ${earlier.status}`);
    } else if (job.concurrency === 'Replace') {
      for (const o of others) await this.requestCancel(o.id, `replaced by ${current.id}`);
    }
    this.logger.info('run triggered', { jobId: job.id, runId: current.id, trigger, status: current.status });
    if (current.status === 'PENDING') this.deps.onRunCreated?.(current);
    return { run: runView(current, this.deps.clock.now()), created: true };
  }

  /** A fire time that will not run (the local scheduler was down and the policy says record): a SKIPPED run. */
  async recordMissed(job: JobRecord, scheduledAtMs: number): Promise<RunView> {
    const { run } = await this.trigger(job.id, scheduledAtMs, 'catch-up', 'scheduler').then(async (r) => {
      if (r.run.status !== 'PENDING') return r;
      const skipped = await this.skip(r.run, `missed: the scheduler was not running at ${new Date(scheduledAtMs).toISOString()}`);
      return { run: runView(skipped, this.deps.clock.now()), created: r.created };
    });
    return run;
  }

  private async skip(run: RunRecord, reason: string): Promise<RunRecord> {
    const step = handleRunEvent(run, { type: 'skip', stimulusId: `skip:${run.id}`, reason }, { deleteClusterOnSuccess: true, deleteClusterOnFailure: true, retryLimit: 0 }, { actor: 'scheduler', at: this.now() });
    if (step.kind !== 'changed') return run;
    return this.deps.jobs.putRun(step.next, run.version, step.change);
  }

  async runs(caller: Caller, name: string, options: { owner?: string; limit?: number } = {}): Promise<RunView[]> {
    return (await this.runsPage(caller, name, options)).runs;
  }

  /**
   * One page of a job's runs, newest first (issue 17 #11): `limit` (1..1000,
   * default 50) and the `nextToken` of the previous page. The store starts
   * after the token's run, so runs fired meanwhile never shift a page.
   */
  async runsPage(caller: Caller, name: string, options: { owner?: string } & PageRequest = {}): Promise<{ runs: RunView[]; nextToken: string | null }> {
    const limit = pageLimit(options.limit ?? 50);
    const cursor = options.nextToken === undefined ? undefined : decodePageToken(options.nextToken);
    const job = await this.visibleJob(caller, name, options.owner);
    const now = this.deps.clock.now();
    // One more than the page: whether there is a next page, without a second read.
    const found = await this.deps.jobs.listRuns(job.id, { limit: limit + 1, ...(cursor ? { after: { scheduledAt: cursor.createdAt, id: cursor.id } } : {}) });
    const page = found.slice(0, limit);
    const last = page.at(-1);
    return { runs: page.map((r) => runView(r, now)), nextToken: found.length > limit && last ? encodePageToken({ createdAt: last.scheduledAt, id: last.id }) : null };
  }

  /** One page of `list`, newest first, exactly as `GET /clusters` (shared/api/pagination.ts). */
  async listPage(caller: Caller, options: { all?: boolean } & PageRequest = {}): Promise<{ jobs: JobView[]; nextToken: string | null }> {
    const { limit, nextToken, ...filter } = options;
    const views = await this.list(caller, filter);
    const page = pageNewestFirst(
      views.map((view) => ({ view, createdAt: view.createdAt, id: view.id })),
      { ...(limit === undefined ? {} : { limit }), ...(nextToken === undefined ? {} : { nextToken }) },
    );
    return { jobs: page.items.map((x) => x.view), nextToken: page.nextToken };
  }

  async getRun(caller: Caller, runId: string): Promise<RunView> {
    return runView(await this.visibleRun(caller, runId), this.deps.clock.now());
  }

  async logs(caller: Caller, runId: string): Promise<{ runId: string; status: string; logs: string }> {
    const run = await this.visibleRun(caller, runId);
    return { runId, status: run.status, logs: (await this.deps.driver.readLogs(runId)) ?? '' };
  }

  /** Ask for a cancel; the run driver kills the driver and deletes the cluster. Idempotent; a finished run is returned as is. */
  async cancel(caller: Caller, runId: string): Promise<RunView> {
    const run = await this.visibleRun(caller, runId);
    if (!isActiveRun(run.status)) return runView(run, this.deps.clock.now());
    const next = await this.requestCancel(runId, caller.user);
    if (next !== undefined) this.deps.onRunCreated?.(next);
    return runView(next ?? run, this.deps.clock.now());
  }

  private async requestCancel(runId: string, by: string): Promise<RunRecord | undefined> {
    for (let attempt = 0; attempt < 5; attempt += 1) {
      const run = await this.deps.jobs.getRun(runId);
      if (run === undefined || !isActiveRun(run.status) || run.cancelRequestedAt !== undefined) return run;
      try {
        return await this.deps.jobs.putRun(revise(run, this.now(), { cancelRequestedAt: this.now() }), run.version);
      } catch (err) {
        if (!(err instanceof JobStoreConflictError)) throw err;
      }
    }
    this.logger.warn('could not record a cancel request after 5 attempts', { runId, by });
    return undefined;
  }

  private async visibleJob(caller: Caller, name: string, owner?: string): Promise<JobRecord> {
    if (owner !== undefined && owner !== caller.user && !caller.admin) throw new JobNotFoundError(name);
    const job = await this.deps.jobs.getJob(jobIdFor(owner ?? caller.user, name));
    if (job === undefined) throw new JobNotFoundError(name);
    return job;
  }

  private async visibleRun(caller: Caller, runId: string): Promise<RunRecord> {
    const run = await this.deps.jobs.getRun(runId);
    if (run === undefined || (run.owner !== caller.user && !caller.admin)) throw new RunNotFoundError(runId);
    return run;
  }

  private view(job: JobRecord): JobView {
    const { schedule } = parseSchedule(job.schedule, job.timezone);
    const after = Math.max(this.deps.clock.now(), job.lastFiredAt === undefined ? 0 : Date.parse(job.lastFiredAt));
    const next = job.enabled && schedule ? nextFireTime(schedule, job.timezone, Date.parse(job.scheduleAnchorAt), after) : undefined;
    return { ...job, nextFireAt: next === undefined ? null : new Date(next).toISOString() };
  }
}

/**
 * An update body over the stored definition: top-level fields replace, the
 * policy objects (timeouts, retries, cleanup) merge field by field, and
 * `cluster` merges its template and its overrides key by key, so
 * `recc job update nightly --active-timeout 600` changes one timeout only.
 */
export function mergeUpdate(stored: Record<string, unknown>, body: Record<string, unknown>, name: string): Record<string, unknown> {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
  const merged: Record<string, unknown> = { ...stored };
  for (const [key, value] of Object.entries(body)) {
    const old = stored[key];
    if (['timeouts', 'retries', 'cleanup'].includes(key) && isObject(value) && isObject(old)) merged[key] = { ...old, ...value };
    else if (key === 'cluster' && isObject(value) && isObject(old)) {
      const overrides = isObject(value.overrides) && isObject(old.overrides) ? { ...old.overrides, ...value.overrides } : (value.overrides ?? old.overrides);
      merged[key] = { ...old, ...value, overrides };
    } else merged[key] = value;
  }
  merged.name = name;
  return merged;
}
