import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, type WriteStream } from 'node:fs';
import { copyFile, mkdir, readFile, writeFile } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '../../shared/core/logger.ts';
import { sleep } from '../../shared/core/retry.ts';
import type { JobRecord, RunRecord } from '../../shared/jobs/types.ts';
import type { DriverStatus, JobDriver } from '../../shared/ports/job-driver.ts';
import { isProcessAlive } from '../../comm/process.ts';
import { requirePublished } from '../source/store.ts';

/**
 * The run's driver as a child process of the local stack, in its own process
 * group (so kill reaches everything it started), with
 * `RECC_CLUSTER=id:<the run's cluster>` and `RECC_API_URL` at the local API:
 * the script a researcher runs ad hoc runs here unchanged.
 *
 * - module entry without export: `node --import tsx <module>` (run as a script);
 * - module entry with export: `run-entry.ts <module> <export>` calls it with the params;
 * - command entry: the argv as given.
 * Params also travel as `RECC_JOB_PARAMS` (JSON). Output goes to
 * `<stateDir>/job-runs/<run>/driver.log` (stdout and stderr, line-prefixed)
 * and the exit status to `exit.json`; `copyLogs` copies the log to
 * `<stateDir>/job-logs/<run>.log`, which outlives the cluster.
 */
export interface LocalJobDriverOptions {
  stateDir: string;
  /** The local API, for `RECC_CLUSTER=id:…` (a function when the port is known only later). */
  apiUrl: string | (() => string);
  apiToken?: string;
  /** Where module entries are resolved (the published source locally: the repository). @default the repository root */
  sourceDir?: string;
  /** Source store (adapters/source/store.ts): a job with `sourceGitBranch` runs from its published tree there instead of `sourceDir`. */
  sourceStoreDir?: string;
  /** Env the driver starts from (PATH, HOME, …). */
  baseEnv?: Record<string, string | undefined>;
  /** Grace between TERM and KILL. @default 5000 */
  killGraceMs?: number;
  logger?: Logger;
}

interface Live {
  child: ChildProcess;
  pid: number;
  log: WriteStream;
  stderrTail: string;
  lastOutputAt: number;
  exited?: { exitCode: number | null; signal: string | null };
  done: Promise<void>;
}

const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));
const RUN_ENTRY = fileURLToPath(new URL('./run-entry.ts', import.meta.url));
const TAIL_BYTES = 4096;

export class LocalJobDriver implements JobDriver {
  private readonly live = new Map<string, Live>();
  private readonly logger: Logger;

  constructor(private readonly options: LocalJobDriverOptions) {
    this.logger = options.logger ?? silentLogger;
  }

  private dir(runId: string): string {
    if (!/^[a-z0-9-]+$/.test(runId)) throw new Error(`invalid run id ${JSON.stringify(runId)}`);
    return join(this.options.stateDir, 'job-runs', runId);
  }

  private copiedLog(runId: string): string {
    return join(this.options.stateDir, 'job-logs', `${runId}.log`);
  }

