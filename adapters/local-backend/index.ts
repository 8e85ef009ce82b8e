import { spawn } from 'node:child_process';
import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { freePorts } from '../../comm/free-ports.ts';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../../shared/core/logger.ts';
import { parseSchedulerStatus, type SchedulerStatus } from '../../shared/engine/scheduler-status.ts';
import { silentLogger } from '../../shared/core/logger.ts';
import type { ClusterDefinition, ClusterSecrets, PodTemplate } from '../../shared/definition/types.ts';
import type { BackendClusterRef, ComponentFailure, ComputeBackend, Observation, ScaleOptions } from '../../shared/ports/compute-backend.ts';
import type { BackendStartTimes } from '../../shared/lifecycle/types.ts';
import { readSecretFiles, writeSecretFiles } from '../secrets/index.ts';
import { LocalGpuError, LocalProcessStartError, LocalStateError } from './errors.ts';
import { ALLOW_MISSING_GPUS_ENV, checkLocalGpus, detectLocalGpus } from './gpus.ts';
import { getBoolean } from '../../shared/core/env.ts';
import { processEntry } from '../../comm/launch.ts';
import { isProcessAlive } from '../../comm/process.ts';
import { DEFAULT_SUPERVISOR_STALE_SECONDS, holdSupervisorLease, SUPERVISOR_LEASE_ENV, SUPERVISOR_STALE_ENV, type SupervisorLease } from '../../comm/supervisor-lease.ts';
import { backoffDelay, RESTART_BACKOFF, RestartBudget, sleep } from '../../shared/core/retry.ts';
import { WORKER_MALLOC_ENV } from '../../shared/engine/worker-env.ts';
import { localProcessFor } from './rewrite.ts';
import { branchDir, requirePublished } from '../source/store.ts';

export * from './errors.ts';
export * from './rewrite.ts';
export * from './gpus.ts';

/**
 * The local-process ComputeBackend: each pod of the rendered definition runs
 * as a child process with that pod's env (see `rewrite.ts` for what changes
 * locally). Layout under the state dir:
 *
 *   <stateDir>/clusters/<id>/state.json   pids, ports, desired workers
 *   <stateDir>/clusters/<id>/secrets/     token, ca.pem, tls.crt, tls.key (0600)
 *   <stateDir>/clusters/<id>/logs/        scheduler.log, worker-<n>.log (kept after teardown)
 *
 * Cluster processes are detached (their own process group) so a cluster
 * survives a restart of `recc up`; they are always stopped explicitly by
 * `teardown`, or, when the process holding this backend is gone for good,
 * they stop themselves once its supervisor lease (`<stateDir>/supervisor.lease`,
 * comm/supervisor-lease.ts) has not been renewed for `supervisorStaleSeconds`.
 * Readiness: the scheduler logged `scheduler.ready` and its
 * dashboard's `/api/status` counts the planned workers. A process that exits
 * is a failure with the tail of its log; a worker that dies after its
 * start-up grace is restarted, as a kubelet would.
 */
