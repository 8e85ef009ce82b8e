import { spawnSync } from 'node:child_process';
import type { ClusterDefinition } from '../../shared/definition/types.ts';
import { LocalGpuError } from './errors.ts';

/** The Kubernetes name of a GPU in a rendered definition (shared/definition/render.ts). */
const GPU = 'nvidia.com/gpu';
/** Env of `recc up`: set to 1 to start clusters that ask for more GPUs than this machine has. */
export const ALLOW_MISSING_GPUS_ENV = 'RECC_LOCAL_ALLOW_MISSING_GPUS';
/** Env of `recc up`: the number of GPUs this machine has, when `nvidia-smi` cannot tell. */
export const LOCAL_GPUS_ENV = 'RECC_LOCAL_GPUS';

export type GpuVerdict = { ok: true; warning?: string } | { ok: false; reason: string };

/**
 * Whether a definition's GPU requests fit this machine (pure). Locally every
 * worker process sees every GPU, so a worker asking for more GPUs than the
 * machine has would advertise GPUs that do not exist and its GPU tasks would
 * fail or wait forever: refused unless `allowMissing`, then a warning. Workers
 * that together ask for more than the machine has share them: a warning.
 */
export function checkLocalGpus(definition: ClusterDefinition, machineGpus: number, allowMissing: boolean): GpuVerdict {
  const perWorker = definition.workers.resources.extended[GPU] ?? 0;
  if (perWorker <= 0) return { ok: true };
  const replicas = definition.workers.replicas;
  const total = perWorker * replicas;
  const has = machineGpus === 0 ? 'this machine has no GPU' : `this machine has ${machineGpus} GPU${machineGpus === 1 ? '' : 's'}`;
  const asks = `the spec asks for ${perWorker} GPU${perWorker === 1 ? '' : 's'} per worker (${total} for ${replicas} worker${replicas === 1 ? '' : 's'})`;
  if (perWorker > machineGpus) {
    const consequence = 'tasks that need a GPU would fail or wait for one';
    if (allowMissing) return { ok: true, warning: `${asks} but ${has}; starting anyway (${ALLOW_MISSING_GPUS_ENV}=1): ${consequence}` };
    return {
      ok: false,
      reason: `${asks} but ${has}, so ${consequence}. Remove the GPU resource for local runs, or start \`recc up\` with ${ALLOW_MISSING_GPUS_ENV}=1 to run anyway (${LOCAL_GPUS_ENV}=<n> declares GPUs that nvidia-smi does not see)`,
    };
  }
  if (total > machineGpus) return { ok: true, warning: `${asks} and ${has}: the local workers share them` };
  return { ok: true };
}

/** GPUs on this machine: `RECC_LOCAL_GPUS` if set, else the lines of `nvidia-smi -L` (0 when it is missing or fails). */
export function detectLocalGpus(env: Record<string, string | undefined>): number {
  const declared = env[LOCAL_GPUS_ENV]?.trim();
  if (declared) {
    const n = Number(declared);
    if (!Number.isInteger(n) || n < 0) throw new LocalGpuError(`${LOCAL_GPUS_ENV} must be a whole number ≥ 0, got ${JSON.stringify(declared)}`);
    return n;
  }
  const r = spawnSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'ignore'] });
  if (r.error || r.status !== 0) return 0;
  return r.stdout.split('\n').filter((l) => /^GPU \d+/.test(l.trim())).length;
}
