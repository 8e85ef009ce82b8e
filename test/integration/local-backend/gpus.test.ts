import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { checkLocalGpus, detectLocalGpus, LocalGpuError, LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import type { Logger } from '../../../shared/core/logger.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterDefinition } from '../../../shared/definition/types.ts';
import { processesOfCluster, tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

const stateDir = tempStateDir('gpus');

function gpuDefinition(clusterId: string, workers: number, gpusPerWorker: number): ClusterDefinition {
  return renderCluster({
    clusterId,
    owner: 'tester',
    namespace: `recc-tester-${clusterId}`,
    spec: specFixture({ nWorkers: workers, workerCpu: 1, workerMemoryGiB: 0.5, resources: gpusPerWorker > 0 ? { GPU: gpusPerWorker } : {} }),
    plan: planFixture(),
  });
}

function capturingLogger(lines: string[]): Logger {
  const logger: Logger = {
    debug: () => undefined,
    info: () => undefined,
    warn: (m) => void lines.push(m),
    error: (m) => void lines.push(m),
    child: () => logger,
  };
  return logger;
}

describe('Local backend: GPUs this machine does not have', () => {
  afterAll(async () => {
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env });
    for (const ref of await b.list()) await b.teardown(ref.clusterId);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('refuses a spec asking for a GPU on a machine without one, saying how to override, and starts nothing', async () => {
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env, gpus: 0 });
    const def = gpuDefinition('gpu-refused', 2, 1);
    const err = await b.apply(def, await generateClusterSecrets(secretsRequestFor(def))).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LocalGpuError);
    expect((err as LocalGpuError).exposable).toBe(true);
    expect((err as Error).message).toMatch(/asks for 1 GPU per worker \(2 for 2 workers\) but this machine has no GPU/);
    expect((err as Error).message).toContain('RECC_LOCAL_ALLOW_MISSING_GPUS=1');
    expect(processesOfCluster('gpu-refused')).toEqual([]);
    expect((await b.observe('gpu-refused')).exists).toBe(false);
  });

  it('starts it anyway with RECC_LOCAL_ALLOW_MISSING_GPUS=1, with a warning', async () => {
    const warnings: string[] = [];
    const b = new LocalProcessBackend({ stateDir, baseEnv: { ...process.env, RECC_LOCAL_ALLOW_MISSING_GPUS: '1', RECC_LOCAL_GPUS: '0' }, logger: capturingLogger(warnings) });
    const def = gpuDefinition('gpu-allowed', 1, 1);
    await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    await waitFor(async () => (await b.observe('gpu-allowed')).ready, { what: 'cluster ready' });
    await b.teardown('gpu-allowed');
    expect(warnings.some((w) => /asks for 1 GPU per worker .* but this machine has no GPU; starting anyway/.test(w))).toBe(true);
  });

  it('refuses a misdeclared RECC_LOCAL_GPUS or override flag clearly', async () => {
    expect(() => detectLocalGpus({ RECC_LOCAL_GPUS: 'two' })).toThrow(/RECC_LOCAL_GPUS must be a whole number ≥ 0, got "two"/);
    const b = new LocalProcessBackend({ stateDir, baseEnv: { RECC_LOCAL_GPUS: '1', RECC_LOCAL_ALLOW_MISSING_GPUS: 'maybe' } });
    const def = gpuDefinition('gpu-bad-flag', 1, 1);
    await expect(b.apply(def, await generateClusterSecrets(secretsRequestFor(def)))).rejects.toThrow(LocalGpuError);
  });

  it('warns, without refusing, when workers together ask for more GPUs than the machine has', () => {
    expect(checkLocalGpus(gpuDefinition('x', 3, 1), 2, false)).toEqual({ ok: true, warning: expect.stringMatching(/3 for 3 workers.*has 2 GPUs: the local workers share them/) });
    expect(checkLocalGpus(gpuDefinition('y', 2, 1), 2, false)).toEqual({ ok: true });
    expect(checkLocalGpus(gpuDefinition('z', 2, 0), 0, false)).toEqual({ ok: true });
    expect(detectLocalGpus({ RECC_LOCAL_GPUS: '4' })).toBe(4);
  });
});