export interface LocalBackendOptions {
  stateDir: string;
  /** argv that replaces the `recc` entrypoint. @default [node, <repo>/bin/recc.mjs] */
  reccCommand?: string[];
  /**
   * Start `recc scheduler`/`recc worker` through the engine's direct entry
   * (`comm/launch.ts`) instead of the full CLI. @default true
   */
  directEntries?: boolean;
  /** Env every process starts from (PATH, HOME, …); the pod env is laid over it. */
  baseEnv?: Record<string, string | undefined>;
  logger?: Logger;
  /**
   * Honour test hooks in pod env: a worker whose env has
   * `RECC_TEST_WORKER_COMMAND=<shell command>` runs that command instead of
   * `recc worker` (used by the e2e tests to make a worker crash at start).
   */
  testHooks?: boolean;
  /**
   * Cluster processes stop themselves once this backend's supervisor lease
   * has not been renewed this long (its holder was killed and not restarted).
   * @default 600
   */
  supervisorStaleSeconds?: number;
  /** A worker that exits within this time of its start, before registering, is a permanent failure. @default 20_000 */
  startupGraceMs?: number;
  /** Worker restarts allowed per cluster within `restartWindowMs`; beyond them a crash loop is reported, not restarted. @default 10 */
  maxWorkerRestarts?: number;
  /** @default 60_000 */
  restartWindowMs?: number;
  /** Lines of log kept in a failure. @default 20 */
  logTailLines?: number;
  /** Time allowed for graceful stop before SIGKILL. @default 5_000 */
  stopTimeoutMs?: number;
  /** GPUs this machine has. @default `RECC_LOCAL_GPUS` from `baseEnv`, else counted with `nvidia-smi -L` */
  gpus?: number;
  /** Start clusters whose workers ask for more GPUs than the machine has (with a warning). @default `RECC_LOCAL_ALLOW_MISSING_GPUS` from `baseEnv` */
  allowMissingGpus?: boolean;
  /** How local ports are chosen. @default free ports on 127.0.0.1 from the OS */
  choosePorts?: (n: number) => Promise<number[]>;
  /**
   * The source store (`recc source publish`, adapters/source/store.ts): a
   * cluster with `sourceGitBranch` runs its processes in `<store>/<branch>`
   * with `RECC_SOURCE_DIR`/`RECC_SOURCE_BRANCH` set, as the EKS pods get the
   * branch mounted from EFS; an unpublished branch fails the cluster.
   * @default `<stateDir>/sources`
   */
  sourceStoreDir?: string;
}

interface ProcessEntry {
  podName: string;
  component: 'scheduler' | 'worker';
  index: number;
  pid: number;
  logFile: string;
  startedAt: number;
  /** Size of the (appended) log file when this process started: its own lines come after. */
  logStart?: number;
  /** Restarts in a row of this worker slot whose process lived less than STABLE_WORKER_MS. */
  quickRestarts?: number;
}

/** A worker that lived this long before dying was healthy: its restart starts the backoff afresh. */
const STABLE_WORKER_MS = 60_000;

interface ClusterState {
  clusterId: string;
  owner: string;
  namespace: string;
  definition: ClusterDefinition;
  schedulerPort: number;
  dashboardPort: number;
  workersDesired: number;
  nextWorkerIndex: number;
  processes: ProcessEntry[];
  tornDown: boolean;
  /** Times the cluster was restarted on new ports after losing a port race. */
  portRetries?: number;
  updatedAt: string;
}

interface Exit {
  code: number | null;
  signal: string | null;
  at: number;
}

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const DEFAULT_RECC_COMMAND = [process.execPath, join(REPO_ROOT, 'bin', 'recc.mjs')];
export const TEST_WORKER_COMMAND_ENV = 'RECC_TEST_WORKER_COMMAND';

/** `node [execArgv] <entry>` for the engine's own process entries. */
function directEntry(subcommand: string): string[] | undefined {
  if (subcommand !== 'scheduler' && subcommand !== 'worker') return undefined;
  const entry = processEntry(subcommand);
  return [process.execPath, ...entry.execArgv, entry.path];
}

export class LocalProcessBackend implements ComputeBackend {
  readonly kind = 'local-process';
  private readonly logger: Logger;
  private readonly reccCommand: string[];
  /** Exit status of children this process spawned (others are only known as dead). */
  private readonly exits = new Map<number, Exit>();
  /** Worker restarts per cluster in the current window (in memory: a restarted backend starts afresh). */
  private readonly restartBudgets = new Map<string, RestartBudget>();
  private readonly locks = new Map<string, Promise<unknown>>();
  /** GPUs on this machine, detected on the first cluster that asks for one. */
  private machineGpus: number | undefined;

  constructor(private readonly options: LocalBackendOptions) {
    this.logger = options.logger ?? silentLogger;
    this.reccCommand = options.reccCommand ?? DEFAULT_RECC_COMMAND;
    mkdirSync(options.stateDir, { recursive: true });
    const seconds = options.supervisorStaleSeconds ?? DEFAULT_SUPERVISOR_STALE_SECONDS;
    this.lease = { path: join(resolve(options.stateDir), 'supervisor.lease'), staleMs: seconds * 1000 };
    this.leaseHolder = holdSupervisorLease(this.lease);
  }

  private readonly lease: SupervisorLease;
  private readonly leaseHolder: { release(): void };

  /**
   * Stop renewing the supervisor lease (the stack is closing). Running
   * clusters keep running: a restarted `recc up` renews the lease and adopts
   * them; without one they stop themselves after the stale time.
   */
  releaseLease(): void {
    this.leaseHolder.release();
  }

