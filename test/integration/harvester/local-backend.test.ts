import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalProcessBackend } from '../../../adapters/local-backend/index.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { secretsRequestFor } from '../../../control/provisioner.ts';
import { runHarvester, type HarvestReport } from '../../../control/harvester.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { reasonCode } from '../../../shared/harvest/plan.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { initialChange, newClusterRecord, transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { processesOfCluster, recordedPids, tempStateDir } from '../../support/local-stack.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * The harvester against real cluster processes (the local-process backend):
 * an idle cluster is reaped with reason `idle` and its processes stop, an
 * active one keeps running, an orphan (processes with no record) is removed,
 * and a cluster whose processes were killed becomes FAILED with the reason.
 * The clock is injected: the harvester's "now" runs ahead of the wall clock.
 */
const stateDir = tempStateDir('harvest');
const backend = new LocalProcessBackend({ stateDir, baseEnv: process.env });
const store = new InMemoryClusterStore();
const ids = ['h-idle', 'h-active', 'h-killed', 'h-orphan'];

async function launch(id: string, options: { record: boolean }): Promise<void> {
  const at = new Date().toISOString();
  const spec = specFixture({ nWorkers: 1, workerCpu: 1, workerMemoryGiB: 0.5, idleTimeoutMinutes: 1 });
  const plan = planFixture();
  const record = newClusterRecord({ id, owner: 'tester', at, spec, plan });
  const definition = renderCluster({ clusterId: id, owner: 'tester', namespace: record.namespace, spec, plan });
  if (options.record) {
    let current: ClusterRecord = (await store.create(record, initialChange(record, { actor: 'tester' }))).record;
    const p = transition(current, 'PROVISIONING', { actor: 'provisioner', at });
    current = await store.put(p.next, current.version, p.change);
    await backend.apply(definition, await generateClusterSecrets(secretsRequestFor(definition)));
    await waitFor(async () => (await backend.observe(id)).ready, { what: `${id} ready`, timeoutMs: 90_000 });
    const r = transition(current, 'RUNNING', { actor: 'provisioner', at: new Date().toISOString() });
    await store.put(r.next, current.version, r.change);
  } else {
    await backend.apply(definition, await generateClusterSecrets(secretsRequestFor(definition)));
    await waitFor(async () => (await backend.observe(id)).ready, { what: `${id} ready`, timeoutMs: 90_000 });
  }
}

describe('Function: runHarvester (local-process backend)', () => {
  let report: HarvestReport;

  beforeAll(async () => {
    // Prepare: three clusters with records, one without; each scheduler + 1 worker.
    for (const id of ids) await launch(id, { record: id !== 'h-orphan' });
    for (const pid of recordedPids(stateDir, 'h-killed')) process.kill(pid, 'SIGKILL');
    await waitFor(() => processesOfCluster('h-killed').length === 0, { what: 'killed processes gone' });
    // Three minutes later (idle timeout 1 minute); h-active just had an API call.
    const clock = new ManualClock(Date.now() + 3 * 60_000);
    await store.touch('h-active', { activityAt: new Date(clock.now()).toISOString() });

    // Act
    report = await runHarvester({ store, backend, clock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });
  });

  afterAll(async () => {
    for (const ref of await backend.list()) await backend.teardown(ref.clusterId);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('reaps the idle cluster with reason idle and stops its processes', async () => {
    expect(report.reaped).toEqual([{ clusterId: 'h-idle', reason: 'idle' }]);
    const record = await store.get('h-idle');
    expect(record?.status).toBe('DELETED');
    expect(reasonCode(record?.statusReason)).toBe('idle');
    expect(processesOfCluster('h-idle')).toEqual([]);
  });

  it('leaves the active cluster running', async () => {
    expect((await store.get('h-active'))?.status).toBe('RUNNING');
    expect((await backend.observe('h-active')).ready).toBe(true);
    expect(processesOfCluster('h-active').length).toBeGreaterThan(0);
  });

  it('removes the orphan cluster that has no record', async () => {
    expect(report.orphansRemoved).toEqual(['h-orphan']);
    expect(processesOfCluster('h-orphan')).toEqual([]);
    expect((await backend.list()).map((r) => r.clusterId)).not.toContain('h-orphan');
  });

  it('marks the cluster whose processes were killed FAILED with the reason', async () => {
    expect(report.failed).toEqual([{ clusterId: 'h-killed', reason: 'component-failed' }]);
    const record = await store.get('h-killed');
    expect(record?.status).toBe('FAILED');
    expect(record?.statusReason).toMatch(/^component-failed: scheduler \w+/);
    expect((await backend.list()).map((r) => r.clusterId)).not.toContain('h-killed');
  });
});
