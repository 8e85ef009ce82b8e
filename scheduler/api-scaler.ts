import type { AdaptiveOptions } from './state/adaptive.ts';
import { SchedulerStartError } from './errors.ts';
import type { WorkerScaler } from './scaling.ts';

/**
 * The adaptive scheduler's configuration, read once at start from the
 * environment the rendered definition gives it: RECC_ADAPTIVE_JSON (the
 * spec's `adaptive`, seconds), RECC_CLUSTER_ID and RECC_API_URL. Checked by
 * hand (no zod in the engine's start path); a bad value fails the start.
 */
export function adaptiveFromEnv(env: Record<string, string | undefined>): AdaptiveOptions | undefined {
  const raw = env.RECC_ADAPTIVE_JSON?.trim();
  if (!raw) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch (err) {
    throw new SchedulerStartError(`RECC_ADAPTIVE_JSON is not JSON: ${(err as Error).message}`, { cause: err });
  }
  const o = (v && typeof v === 'object' ? v : {}) as Record<string, unknown>;
  const problems: string[] = [];
  const num = (name: string, min: number, whole: boolean): number => {
    const x = o[name];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < min || (whole && !Number.isInteger(x))) {
      problems.push(`${name} must be ${whole ? 'a whole number' : 'a number'} ≥ ${min} (got ${JSON.stringify(x) ?? 'nothing'})`);
      return min;
    }
    return x;
  };
  const out: AdaptiveOptions = {
    minimum: num('minimum', 0, true),
    maximum: num('maximum', 1, true),
    targetDurationMs: num('targetDuration', 0.001, false) * 1000,
    waitCount: num('waitCount', 1, true),
    intervalMs: num('interval', 0.1, false) * 1000,
  };
  if (problems.length === 0 && out.minimum > out.maximum) problems.push(`minimum (${out.minimum}) must be at most maximum (${out.maximum})`);
  if (problems.length > 0) throw new SchedulerStartError(`RECC_ADAPTIVE_JSON: ${problems.join('; ')}`);
  return out;
}

/**
 * The control plane's scale API as a WorkerScaler: `PATCH /clusters/{id}`
 * with `clamp` (the control plane fits the count to the spec and the owner's
 * quota) and the retired workers' names. The API client (and, on AWS, the
 * SigV4 signer) loads only here.
 */
export async function apiScalerFromEnv(env: Record<string, string | undefined>): Promise<WorkerScaler | undefined> {
  const clusterId = env.RECC_CLUSTER_ID?.trim();
  if (!clusterId || !env.RECC_API_URL?.trim()) return undefined;
  const { ApiClient, apiClientOptionsFromEnv } = await import('../client/api-client.ts');
  const api = new ApiClient(apiClientOptionsFromEnv(env));
  return {
    scale: async (workers, retire) => {
      await api.scaleCluster(clusterId, workers, { retire, clamp: true });
    },
  };
}