  /** Refuse (LocalGpuError) or warn when the workers ask for GPUs this machine does not have (gpus.ts). */
  private checkGpus(definition: ClusterDefinition): void {
    if ((definition.workers.resources.extended['nvidia.com/gpu'] ?? 0) <= 0) return;
    const env = this.options.baseEnv ?? {};
    this.machineGpus ??= this.options.gpus ?? detectLocalGpus(env);
    let allow: boolean;
    try {
      allow = this.options.allowMissingGpus ?? getBoolean(env, ALLOW_MISSING_GPUS_ENV);
    } catch (err) {
      throw new LocalGpuError((err as Error).message);
    }
    const verdict = checkLocalGpus(definition, this.machineGpus, allow);
    if (!verdict.ok) throw new LocalGpuError(verdict.reason);
    if (verdict.warning) this.logger.warn(`local backend: ${verdict.warning}`, { clusterId: definition.clusterId });
  }

  clusterDir(clusterId: string): string {
    return join(this.options.stateDir, 'clusters', safeId(clusterId));
  }

  logsDir(clusterId: string): string {
    return join(this.clusterDir(clusterId), 'logs');
  }

  private secretsDir(clusterId: string): string {
    return join(this.clusterDir(clusterId), 'secrets');
  }

  /** Serialise operations on one cluster (observe may restart, scale may spawn). */
  private withLock<T>(clusterId: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.locks.get(clusterId) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.locks.set(clusterId, tail);
    void tail.then(() => {
      if (this.locks.get(clusterId) === tail) this.locks.delete(clusterId);
    });
    return run;
  }

  get sourceStoreDir(): string {
    return this.options.sourceStoreDir ?? join(this.options.stateDir, 'sources');
  }

  /**
   * What this backend does with the spec's `image` and `sourceGitBranch`, as
   * lines for the scheduler's log (so `recc cluster logs` shows them): the
   * image is never pulled, processes run from this checkout's code; the
   * branch must be published and becomes the processes' working directory.
   */
  private async sourceNotes(definition: ClusterDefinition): Promise<string[]> {
    const notes: string[] = [];
    const image = definition.spec.image;
    if (image) {
      notes.push(`image "${image}" is not used by the local backend: scheduler and workers run this machine's recc (${REPO_ROOT}), not a container`);
    }
    const branch = definition.spec.sourceGitBranch;
    if (branch !== undefined) {
      const source = await requirePublished(this.sourceStoreDir, branch);
      notes.push(`source branch "${branch}" at commit ${source.commit} (published ${source.publishedAt}) in ${source.path}: the processes' working directory and RECC_SOURCE_DIR`);
    }
    return notes;
  }

  async apply(definition: ClusterDefinition, secrets: ClusterSecrets): Promise<void> {
    this.checkGpus(definition);
    const notes = await this.sourceNotes(definition);
    for (const note of notes) this.logger.warn(`local backend: ${note}`, { clusterId: definition.clusterId });
    await this.withLock(definition.clusterId, async () => {
      const existing = await this.readState(definition.clusterId);
      if (existing && !existing.tornDown) {
        // Idempotent: keep ports and live processes; restart anything dead; follow the desired count.
        existing.definition = definition;
        existing.workersDesired = definition.workers.replicas;
        await this.ensureProcesses(existing);
        await this.writeState(existing);
        return;
      }
      const dir = this.clusterDir(definition.clusterId);
      await mkdir(join(dir, 'logs'), { recursive: true });
      // Logged as the processes log (one JSON object per line), so `recc cluster logs` shows them first.
      const noteLine = (message: string) => `${JSON.stringify({ level: 'warn', time: new Date().toISOString(), service: 'recc-local-backend', message: `local backend: ${message}`, clusterId: definition.clusterId })}\n`;
      if (notes.length) await writeFile(join(dir, 'logs', 'scheduler.log'), notes.map(noteLine).join(''), { flag: 'a' });
      await writeSecretFiles(this.secretsDir(definition.clusterId), secrets);
      const [schedulerPort, dashboardPort] = await (this.options.choosePorts ?? freePorts)(2);
      const state: ClusterState = {
        clusterId: definition.clusterId,
        owner: definition.owner,
        namespace: definition.namespace,
        definition,
        schedulerPort: schedulerPort as number,
        dashboardPort: dashboardPort as number,
        workersDesired: definition.workers.replicas,
        nextWorkerIndex: 0,
        processes: [],
        tornDown: false,
        updatedAt: new Date().toISOString(),
      };
      await this.writeState(state);
      await this.ensureProcesses(state);
      await this.writeState(state);
      this.logger.info('local backend: cluster applied', {
        clusterId: state.clusterId,
        schedulerPort: state.schedulerPort,
        dashboardPort: state.dashboardPort,
        workers: state.workersDesired,
      });
    });
  }

