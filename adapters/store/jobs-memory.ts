import { JobExistsError, JobStoreConflictError } from '../../shared/jobs/errors.ts';
import type { JobRecord, RunRecord, RunStatusChange } from '../../shared/jobs/types.ts';
import type { JobStore, RunCursor } from '../../shared/ports/job-store.ts';
import { checkJobPut, checkRunCreate, checkRunPut, isOlderRun, isUnfinished, jobsNewestFirst, runsNewestFirst, runsOldestUpdateFirst } from './jobs-common.ts';

/** In-memory JobStore for tests and fakes; the same contract as DynamoDB. Records are copied in and out. */
export class MemoryJobStore implements JobStore {
  private readonly jobs = new Map<string, JobRecord>();
  private readonly runs = new Map<string, RunRecord>();
  private readonly histories = new Map<string, RunStatusChange[]>();

  async createJob(job: JobRecord): Promise<JobRecord> {
    if (this.jobs.has(job.id)) throw new JobExistsError(job.name);
    this.jobs.set(job.id, structuredClone(job));
    return structuredClone(job);
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const job = this.jobs.get(id);
    return job && structuredClone(job);
  }

  async listJobs(owner?: string): Promise<JobRecord[]> {
    return [...this.jobs.values()].filter((j) => owner === undefined || j.owner === owner).sort(jobsNewestFirst).map((j) => structuredClone(j));
  }

  async putJob(next: JobRecord, expectedVersion: number): Promise<JobRecord> {
    checkJobPut(next, expectedVersion);
    const current = this.jobs.get(next.id);
    if (current?.version !== expectedVersion) throw new JobStoreConflictError(`job ${next.id}`, expectedVersion, current && structuredClone(current));
    this.jobs.set(next.id, structuredClone(next));
    return structuredClone(next);
  }

  async deleteJob(id: string): Promise<void> {
    this.jobs.delete(id);
  }

  async createRun(run: RunRecord, change: RunStatusChange): Promise<{ run: RunRecord; created: boolean }> {
    checkRunCreate(run, change);
    const existing = this.runs.get(run.id);
    if (existing) return { run: structuredClone(existing), created: false };
    this.runs.set(run.id, structuredClone(run));
    this.histories.set(run.id, [structuredClone(change)]);
    return { run: structuredClone(run), created: true };
  }

  async getRun(id: string): Promise<RunRecord | undefined> {
    const run = this.runs.get(id);
    return run && structuredClone(run);
  }

  async putRun(next: RunRecord, expectedVersion: number, change?: RunStatusChange): Promise<RunRecord> {
    checkRunPut(next, expectedVersion, change);
    const current = this.runs.get(next.id);
    if (current?.version !== expectedVersion) throw new JobStoreConflictError(`run ${next.id}`, expectedVersion, current && structuredClone(current));
    this.runs.set(next.id, structuredClone(next));
    if (change) this.histories.get(next.id)?.push(structuredClone(change));
    return structuredClone(next);
  }

  async listRuns(jobId: string, options: { limit?: number; after?: RunCursor } = {}): Promise<RunRecord[]> {
    const { after } = options;
    const all = [...this.runs.values()].filter((r) => r.jobId === jobId && (after === undefined || isOlderRun(r, after))).sort(runsNewestFirst);
    return all.slice(0, options.limit ?? all.length).map((r) => structuredClone(r));
  }

  async listUnfinishedRuns(): Promise<RunRecord[]> {
    return [...this.runs.values()].filter(isUnfinished).sort(runsOldestUpdateFirst).map((r) => structuredClone(r));
  }

  async runHistory(id: string): Promise<RunStatusChange[]> {
    return structuredClone(this.histories.get(id) ?? []);
  }
}
