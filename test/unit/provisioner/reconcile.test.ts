import { describe, expect, it } from 'vitest';
import { reconcileOnStart } from '../../../local/reconcile.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import { planFixture, specFixture } from '../../support/local-stack-fixtures.ts';
import { addRequested, provisionerWorld } from '../../support/provisioner-world.ts';

async function setup() {
  const w = provisionerWorld({ readyAfterObserves: 1 });
  const { store, queue, provisioner } = w;
  const add = async (id: string) => {
    await addRequested(w, id, { nWorkers: 1 });
  };
  /** Drive a cluster to RUNNING with the real provisioner. */
  const toRunning = async (id: string) => {
    await add(id);
    for (let i = 0; i < 5 && (await store.get(id))?.status !== 'RUNNING'; i += 1) await provisioner.handle({ clusterId: id, cause: 'test' });
    queue.drain();
  };
  return { ...w, add, toRunning };
}

describe('Function: reconcileOnStart', () => {
  it('keeps RUNNING clusters whose processes are alive and fails those whose processes are gone', async () => {
    // Prepare
    const w = await setup();
    await w.toRunning('c-alive');
    await w.toRunning('c-gone');
    w.backend.vanish('c-gone');

    // Act
    const report = await reconcileOnStart({ ...w, logger: silentLogger });

    // Assess
    expect(report.keptRunning).toEqual(['c-alive']);
    expect(report.failed.map((f) => f.id)).toEqual(['c-gone']);
    expect((await w.store.get('c-alive'))?.status).toBe('RUNNING');
    const gone = await w.store.get('c-gone');
    expect(gone?.status).toBe('FAILED');
    expect(gone?.statusReason).toMatch(/restarted .*no longer running/);
    expect((await w.store.history('c-gone')).at(-1)).toMatchObject({ to: 'FAILED', actor: 'local-stack' });
  });

  it('re-queues REQUESTED, DELETING and live PROVISIONING clusters, and fails a PROVISIONING cluster with nothing left', async () => {
    // Prepare
    const w = await setup();
    await w.add('c-requested');
    await w.toRunning('c-deleting');
    const running = await w.store.get('c-deleting');
    const { next, change } = transition(running!, 'DELETING', { actor: 'arathe', at: w.at() });
    await w.store.put(next, running!.version, change);
    await w.add('c-prov-alive');
    await w.provisioner.handle({ clusterId: 'c-prov-alive', cause: 'created' });
    await w.add('c-prov-dead');
    await w.provisioner.handle({ clusterId: 'c-prov-dead', cause: 'created' });
    w.backend.vanish('c-prov-dead');
    w.queue.drain();

    // Act
    const report = await reconcileOnStart({ ...w, logger: silentLogger });

    // Assess
    expect(report.requeued.sort()).toEqual(['c-deleting', 'c-prov-alive', 'c-requested']);
    expect(w.queue.messages.map((m) => m.clusterId).sort()).toEqual(['c-deleting', 'c-prov-alive', 'c-requested']);
    expect(report.failed.map((f) => f.id)).toEqual(['c-prov-dead']);
    expect((await w.store.get('c-prov-dead'))?.statusReason).toMatch(/stopped while the cluster was provisioning/);
  });

  it('tears down processes that belong to no live record', async () => {
    // Prepare
    const w = await setup();
    const def = renderCluster({ clusterId: 'c-orphan', owner: 'x', namespace: 'ns-orphan', spec: specFixture(), plan: planFixture() });
    await w.backend.apply(def, { token: 't', caCertPem: 'a', caKeyPem: 'b', serverCertPem: 'c', serverKeyPem: 'd' });

    // Act
    const report = await reconcileOnStart({ ...w, logger: silentLogger });

    // Assess
    expect(report.orphansRemoved).toEqual(['c-orphan']);
    expect(w.backend.holds('c-orphan')).toBe(false);
  });
});