  async observe(clusterId: string): Promise<Observation> {
    return this.withLock(clusterId, async () => {
      const none: Observation = { clusterId, exists: false, schedulerReady: false, workersDesired: 0, workersRegistered: 0, ready: false, failures: [] };
      const state = await this.readState(clusterId);
      if (!state || state.tornDown) return none;
      const failures: ComponentFailure[] = [];
      let changed = false;

      let scheduler = state.processes.find((p) => p.component === 'scheduler');
      if (scheduler && !this.isRunning(scheduler, clusterId) && (state.portRetries ?? 0) < 3 && (await this.lostPortRace(scheduler))) {
        // Another process took a port between choosing it and binding it: pick new ports and start over.
        state.portRetries = (state.portRetries ?? 0) + 1;
        this.logger.warn('local backend: a scheduler port was taken meanwhile; restarting the cluster on new ports', { clusterId });
        await this.stopAll(state.processes, clusterId);
        state.processes = [];
        [state.schedulerPort, state.dashboardPort] = (await (this.options.choosePorts ?? freePorts)(2)) as [number, number];
        await this.ensureProcesses(state);
        await this.writeState(state);
        scheduler = state.processes.find((p) => p.component === 'scheduler');
        failures.push({ component: 'scheduler', reason: 'PortInUse', message: 'a chosen port was taken by another process; restarted on new ports', permanent: false });
      }
      const schedulerAlive = scheduler !== undefined && this.isRunning(scheduler, clusterId);
      if (scheduler && !schedulerAlive) failures.push(await this.exitFailure(scheduler, true));

      for (const worker of state.processes.filter((p) => p.component === 'worker')) {
        if (this.isRunning(worker, clusterId)) continue;
        const exit = this.exits.get(worker.pid);
        const diedAt = exit?.at ?? Date.now();
        // A worker that registered and then died (a crash, its memory limit) is not a start-up failure, however soon.
        const early = diedAt - worker.startedAt < (this.options.startupGraceMs ?? 20_000) && !(await this.workerRegistered(worker));
        if (early || !schedulerAlive) {
          failures.push(await this.exitFailure(worker, early));
          continue;
        }
        // Died after starting: restart it like a kubelet would (with its back-off), and say so.
        const failure = await this.exitFailure(worker, false);
        const quick = diedAt - worker.startedAt < STABLE_WORKER_MS ? (worker.quickRestarts ?? 0) + 1 : 1;
        const restartAt = diedAt + backoffDelay(quick - 1, { ...RESTART_BACKOFF, jitter: 'none' });
        if (Date.now() < restartAt) {
          failures.push({ ...failure, reason: 'BackOff', message: `${failure.message}; restarting in ${Math.ceil((restartAt - Date.now()) / 1000)} s`, permanent: false });
          continue;
        }
        const budget = this.restartBudgets.get(clusterId) ?? new RestartBudget(this.options.maxWorkerRestarts ?? 10, this.options.restartWindowMs ?? 60_000);
        this.restartBudgets.set(clusterId, budget);
        if (!budget.take()) {
          failures.push({ ...failure, reason: 'CrashLoopBackOff', message: `${failure.message}; not restarted: ${budget.max} restarts within ${budget.windowMs / 1000} s`, permanent: false });
          continue;
        }
        failures.push({ ...failure, reason: 'Restarted', message: `${failure.message}; restarted` });
        state.processes = state.processes.filter((p) => p !== worker);
        await this.spawnPod(state, 'worker', worker.index, quick);
        changed = true;
      }
      if (changed) await this.writeState(state);

      const address = `tls://127.0.0.1:${state.schedulerPort}`;
      const dashboardUrl = `http://127.0.0.1:${state.dashboardPort}`;
      let schedulerReady = false;
      let workersRegistered = 0;
      let activity: Observation['activity'];
      let reachable: boolean | undefined;
      if (schedulerAlive && scheduler && (await this.loggedReady(scheduler))) {
        const status = await fetchStatus(dashboardUrl, (await this.readSecrets(clusterId))?.token);
        reachable = status !== undefined;
        if (status) {
          schedulerReady = true;
          workersRegistered = status.workers;
          activity = {
            ...(status.lastActivityAt ? { lastActivityAt: status.lastActivityAt } : {}),
            tasksProcessing: status.tasksProcessing,
            clientsConnected: status.clientsConnected,
          };
        }
      }
      const permanent = failures.some((f) => f.permanent);
      const ready = schedulerReady && !permanent && workersRegistered >= state.workersDesired;
      // Read once, when ready: the provisioner keeps them on the record at RUNNING (issue 19 #5).
      const startTimes = ready && scheduler ? await this.startTimes(state, scheduler) : undefined;
      return {
        clusterId,
        exists: true,
        schedulerReady,
        workersDesired: state.workersDesired,
        workersRegistered,
        ready,
        failures,
        ...(startTimes ? { startTimes } : {}),
        schedulerAddress: address,
        dashboardUrl,
        ...(activity ? { activity } : {}),
        ...(reachable !== undefined ? { schedulerReachable: reachable } : {}),
      };
    });
  }

