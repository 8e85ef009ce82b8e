import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { processesOfCluster, tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Local-backend cluster processes are detached so that they survive a restart
 * of `recc up`. When the process holding the backend dies for good (kill -9 of
 * `npm start`, which once left a cluster running for an hour), they must stop
 * themselves: the supervisor lease is no longer renewed.
 */
const stateDir = tempStateDir('lease');
const STALE_SECONDS = 6;

function definitionFor(clusterId: string) {
  return renderCluster({
    clusterId,
    owner: 'tester',
    namespace: `recc-tester-${clusterId}`,
    spec: specFixture({ nWorkers: 2, workerCpu: 1, workerMemoryGiB: 0.5 }),
    plan: planFixture(),
  });
}

describe('Supervisor lease of local-backend clusters', () => {
  afterAll(async () => {
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env });
    for (const ref of await b.list()) await b.teardown(ref.clusterId);
    b.releaseLease();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('keeps a cluster running while the lease is renewed, and its processes stop once it is not', { timeout: 120_000 }, async () => {
    // Prepare: a running cluster under a backend with a short stale time.
    const backend = new LocalProcessBackend({ stateDir, baseEnv: process.env, supervisorStaleSeconds: STALE_SECONDS });
    const def = definitionFor('lease-1');
    await backend.apply(def, await generateClusterSecrets(secretsRequestFor(def)));
    await waitFor(async () => (await backend.observe('lease-1')).ready, { what: 'cluster ready', timeoutMs: 60_000 });
    expect(processesOfCluster('lease-1')).toHaveLength(3);

    // Act 1: twice the stale time passes with the lease renewed.
    const renewedUntil = Date.now() + 2 * STALE_SECONDS * 1000;
    await waitFor(() => Date.now() > renewedUntil, { what: 'time passing under a renewed lease', timeoutMs: 30_000 });

    // Assess 1: still running and ready.
    expect(processesOfCluster('lease-1')).toHaveLength(3);
    expect((await backend.observe('lease-1')).ready).toBe(true);

    // Act 2: the holder stops renewing, as if it had been killed.
    backend.releaseLease();

    // Assess 2: the scheduler and both workers exit on their own.
    await waitFor(() => processesOfCluster('lease-1').length === 0, { what: 'cluster processes to stop themselves', timeoutMs: 60_000 });
  });
});
