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
 * | `id:ID` | the existing cluster ID through the API (`close()` deletes it) |
 *
 * `RECC_JOB` names the job of a created cluster (cost attribution).
 */
export interface ClusterFromEnvOptions {
  /** Status changes while a created cluster provisions. */
  onProgress?: (event: { status: string; reason?: string; clusterId?: string }) => void;
  /** Workers of `local` when N is not given. @default the number of CPUs, at most 8 */
  defaultLocalWorkers?: number;
  /** Overrides for `template:NAME` (e.g. `{ nWorkers: 4 }`). */
  overrides?: Record<string, unknown>;
}

export type ClusterTarget =
  | { kind: 'local'; nWorkers: number }
  | { kind: 'template'; template: string; apiUrl?: string; job?: string }
  | { kind: 'id'; id: string; apiUrl?: string };

/** Parse the environment (pure); throws ValidationError naming RECC_CLUSTER when it is not understood. */
export function parseClusterTarget(env: Env, defaultLocalWorkers: number): ClusterTarget {
  const raw = getOptionalString(env, 'RECC_CLUSTER') ?? 'local';
  const apiUrl = getOptionalString(env, 'RECC_API_URL');
  const job = getOptionalString(env, 'RECC_JOB');
  const usage = 'use local, local:N, template:NAME or id:ID';
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
  const id = /^id:([a-z0-9][a-z0-9-]{0,63})$/.exec(raw);
  if (id?.[1]) return { kind: 'id', id: id[1], ...(apiUrl ? { apiUrl } : {}) };
  throw new ValidationError('invalid RECC_CLUSTER', [{ path: 'RECC_CLUSTER', message: `${JSON.stringify(raw)} is not understood; ${usage}` }]);
}

export async function clusterFromEnv(env: Env = process.env, options: ClusterFromEnvOptions = {}): Promise<ClusterLike> {
  const { availableParallelism } = await import('node:os');
  const target = parseClusterTarget(env, options.defaultLocalWorkers ?? Math.min(8, Math.max(1, availableParallelism())));
  if (target.kind === 'local') {
    const { LocalCluster } = await import('./index.ts');
    return LocalCluster.start({ nWorkers: target.nWorkers, threadsPerWorker: 1 });
  }
  const { ReccCluster } = await import('./recc-cluster.ts');
  if (target.kind === 'template') {
    return ReccCluster.create({
      template: target.template,
      ...(options.overrides ?? {}),
      ...(target.job ? { job: target.job } : {}),
      ...(target.apiUrl ? { apiUrl: target.apiUrl } : {}),
      ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    });
  }
  return ReccCluster.connect(target.id, { ...(target.apiUrl ? { apiUrl: target.apiUrl } : {}) });
}