  async scale(clusterId: string, nWorkers: number, options: ScaleOptions = {}): Promise<void> {
    await this.withLock(clusterId, async () => {
      const state = await this.readState(clusterId);
      if (!state || state.tornDown) return;
      // Retired workers go first (they hold nothing); without them the highest-numbered would be stopped.
      const retired = state.processes.filter((p) => p.component === 'worker' && options.retire?.includes(p.podName));
      if (retired.length > 0) {
        await this.stopAll(retired, clusterId);
        state.processes = state.processes.filter((p) => !retired.includes(p));
        this.logger.info('local backend: retired workers stopped', { clusterId, workers: retired.map((p) => p.podName) });
      }
      state.workersDesired = nWorkers;
      await this.ensureProcesses(state);
      await this.writeState(state);
    });
  }

  async teardown(clusterId: string): Promise<void> {
    await this.withLock(clusterId, async () => {
      const state = await this.readState(clusterId);
      if (!state || state.tornDown) return;
      // Workers first, then the scheduler, so workers do not reconnect-loop.
      const workers = state.processes.filter((p) => p.component === 'worker');
      const schedulers = state.processes.filter((p) => p.component === 'scheduler');
      await this.stopAll(workers, clusterId);
      await this.stopAll(schedulers, clusterId);
      state.processes = [];
      state.tornDown = true;
      await this.writeState(state);
      await rm(this.secretsDir(clusterId), { recursive: true, force: true });
      this.logger.info('local backend: cluster torn down', { clusterId });
    });
  }

  async list(): Promise<BackendClusterRef[]> {
    const root = join(this.options.stateDir, 'clusters');
    let names: string[];
    try {
      names = await readdir(root);
    } catch {
      return [];
    }
    const out: BackendClusterRef[] = [];
    for (const name of names.sort()) {
      const state = await this.readState(name).catch(() => undefined);
      if (state && !state.tornDown) out.push({ clusterId: state.clusterId, owner: state.owner, namespace: state.namespace });
    }
    return out;
  }

  async readSecrets(clusterId: string): Promise<ClusterSecrets | undefined> {
    const state = await this.readState(clusterId);
    if (!state || state.tornDown) return undefined;
    return readSecretFiles(this.secretsDir(clusterId)).catch(() => undefined);
  }

  /** Pids of every live process of a cluster (for tests and `recc up` status). */
  async pids(clusterId: string): Promise<number[]> {
    const state = await this.readState(clusterId);
    if (!state) return [];
    return state.processes.filter((p) => this.isRunning(p, clusterId)).map((p) => p.pid);
  }

