import { ValidationError } from '../shared/core/errors.ts';
import { getOptionalString, type Env } from '../shared/core/env.ts';
import type { ClusterLike } from './cluster-like.ts';

/**
 * One switch between local and remote: the same script runs ad hoc or
 * scheduled, locally or on EKS, with no code change.
 *
 * | `RECC_CLUSTER` | gives |
 * |---|---|
 * | unset, `local` | an in-process `LocalCluster` (workers = CPU count) |
 * | `local:N` | a `LocalCluster` with N workers |
 * | `template:NAME` | a new cluster from template NAME through the API at `RECC_API_URL` (resolves once RUNNING; `close()` deletes it) |
 * | `id:ID` (or a bare `c-…` id) | the existing cluster ID through the API (`close()` detaches and leaves it running) |
 *
 * `RECC_JOB` names the job of a created cluster (cost attribution).
 * `RECC_TRANSPORT` picks the route `Client.connect` takes: `tcp`, `sqs` (the
 * cluster's request queue, for clients outside its network) or `auto` (TCP,
 * falling back to SQS when the scheduler does not answer; the default when
 * the cluster has an SQS route).
 * `clusterFromEnv('id:c-…')` takes the RECC_CLUSTER value directly (the rest
 * of the environment still comes from `process.env`).
 */
export interface ClusterFromEnvOptions {
  /** Status changes while a created cluster provisions. */
  onProgress?: (event: { status: string; reason?: string; clusterId?: string }) => void;
  /** Workers of `local` when N is not given. @default the number of CPUs, at most 8 */
  defaultLocalWorkers?: number;
  /** Overrides for `template:NAME` (e.g. `{ nWorkers: 4 }`). */
  overrides?: Record<string, unknown>;
  /**
   * Whether `close()` deletes an API cluster. @default true for `template:NAME`
   * (this handle created it), false for `id:ID` (attached: it keeps running)
   */
  shutdownOnClose?: boolean;
}

/** Every RECC_CLUSTER form, as shown in error messages. */
export const RECC_CLUSTER_FORMS = 'local, local:N, template:NAME, id:ID (or a bare cluster id such as c-3f9a1b)';

export type ClusterTarget =
  | { kind: 'local'; nWorkers: number }
  | { kind: 'template'; template: string; apiUrl?: string; job?: string }
  | { kind: 'id'; id: string; apiUrl?: string };

/** Parse the environment (pure); throws ValidationError naming RECC_CLUSTER when it is not understood. */
export function parseClusterTarget(env: Env, defaultLocalWorkers: number): ClusterTarget {
  const raw = getOptionalString(env, 'RECC_CLUSTER') ?? 'local';
  const apiUrl = getOptionalString(env, 'RECC_API_URL');
  const job = getOptionalString(env, 'RECC_JOB');
  const local = /^local(?::(\d+))?$/.exec(raw);
  if (local) {
    const n = local[1] === undefined ? defaultLocalWorkers : Number(local[1]);
    if (!Number.isInteger(n) || n < 1 || n > 256) {
      throw new ValidationError('invalid RECC_CLUSTER', [{ path: 'RECC_CLUSTER', message: `local:N needs N from 1 to 256 (got ${JSON.stringify(raw)})` }]);
    }
    return { kind: 'local', nWorkers: n };
  }
  const template = /^template:([A-Za-z0-9][A-Za-z0-9_-]{0,99})$/.exec(raw);
  if (template?.[1]) return { kind: 'template', template: template[1], ...(apiUrl ? { apiUrl } : {}), ...(job ? { job } : {}) };
  // A bare id is what `recc cluster list` shows, so it is taken as `id:ID`.
  const id = /^id:([a-z0-9][a-z0-9-]{0,63})$/.exec(raw) ?? /^(c-[a-z0-9][a-z0-9-]{0,61})$/.exec(raw);
  if (id?.[1]) return { kind: 'id', id: id[1], ...(apiUrl ? { apiUrl } : {}) };
  // The accepted forms go in the message itself: a script's log often shows only the message.
  const problem = `${JSON.stringify(raw)} is not understood; use ${RECC_CLUSTER_FORMS}`;
  throw new ValidationError(`invalid RECC_CLUSTER: ${problem}`, [{ path: 'RECC_CLUSTER', message: problem }]);
}

/**
 * The cluster RECC_CLUSTER names. `target` is the environment to read, or a
 * RECC_CLUSTER value itself (`'id:c-…'`, `'template:small'`, `'local:4'`).
 */
export async function clusterFromEnv(target: Env | string = process.env, options: ClusterFromEnvOptions = {}): Promise<ClusterLike> {
  const env: Env = typeof target === 'string' ? { ...process.env, RECC_CLUSTER: target } : target;
  const { availableParallelism } = await import('node:os');
  const parsed = parseClusterTarget(env, options.defaultLocalWorkers ?? Math.min(8, Math.max(1, availableParallelism())));
  if (parsed.kind === 'local') {
    const { LocalCluster } = await import('./index.ts');
    return LocalCluster.start({ nWorkers: parsed.nWorkers, threadsPerWorker: 1 });
  }
  const { ReccCluster } = await import('./recc-cluster.ts');
  const shutdown = options.shutdownOnClose === undefined ? {} : { shutdownOnClose: options.shutdownOnClose };
  if (parsed.kind === 'template') {
    return ReccCluster.create({
      template: parsed.template,
      ...(options.overrides ?? {}),
      ...(parsed.job ? { job: parsed.job } : {}),
      ...(parsed.apiUrl ? { apiUrl: parsed.apiUrl } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
      ...shutdown,
    });
  }
  return ReccCluster.connect(parsed.id, { ...(parsed.apiUrl ? { apiUrl: parsed.apiUrl } : {}), ...shutdown });
}

export { transportFromEnv, type TransportChoice } from './sqs-transport-select.ts';
