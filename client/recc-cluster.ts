import { randomUUID } from 'node:crypto';
import type { ClusterStatus } from '../shared/lifecycle/types.ts';
import type { ClusterView } from '../shared/api/views.ts';
import { backoffDelay, sleep, type BackoffPolicy } from '../shared/core/retry.ts';
import type { ClusterLike } from './cluster-like.ts';
import { sqsRouteFromConnection, type SqsRoute } from '../comm/sqs-envelope/route.ts';
import { defaultClusterName } from './cluster-name.ts';
import { ApiClient, ApiNotFoundError, apiClientOptionsFromEnv, type ApiClientOptions } from './api-client.ts';
import { ClusterConnectionUnavailableError, ClusterFailedError, ClusterReadyTimeoutError } from './errors.ts';

/**
 * A cluster created or found through the recc API (EKS in AWS, local
 * processes behind `recc up`), usable wherever a `ClusterLike` is:
 *
 *     await using cluster = await ReccCluster.create({ template: 'small', nWorkers: 8, onProgress: console.log });
 *     const client = await Client.connect(cluster);
 *
 * `create` resolves once the cluster is RUNNING (polling with backoff and
 * reporting each status change), and throws `ClusterFailedError` with the
 * reason if it fails. While open, the object sends heartbeats so the
 * harvester knows the client is alive.
 *
 * `close()` (safe to call twice; `await using` does the same) deletes the
 * cluster only when this handle created it: a handle from `create` owns its
 * cluster, a handle from `connect` (or `RECC_CLUSTER=id:…`) only detaches and
 * leaves it running, as dask-gateway's `shutdown_on_close` works. Pass
 * `shutdownOnClose` to override either way.
 */
export interface ClusterProgress {
  clusterId: string;
  status: ClusterStatus;
  previous?: ClusterStatus;
  reason?: string;
  elapsedMs: number;
  cluster: ClusterView;
}

export interface ReccClusterOptions extends ApiClientOptions {
  /** A ready client (otherwise one is built from the options and RECC_API_URL / RECC_API_TOKEN). */
  client?: ApiClient;
  onProgress?: (progress: ClusterProgress) => void;
  /** How long to wait for RUNNING. @default 900000 (15 minutes) */
  readyTimeoutMs?: number;
  /** First poll interval; grows ×1.5 up to `maxPollIntervalMs`. @default 500 */
  pollIntervalMs?: number;
  /** @default 5000 */
  maxPollIntervalMs?: number;
  /** Heartbeat period while open; 0 disables. @default 60000 */
  heartbeatIntervalMs?: number;
  /** Called when a heartbeat fails (they are retried at the next period). */
  onHeartbeatError?: (err: unknown) => void;
  /**
   * Whether `close()` deletes the cluster or only detaches from it.
   * @default true for `create` (the handle owns the cluster), false for `connect`
   */
  shutdownOnClose?: boolean;
}

export interface ReccClusterCreateOptions extends ReccClusterOptions {
  template?: string;
  name?: string;
  job?: string;
  /** Idempotency key; a retry with the same key returns the same cluster. @default a random UUID */
  clientToken?: string;
  /** Any other field is a spec override (nWorkers, instanceType, workerCpu, …). */
  [override: string]: unknown;
}

/** Option names that configure the client, not the cluster spec. */
const CLIENT_OPTIONS = new Set([
  'client',
  'onProgress',
  'readyTimeoutMs',
  'pollIntervalMs',
  'maxPollIntervalMs',
  'heartbeatIntervalMs',
  'onHeartbeatError',
  'shutdownOnClose',
  'apiUrl',
  'signing',
  'region',
  'credentials',
  'token',
  'timeoutMs',
  'fetch',
]);

// The error classes live in ./errors.ts; re-exported here so importers of this module keep working.
export { ClusterFailedError, ClusterReadyTimeoutError, ClusterConnectionUnavailableError } from './errors.ts';

function clientFrom(options: ReccClusterOptions): ApiClient {
  if (options.client) return options.client;
  const fromEnv = apiClientOptionsFromEnv(process.env);
  const own: ApiClientOptions = {};
  for (const key of ['apiUrl', 'signing', 'region', 'credentials', 'token', 'timeoutMs', 'fetch'] as const) {
    if (options[key] !== undefined) (own as Record<string, unknown>)[key] = options[key];
  }
  return new ApiClient({ ...fromEnv, ...own });
}

const ORDER: readonly ClusterStatus[] = ['REQUESTED', 'PROVISIONING', 'RUNNING', 'DELETING', 'DELETED'];

/**
 * The statuses a cluster passed through between two polls, oldest first,
 * ending with its current status: polling can miss a short PROVISIONING, but
 * the record's stamps (provisioningAt, runningAt) tell it happened.
 */
export function statusesSince(previous: ClusterStatus | undefined, cluster: ClusterView): ClusterStatus[] {
  if (previous === undefined || previous === cluster.status) return previous === cluster.status ? [] : [cluster.status];
  const from = ORDER.indexOf(previous);
  const to = cluster.status === 'FAILED' ? ORDER.length : ORDER.indexOf(cluster.status);
  if (from < 0 || to <= from) return [cluster.status];
  const visited = (s: ClusterStatus): boolean =>
    s === 'PROVISIONING' ? cluster.provisioningAt !== undefined : s === 'RUNNING' ? cluster.runningAt !== undefined : s === 'DELETING' ? cluster.status === 'DELETED' : false;
  return [...ORDER.slice(from + 1, to).filter(visited), cluster.status];
}