  async start({ run, job, clusterId }: { run: RunRecord; job: JobRecord; clusterId: string }): Promise<{ pid?: number }> {
    const existing = this.live.get(run.id);
    if (existing) return { pid: existing.pid };
    const dir = this.dir(run.id);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const sourceDir =
      job.sourceGitBranch !== undefined && this.options.sourceStoreDir !== undefined
        ? (await requirePublished(this.options.sourceStoreDir, job.sourceGitBranch)).path
        : (this.options.sourceDir ?? REPO_ROOT);
    const tsx = ['--import', import.meta.resolve('tsx/esm')];
    let argv: string[];
    if (job.entry.kind === 'command') argv = job.entry.command;
    else {
      const module = resolve(sourceDir, job.entry.module);
      if (!module.startsWith(resolve(sourceDir)) || isAbsolute(job.entry.module)) throw new Error(`entry ${job.entry.module} is outside the source`);
      if (!existsSync(module)) throw new Error(`entry module ${job.entry.module} does not exist in ${sourceDir}`);
      argv = job.entry.export === undefined ? [process.execPath, ...tsx, module] : [process.execPath, ...tsx, RUN_ENTRY, module, job.entry.export];
    }
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(this.options.baseEnv ?? {})) if (v !== undefined) env[k] = v;
    Object.assign(env, {
      RECC_CLUSTER: `id:${clusterId}`,
      RECC_API_URL: typeof this.options.apiUrl === 'function' ? this.options.apiUrl() : this.options.apiUrl,
      RECC_JOB: job.name,
      RECC_JOB_RUN: run.id,
      RECC_JOB_PARAMS: JSON.stringify(job.entry.params),
      ...(this.options.apiToken ? { RECC_API_TOKEN: this.options.apiToken } : {}),
    });
    const [program, ...args] = argv as [string, ...string[]];
    const log = createWriteStream(join(dir, 'driver.log'), { flags: 'a', mode: 0o600 });
    const child = spawn(program, args, { cwd: sourceDir, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = await new Promise<number>((ok, fail) => {
      child.once('spawn', () => ok(child.pid as number));
      child.once('error', fail);
    });
    let finish!: () => void;
    const entry: Live = { child, pid, log, stderrTail: '', lastOutputAt: Date.now(), done: new Promise((r) => (finish = r)) };
    this.live.set(run.id, entry);
    child.stdout?.on('data', (chunk: Buffer) => {
      entry.lastOutputAt = Date.now();
      log.write(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      entry.lastOutputAt = Date.now();
      entry.stderrTail = (entry.stderrTail + chunk.toString()).slice(-TAIL_BYTES);
      log.write(chunk);
    });
    child.once('close', (code, signal) => {
      entry.exited = { exitCode: code, signal };
      void writeFile(join(dir, 'exit.json'), JSON.stringify({ ...entry.exited, stderrTail: entry.stderrTail }))
        .catch(() => undefined)
        .finally(() => log.end(() => finish()));
    });
    this.logger.info('job driver started', { runId: run.id, pid, argv });
    return { pid };
  }

  async status(runId: string): Promise<DriverStatus | undefined> {
    const entry = this.live.get(runId);
    if (entry?.exited) return { running: false, exitCode: entry.exited.exitCode, signal: entry.exited.signal, stderrTail: entry.stderrTail };
    if (entry) return { running: true, pid: entry.pid, lastOutputAt: entry.lastOutputAt };
    // Not ours (the stack restarted): an exit recorded on disk still tells how it ended.
    try {
      const exit = JSON.parse(await readFile(join(this.dir(runId), 'exit.json'), 'utf8')) as { exitCode: number | null; signal: string | null; stderrTail: string };
      return { running: false, exitCode: exit.exitCode, signal: exit.signal, stderrTail: exit.stderrTail };
    } catch {
      return undefined;
    }
  }

  async kill(runId: string): Promise<void> {
    const entry = this.live.get(runId);
    if (!entry || entry.exited) return;
    const signalGroup = (sig: NodeJS.Signals) => {
      try {
        process.kill(-entry.pid, sig);
      } catch {
        // The group is gone already.
      }
    };
    signalGroup('SIGTERM');
    const deadline = Date.now() + (this.options.killGraceMs ?? 5000);
    while (!entry.exited && Date.now() < deadline) await sleep(50);
    if (!entry.exited) signalGroup('SIGKILL');
    await Promise.race([entry.done, sleep(10_000)]);
  }

  async copyLogs(runId: string): Promise<string | undefined> {
    const entry = this.live.get(runId);
    if (entry && entry.exited) await entry.done;
    const source = join(this.dir(runId), 'driver.log');
    if (!existsSync(source)) return undefined;
    const target = this.copiedLog(runId);
    await mkdir(join(this.options.stateDir, 'job-logs'), { recursive: true, mode: 0o700 });
    await copyFile(source, target);
    return target;
  }

  async readLogs(runId: string): Promise<string | undefined> {
    for (const path of [this.copiedLog(runId), join(this.dir(runId), 'driver.log')]) {
      try {
        return await readFile(path, 'utf8');
      } catch {
        // try the next place
      }
    }
    return undefined;
  }

  /** Kill every driver this process started (stack shutdown). */
  async close(): Promise<void> {
    await Promise.all([...this.live.keys()].map((id) => this.kill(id)));
  }

  /** Pids of drivers still alive (tests). */
  alivePids(): number[] {
    return [...this.live.values()].filter((e) => !e.exited && isProcessAlive(e.pid)).map((e) => e.pid);
  }
}
