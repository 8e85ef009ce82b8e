import type { ClusterInfo } from './dashboard/stream.ts';
import { accessSync, constants, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { admissionFromEnv } from '../comm/admission.ts';
import { onTerminate, watchParent } from '../comm/process.ts';
import { watchSupervisorLease, type SupervisorLease } from '../comm/supervisor-lease.ts';
import { createLogger } from '../shared/core/logger.ts';
import { adaptiveFromEnv, apiScalerFromEnv } from './api-scaler.ts';
import { SchedulerStartError } from './errors.ts';
import { SchedulerServer } from './server.ts';
import { SECRET_FILES } from '../shared/definition/types.ts';
import { tuneSchedulerV8 } from './v8-tuning.ts';

export interface SchedulerProcessOptions {
  host: string;
  port: number;
  /** Serve this inherited, already listening socket (a LocalCluster binds it: comm/free-ports preboundListener). */
  listenFd?: number;
  tokenFile: string;
  tlsCert?: string;
  tlsKey?: string;
  tlsCa?: string;
  dashboardPort?: number;
  watchParent?: boolean;
  /** Stop once this lease goes stale (a detached local-backend cluster whose supervisor is gone: comm/supervisor-lease.ts). */
  supervisorLease?: SupervisorLease;
  /** A LocalCluster's temporary directory (token, certificates), removed if the parent dies. */
  ownedDir?: string;
  noWorkerTimeoutSeconds?: number;
  heartbeatTimeoutSeconds?: number;
  /** A task that was running on this many workers that died errs with KilledWorkerError (default 3). */
  allowedFailures?: number;
}

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new SchedulerStartError(`cannot read the ${what} file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
}

/**
 * Where the SQS bridge records accepted submissions when RECC_SQS_STATE_DIR
 * does not say: beside the token (the cluster's directory locally); where
 * that is read-only (a secret volume on EKS), a directory under the temp dir,
 * which lasts as long as the pod.
 */
function bridgeStateDir(tokenFile: string): string {
  const dir = dirname(tokenFile);
  try {
    accessSync(dir, constants.W_OK);
    return join(dir, 'sqs-bridge');
  } catch {
    return join(tmpdir(), 'recc-sqs-bridge');
  }
}

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Run the scheduler until SIGTERM/SIGINT (or the parent dies when watched).
 * Resolves with the exit code: 0 after a graceful stop, 1 when start-up failed
 * (a JSON error line says why).
 */
export async function runSchedulerProcess(opts: SchedulerProcessOptions): Promise<number> {
  tuneSchedulerV8();
  const logger = createLogger({ service: 'recc-scheduler' });
  let server: SchedulerServer;
  // The SQS route (clients outside the cluster network), when the environment configures one.
  let bridge: { close(): Promise<void> } | undefined;
  try {
    // Loaded only when configured: the bridge brings zod and the AWS SDK, which every other scheduler start does without.
    const sqs = process.env.RECC_SQS_REQUEST_QUEUE_URL?.trim()
      ? (await import('./sqs-bridge/config.ts')).sqsBridgeConfigFromEnv(process.env, { stateDir: bridgeStateDir(opts.tokenFile) })
      : undefined;
    const token = readText(opts.tokenFile, 'token').trim();
    if (!token) throw new SchedulerStartError(`the token file ${opts.tokenFile} is empty`);
    const tls =
      opts.tlsCert || opts.tlsKey
        ? {
            certPem: readText(opts.tlsCert ?? '', 'TLS certificate'),
            keyPem: readText(opts.tlsKey ?? '', 'TLS key'),
            ...(opts.tlsCa ? { caPem: readText(opts.tlsCa, 'TLS CA') } : {}),
          }
        : undefined;
    // Adaptive scaling, when the spec asks for it: the scheduler sizes the cluster through the control plane's API.
    const adaptive = adaptiveFromEnv(process.env);
    const scaler = adaptive ? await apiScalerFromEnv(process.env) : undefined;
    if (adaptive && !scaler) logger.warn('adaptive scaling without a control plane (RECC_API_URL): workers are retired, none are added', { event: 'scheduler.adaptive-no-api' });
    server = new SchedulerServer({
      host: opts.host,
      port: opts.port,
      ...(opts.listenFd !== undefined ? { listenFd: opts.listenFd } : {}),
      token,
      ...(tls ? { tls } : {}),
      admission: admissionFromEnv(process.env),
      ...(opts.dashboardPort !== undefined ? { dashboardPort: opts.dashboardPort } : {}),
      ...(clusterInfoFromEnv(process.env) ?? {}),
      logger,
      ...(opts.heartbeatTimeoutSeconds ? { heartbeatTimeoutMs: opts.heartbeatTimeoutSeconds * 1000 } : {}),
      state: {
        noWorkerTimeoutMs: opts.noWorkerTimeoutSeconds === undefined ? undefined : opts.noWorkerTimeoutSeconds * 1000,
        ...(opts.allowedFailures !== undefined ? { allowedFailures: opts.allowedFailures } : {}),
        ...(adaptive ? { adaptive } : {}),
      },
      ...(scaler ? { scaler } : {}),
      // The dashboard bench starts each window after a full GC (bench/recc/dashboard-measures.ts).
      ...(process.env.RECC_BENCH_GC === '1' ? { benchGc: true } : {}),
    });
    await server.start();
    if (sqs) {
      const { SqsBridge } = await import('./sqs-bridge/bridge.ts');
      // The bridge is a TLS client of this very scheduler: it verifies it with the cluster CA (beside the certificate in the cluster's secrets).
      const caPem = tls?.caPem ?? (opts.tlsCert ? readOptional(join(dirname(opts.tlsCert), SECRET_FILES.caCert)) : undefined);
      bridge = await SqsBridge.start({ config: sqs, schedulerAddress: server.address, token, ...(caPem ? { caPem } : {}), logger });
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const message =
      opts.listenFd !== undefined && e.syscall === 'listen'
        ? `cannot serve the inherited descriptor ${opts.listenFd}: it is not an open, listening TCP socket (${e.code ?? e.message})`
        : e.code === 'EADDRINUSE'
          ? `port ${opts.port} on ${opts.host} is already in use`
          : e.message;
    logger.error('scheduler failed to start', { event: 'scheduler.failed', error: message, code: e.code });
    return 1;
  }
  logger.info('scheduler ready', {
    event: 'scheduler.ready',
    address: server.address,
    ...(server.dashboardUrl ? { dashboardUrl: server.dashboardUrl } : {}),
    pid: process.pid,
  });
  return new Promise<number>((resolve) => {
    const stop = (reason: string) => {
      logger.info('scheduler stopping', { event: 'scheduler.stopping', reason });
      Promise.resolve(bridge?.close()).catch(() => undefined).then(() => server.close()).then(
        () => {
          logger.info('scheduler stopped', { event: 'scheduler.stopped' });
          resolve(0);
        },
        () => resolve(1),
      );
    };
    onTerminate(stop);
    if (opts.supervisorLease) watchSupervisorLease(opts.supervisorLease, stop);
    if (opts.watchParent) {
      watchParent((reason) => {
        // The parent cannot clean up after itself any more: remove its temporary directory.
        if (opts.ownedDir && basename(opts.ownedDir).startsWith('recc-local-')) rmSync(opts.ownedDir, { recursive: true, force: true });
        stop(reason);
      });
    }
  });
}

/** What the dashboard header names (rendered into the scheduler's env by shared/definition/render.ts). */
function clusterInfoFromEnv(env: NodeJS.ProcessEnv): { clusterInfo: ClusterInfo } | undefined {
  const info: ClusterInfo = {};
  const id = env.RECC_CLUSTER_ID?.trim();
  const job = env.RECC_CLUSTER_JOB?.trim();
  const run = env.RECC_CLUSTER_RUN?.trim();
  if (id) info.id = id;
  if (job) info.job = job;
  if (run) info.run = run;
  return Object.keys(info).length > 0 ? { clusterInfo: info } : undefined;
}