  /** Log files of a cluster, by component (kept after teardown). */
  async logFiles(clusterId: string, component?: 'scheduler' | 'worker'): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.logsDir(clusterId));
    } catch {
      return [];
    }
    return names
      .filter((n) => n.endsWith('.log') && (component === undefined || n.startsWith(component)))
      .sort(byLogOrder)
      .map((n) => join(this.logsDir(clusterId), n));
  }

  // ---- processes -----------------------------------------------------------

  /** Make the processes match the state: a scheduler, and exactly workersDesired workers. */
  private async ensureProcesses(state: ClusterState): Promise<void> {
    const schedulers = state.processes.filter((p) => p.component === 'scheduler');
    if (!schedulers.some((p) => this.isRunning(p, state.clusterId))) {
      state.processes = state.processes.filter((p) => p.component !== 'scheduler');
      await this.spawnPod(state, 'scheduler', 0);
    }
    let workers = state.processes.filter((p) => p.component === 'worker').sort((a, b) => a.index - b.index);
    for (const dead of workers.filter((p) => !this.isRunning(p, state.clusterId))) {
      state.processes = state.processes.filter((p) => p !== dead);
    }
    workers = state.processes.filter((p) => p.component === 'worker').sort((a, b) => a.index - b.index);
    if (workers.length > state.workersDesired) {
      const extra = workers.slice(state.workersDesired);
      await this.stopAll(extra, state.clusterId);
      state.processes = state.processes.filter((p) => !extra.includes(p));
    }
    for (let n = workers.length; n < state.workersDesired; n += 1) {
      await this.spawnPod(state, 'worker', state.nextWorkerIndex);
    }
  }

  private async spawnPod(state: ClusterState, component: 'scheduler' | 'worker', index: number, quickRestarts = 0): Promise<void> {
    const def = state.definition;
    const pod: PodTemplate = component === 'scheduler' ? def.scheduler : def.workers;
    const podName = component === 'scheduler' ? `${state.clusterId}-scheduler` : `${state.clusterId}-worker-${index}`;
    const spec = localProcessFor(def, pod, {
      podName,
      namespace: state.namespace,
      schedulerPort: state.schedulerPort,
      dashboardPort: state.dashboardPort,
      secretsDir: this.secretsDir(state.clusterId),
      reccCommand: this.reccCommand,
      ...(this.options.directEntries === false ? {} : { directEntry }),
    });
    const hook = spec.env[TEST_WORKER_COMMAND_ENV];
    if (component === 'worker' && this.options.testHooks && hook) {
      spec.command = '/bin/sh';
      spec.args = ['-c', hook];
    }
    const branch = def.spec.sourceGitBranch;
    const sourceDir = branch === undefined ? undefined : branchDir(this.sourceStoreDir, branch);
    if (sourceDir !== undefined && branch !== undefined) Object.assign(spec.env, { RECC_SOURCE_DIR: sourceDir, RECC_SOURCE_BRANCH: branch });
    const logFile = join(this.logsDir(state.clusterId), component === 'scheduler' ? 'scheduler.log' : `worker-${index}.log`);
    await mkdir(dirname(logFile), { recursive: true });
    const fd = openSync(logFile, 'a');
    const logStart = fstatSync(fd).size;
    let pid: number | undefined;
    try {
      const child = spawn(spec.command, spec.args, {
        cwd: sourceDir ?? REPO_ROOT,
        env: {
          ...cleanEnv(this.options.baseEnv ?? {}),
          ...(component === 'worker' ? WORKER_MALLOC_ENV : {}),
          ...spec.env,
          [SUPERVISOR_LEASE_ENV]: this.lease.path,
          [SUPERVISOR_STALE_ENV]: String(this.lease.staleMs / 1000),
        },
        stdio: ['ignore', fd, fd],
        detached: true,
      });
      pid = child.pid;
      if (pid === undefined) {
        const err = await new Promise<Error>((res) => child.once('error', res));
        throw err;
      }
      const known = pid;
      child.on('exit', (code, signal) => this.exits.set(known, { code, signal, at: Date.now() }));
      child.on('error', () => undefined);
      child.unref();
    } catch (err) {
      throw new LocalProcessStartError(`could not start the ${component} process (${spec.command})`, { cause: err });
    } finally {
      closeSync(fd);
    }
    state.processes.push({ podName, component, index, pid, logFile, startedAt: Date.now(), logStart, ...(quickRestarts > 0 ? { quickRestarts } : {}) });
    if (component === 'worker') state.nextWorkerIndex = Math.max(state.nextWorkerIndex, index + 1);
  }

  /** Alive, and (on Linux) still the process we started: its command line names this cluster. */
  private isRunning(p: ProcessEntry, clusterId: string): boolean {
    if (this.exits.has(p.pid) || !isProcessAlive(p.pid)) return false;
    try {
      const environ = readFileSync(`/proc/${p.pid}/environ`, 'utf8');
      return environ.includes(`RECC_CLUSTER_ID=${clusterId}\0`);
    } catch {
      // No /proc (macOS, Windows): trust the signal check.
      return process.platform !== 'linux';
    }
  }

  private async stopAll(entries: ProcessEntry[], clusterId: string): Promise<void> {
    for (const p of entries) signalGroup(p.pid, 'SIGTERM');
    const deadline = Date.now() + (this.options.stopTimeoutMs ?? 5_000);
    while (entries.some((p) => this.isRunning(p, clusterId)) && Date.now() < deadline) await sleep(EXIT_POLL_MS);
    const stubborn = entries.filter((p) => this.isRunning(p, clusterId));
    for (const p of stubborn) signalGroup(p.pid, 'SIGKILL');
    const hardDeadline = Date.now() + 5_000;
    while (stubborn.some((p) => this.isRunning(p, clusterId)) && Date.now() < hardDeadline) await sleep(EXIT_POLL_MS);
    if (stubborn.length > 0) this.logger.warn('local backend: killed processes that ignored SIGTERM', { clusterId, pids: stubborn.map((p) => p.pid) });
  }

  private readyCache = new Set<number>();

  private async loggedReady(p: ProcessEntry): Promise<boolean> {
    if (this.readyCache.has(p.pid)) return true;
    const text = await readFile(p.logFile, 'utf8').catch(() => '');
    if (text.includes('"scheduler.ready"')) {
      this.readyCache.add(p.pid);
      return true;
    }
    return false;
  }

  /**
   * Start milestones from the processes themselves: spawn times, and the
   * `time` of the scheduler's `scheduler.listening` and each worker's
   * `worker.ready` line (in its own part of the appended log). Only called
   * once the scheduler reports every desired worker registered.
   */
  private async startTimes(state: ClusterState, scheduler: ProcessEntry): Promise<BackendStartTimes> {
    const iso = (ms: number) => new Date(ms).toISOString();
    // Listening, not `scheduler.ready`: workers register as soon as it listens, while the dashboard still starts.
    const schedulerReadyAt = (await loggedEventTime(scheduler, 'scheduler.listening')) ?? (await loggedEventTime(scheduler, 'scheduler.ready'));
    const workers = state.processes.filter((p) => p.component === 'worker');
    const registered = (await Promise.all(workers.map((w) => loggedEventTime(w, 'worker.ready')))).filter((t): t is string => t !== undefined);
    // Called once the scheduler counts every desired worker. A worker logs `worker.ready` only after the
    // scheduler's answer, so a line may still be missing: then now is when registration was seen (an upper bound).
    const last =
      registered.length >= state.workersDesired && registered.length > 0
        ? registered.reduce((a, b) => (Date.parse(a) >= Date.parse(b) ? a : b))
        : state.workersDesired > 0
          ? iso(Date.now())
          : undefined;
    return {
      podsCreatedAt: iso(Math.min(...state.processes.map((p) => p.startedAt))),
      ...(schedulerReadyAt !== undefined ? { schedulerReadyAt } : {}),
      ...(last !== undefined ? { workersRegisteredAt: last } : {}),
    };
  }

  /** Did this worker process register with its scheduler (its own part of the appended log says so)? */
  private async workerRegistered(p: ProcessEntry): Promise<boolean> {
    const text = await readFile(p.logFile).catch(() => Buffer.alloc(0));
    return text.subarray(p.logStart ?? 0).includes('"worker.ready"');
  }

  /** Did this scheduler exit at start because its port was in use? */
  private async lostPortRace(p: ProcessEntry): Promise<boolean> {
    if (Date.now() - p.startedAt > (this.options.startupGraceMs ?? 20_000)) return false;
    const tail = await tailFile(p.logFile, 5);
    return /EADDRINUSE|already in use/.test(tail) && !/scheduler\.ready/.test(tail);
  }

  private async exitFailure(p: ProcessEntry, permanent: boolean): Promise<ComponentFailure> {
    const exit = this.exits.get(p.pid);
    const how = exit ? (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) : 'is no longer running';
    const logTail = await tailFile(p.logFile, this.options.logTailLines ?? 20);
    return {
      component: p.component,
      reason: 'ProcessExited',
      message: `${p.component} process ${p.podName} ${how}${permanent ? ' during start-up' : ''}; see its log in ${p.logFile}`,
      ...(logTail ? { logTail } : {}),
      permanent,
    };
  }

  // ---- state file ----------------------------------------------------------

  private statePath(clusterId: string): string {
    return join(this.clusterDir(clusterId), 'state.json');
  }

  private async readState(clusterId: string): Promise<ClusterState | undefined> {
    let text: string;
    try {
      text = await readFile(this.statePath(clusterId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new LocalStateError(`cannot read the state of cluster ${clusterId}`, { cause: err });
    }
    try {
      return JSON.parse(text) as ClusterState;
    } catch (err) {
      throw new LocalStateError(`the state file of cluster ${clusterId} is corrupt (${this.statePath(clusterId)})`, { cause: err });
    }
  }

  private async writeState(state: ClusterState): Promise<void> {
    state.updatedAt = new Date().toISOString();
    const path = this.statePath(state.clusterId);
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(state, null, 2), { mode: 0o600 });
    await rename(tmp, path);
  }
}