/** Poll until RUNNING; report changes; throw on FAILED/DELETING/DELETED or timeout. */
async function waitUntilRunning(client: ApiClient, first: ClusterView, options: ReccClusterOptions): Promise<ClusterView> {
  const started = Date.now();
  const timeoutMs = options.readyTimeoutMs ?? 900_000;
  // Deterministic (no jitter): one client polling its own cluster, not a herd.
  const poll: BackoffPolicy = { initialMs: options.pollIntervalMs ?? 500, maxMs: options.maxPollIntervalMs ?? 5_000, factor: 1.5, jitter: 'none' };
  let cluster = first;
  let previous: ClusterStatus | undefined;
  for (let attempt = 0; ; attempt++) {
    for (const status of statusesSince(previous, cluster)) {
      options.onProgress?.({
        clusterId: cluster.id,
        status,
        ...(previous ? { previous } : {}),
        ...(status === cluster.status && cluster.statusReason ? { reason: cluster.statusReason } : {}),
        elapsedMs: Date.now() - started,
        cluster,
      });
      previous = status;
    }
    if (cluster.status === 'RUNNING') return cluster;
    if (cluster.status === 'FAILED' || cluster.status === 'DELETING' || cluster.status === 'DELETED') {
      throw new ClusterFailedError(cluster.id, cluster.status, cluster.statusReason);
    }
    if (Date.now() - started > timeoutMs) throw new ClusterReadyTimeoutError(cluster.id, cluster.status, timeoutMs);
    await sleep(Math.round(backoffDelay(attempt, poll)));
    cluster = await client.getCluster(cluster.id);
  }
}

export class ReccCluster implements ClusterLike {
  readonly id: string;
  private record: ClusterView;
  private readonly client: ApiClient;
  private heartbeatTimer: NodeJS.Timeout | undefined;
  private closing: Promise<void> | undefined;
  /** Whether `close()` deletes the cluster (the creating handle) or only detaches (an attached one). */
  readonly shutdownOnClose: boolean;

  private constructor(client: ApiClient, record: ClusterView, options: ReccClusterOptions, shutdownOnClose: boolean) {
    this.client = client;
    this.record = record;
    this.id = record.id;
    this.shutdownOnClose = shutdownOnClose;
    const every = options.heartbeatIntervalMs ?? 60_000;
    if (every > 0) {
      this.heartbeatTimer = setInterval(() => {
        this.client.heartbeat(this.id).then(
          (r) => {
            this.record = r;
          },
          (err: unknown) => options.onHeartbeatError?.(err),
        );
      }, every);
      this.heartbeatTimer.unref();
    }
  }

  /** Create a cluster and resolve once it is RUNNING. */
  static async create(options: ReccClusterCreateOptions = {}): Promise<ReccCluster> {
    const client = clientFrom(options);
    const request: Record<string, unknown> = { clientToken: options.clientToken ?? randomUUID() };
    for (const [key, value] of Object.entries(options)) {
      if (!CLIENT_OPTIONS.has(key) && key !== 'clientToken' && value !== undefined) request[key] = value;
    }
    // A readable default, not the id again (the API names an unnamed cluster after its id).
    request.name ??= defaultClusterName({
      ...(typeof options.template === 'string' ? { template: options.template } : {}),
      ...(typeof options.job === 'string' ? { job: options.job } : {}),
    });
    const { cluster } = await client.createCluster(request);
    let running: ClusterView;
    try {
      running = await waitUntilRunning(client, cluster, options);
    } catch (err) {
      // The caller never gets a handle to a cluster that did not start: do not leave it running up a bill.
      if (err instanceof ClusterReadyTimeoutError) await client.deleteCluster(cluster.id).catch(() => undefined);
      throw err;
    }
    return new ReccCluster(client, running, options, options.shutdownOnClose ?? true);
  }

  /**
   * An existing cluster by id; waits for RUNNING if it is still starting.
   * `close()` detaches and leaves the cluster running unless `shutdownOnClose: true`.
   */
  static async connect(id: string, options: ReccClusterOptions = {}): Promise<ReccCluster> {
    const client = clientFrom(options);
    const cluster = await client.getCluster(id);
    const running = await waitUntilRunning(client, cluster, options);
    return new ReccCluster(client, running, options, options.shutdownOnClose ?? false);
  }

  /** The last record seen (refreshed by heartbeats and `refresh()`). */
  get cluster(): ClusterView {
    return this.record;
  }

  get status(): ClusterStatus {
    return this.record.status;
  }

  get schedulerAddress(): string {
    const address = this.record.connection?.schedulerAddress;
    if (!address) throw new ClusterConnectionUnavailableError(this.id);
    return address;
  }

  get token(): string {
    const token = this.record.connection?.token;
    if (!token) throw new ClusterConnectionUnavailableError(this.id);
    return token;
  }

  get caPem(): string | undefined {
    return this.record.connection?.caPem;
  }

  /** The cluster's SQS route (request queue, payload bucket), for clients outside its network; undefined when it has none. */
  get sqsRoute(): SqsRoute | undefined {
    const c = this.record.connection;
    return c ? sqsRouteFromConnection(this.id, c, process.env) : undefined;
  }

  get dashboardUrl(): string | undefined {
    return this.record.connection?.dashboardUrl;
  }

  async refresh(): Promise<ClusterView> {
    this.record = await this.client.getCluster(this.id);
    return this.record;
  }

  async scale(nWorkers: number): Promise<ClusterView> {
    this.record = await this.client.scaleCluster(this.id, nWorkers);
    return this.record;
  }

  /**
   * Stop heartbeats and, when `shutdownOnClose`, delete the cluster; an
   * attached handle leaves it running. Idempotent; a second call waits for the first.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = undefined;
      if (!this.shutdownOnClose) return;
      try {
        this.record = await this.client.deleteCluster(this.id);
      } catch (err) {
        if (!(err instanceof ApiNotFoundError)) {
          this.closing = undefined;
          throw err;
        }
      }
    })();
    return this.closing;
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
