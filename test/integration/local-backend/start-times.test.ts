import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 19 #5: the local backend reports the start milestones of a ready
 * cluster from its real processes (spawn time, the scheduler's and workers'
 * ready lines), which the provisioner keeps on the record at RUNNING.
 */
const stateDir = tempStateDir('start-times');

describe('Feature: start milestones of local processes', () => {
  afterAll(async () => {
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env });
    for (const ref of await b.list()) await b.teardown(ref.clusterId);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('reports spawn ≤ scheduler ready ≤ last worker registered ≤ now, only once ready', async () => {
    // Prepare
    const b = new LocalProcessBackend({ stateDir, baseEnv: process.env });
    const def = renderCluster({ clusterId: 'times-1', owner: 'tester', namespace: 'recc-tester-times-1', spec: specFixture({ nWorkers: 2, workerCpu: 1, workerMemoryGiB: 0.5 }), plan: planFixture() });
    const before = Date.now();
    await b.apply(def, await generateClusterSecrets(secretsRequestFor(def)));

    // Act
    const first = await b.observe('times-1');
    const ready = await waitFor(async () => {
      const o = await b.observe('times-1');
      return o.ready ? o : undefined;
    }, { what: 'cluster ready', timeoutMs: 120_000 });

    // Assess
    if (!first.ready) expect(first.startTimes).toBeUndefined();
    const t = ready.startTimes!;
    const ms = (s: string | undefined) => Date.parse(s ?? 'missing');
    expect(ms(t.podsCreatedAt)).toBeGreaterThanOrEqual(before);
    expect(ms(t.schedulerReadyAt)).toBeGreaterThan(ms(t.podsCreatedAt));
    // Workers retry until the scheduler listens, so the last one registers after it is ready.
    expect(ms(t.workersRegisteredAt)).toBeGreaterThanOrEqual(ms(t.schedulerReadyAt));
    expect(ms(t.workersRegisteredAt)).toBeLessThanOrEqual(Date.now());
    await b.teardown('times-1');
  }, 180_000);
});