// ---- helpers ---------------------------------------------------------------

function safeId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(id)) throw new LocalStateError(`cluster id ${JSON.stringify(id)} is not safe as a directory name`);
  return id;
}

function cleanEnv(env: Record<string, string | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {}
  }
}

/** How often stopAll checks whether signalled processes exited. */
const EXIT_POLL_MS = 25;

function byLogOrder(a: string, b: string): number {
  const rank = (n: string) => (n.startsWith('scheduler') ? -1 : Number(n.match(/(\d+)/)?.[1] ?? 0));
  return rank(a) - rank(b);
}

/** Free TCP ports on 127.0.0.1, distinct from each other. */
export { freePorts };

/** The last `lines` lines of a file (reads at most the last 16 KiB). */
export async function tailFile(path: string, lines: number): Promise<string> {
  let handle;
  try {
    handle = await open(path, 'r');
    const { size } = await handle.stat();
    const length = Math.min(size, 16 * 1024);
    const buf = Buffer.alloc(length);
    await handle.read(buf, 0, length, size - length);
    return buf
      .toString('utf8')
      .split(/\r?\n/)
      .filter((l) => l.trim() !== '')
      .slice(-lines)
      .join('\n');
  } catch {
    return '';
  } finally {
    await handle?.close();
  }
}

