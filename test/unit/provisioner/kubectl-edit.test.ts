import { describe, expect, it } from 'vitest';
import { revise } from '../../../shared/lifecycle/machine.ts';
import type { ComputeBackend } from '../../../shared/ports/compute-backend.ts';
import { addRequested, provisionerWorld } from '../../support/provisioner-world.ts';

/**
 * Issue 21 #3: the provisioner makes the kubectl `--edit` grant the API
 * allowed (`kubectlEditAt` on the record), level-triggered: every look at a
 * RUNNING cluster re-asserts it, a cluster without it gets none, and a
 * backend without kubectl access (local processes) is simply skipped.
 */
describe('Class: Provisioner', () => {
  describe('Method: handle (RUNNING, kubectl edit)', () => {
    async function running(backendGrants: boolean) {
      const w = provisionerWorld({ readyAfterObserves: 1 });
      const grants: string[] = [];
      if (backendGrants) (w.backend as ComputeBackend).grantEdit = async (id: string) => void grants.push(id);
      await addRequested(w, 'c-000001');
      await addRequested(w, 'c-000002');
      for (const id of ['c-000001', 'c-000002']) {
        for (let i = 0; i < 5 && (await w.store.get(id))!.status !== 'RUNNING'; i += 1) await w.provisioner.handle({ clusterId: id, cause: 'created' });
        expect((await w.store.get(id))!.status).toBe('RUNNING');
      }
      // What the API writes when the owner is allowed.
      const current = (await w.store.get('c-000001'))!;
      await w.store.put(revise(current, { at: w.at(), patch: { kubectlEditAt: w.at() } }), current.version);
      return { w, grants };
    }

    it('grants edit on the backend for the cluster whose record says so, on every look, and never for another', async () => {
      // Prepare
      const { w, grants } = await running(true);

      // Act
      const first = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'kubectl-edit' });
      const again = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'requeue' });
      const other = await w.provisioner.handle({ clusterId: 'c-000002', cause: 'requeue' });

      // Assess
      expect([first.action, again.action, other.action]).toEqual(['in-sync', 'in-sync', 'in-sync']);
      expect(grants).toEqual(['c-000001', 'c-000001']);
    });

    it('skips the grant on a backend without kubectl access (local processes) and stays in sync', async () => {
      // Prepare
      const { w } = await running(false);

      // Act
      const result = await w.provisioner.handle({ clusterId: 'c-000001', cause: 'kubectl-edit' });

      // Assess
      expect(result).toMatchObject({ action: 'in-sync', status: 'RUNNING' });
    });
  });
});