/** The scheduler dashboard's `/api/status` (with the cluster token); undefined when it does not answer or answers something that is not a status. */
async function fetchStatus(dashboardUrl: string, token: string | undefined): Promise<SchedulerStatus | undefined> {
  if (token === undefined) return undefined;
  try {
    const res = await fetch(`${dashboardUrl}/api/status`, { headers: { authorization: `Bearer ${token}` }, signal: AbortSignal.timeout(2_000) });
    if (!res.ok) return undefined;
    return parseSchedulerStatus(await res.json());
  } catch {
    return undefined;
  }
}

/** The `time` of the first log line of `p`'s own part of its log whose `event` is `event` (logs are one JSON object per line). */
async function loggedEventTime(p: ProcessEntry, event: string): Promise<string | undefined> {
  const text = (await readFile(p.logFile).catch(() => Buffer.alloc(0))).subarray(p.logStart ?? 0).toString('utf8');
  const needle = `"${event}"`;
  for (const line of text.split('\n')) {
    if (!line.includes(needle)) continue;
    try {
      const parsed = JSON.parse(line) as { event?: unknown; time?: unknown };
      if (parsed.event === event && typeof parsed.time === 'string' && !Number.isNaN(Date.parse(parsed.time))) return parsed.time;
    } catch {
      // Not one of our JSON lines (e.g. a user's print): keep looking.
    }
  }
  return undefined;
}
