import { describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { KubectlEditPolicy } from '../../../shared/access/kubectl-edit.ts';
import { isoAt, ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import { QuotaPolicy } from '../../../shared/quota/config.ts';
import { makeApi, roleArn, userArn } from '../../support/api-invoke.ts';

/**
 * `POST /clusters/{id}/access {"level": "edit"}` (issue 21 #3): the owner of
 * a running cluster, listed by the stage's policy, gets 202 and one
 * provisioning message; everyone else a clear 4xx in the one error shape.
 */
describe('Function: clusterAccess', () => {
  async function setup() {
    const store = new InMemoryClusterStore();
    const queue = new InMemoryWorkQueue();
    const clock = new ManualClock(Date.parse('2026-12-06T00:00:00Z'));
    const quotas = QuotaPolicy.from({ groups: { research: { members: ['carol'] } } });
    const api = await makeApi({ store, queue, clock, ids: new SequentialIds(), logger: silentLogger, quotas, kubectlEdit: KubectlEditPolicy.from(['alice', 'group:research', 'ops'], quotas) });
    const create = async (user: string) => {
      const res = await api({ method: 'POST', path: '/clusters', body: { nWorkers: 1, instanceType: 'c5.xlarge' }, arn: userArn(user) });
      expect(res.statusCode).toBe(202);
      return res.body.cluster.id as string;
    };
    const run = async (id: string) => {
      let record = (await store.get(id))!;
      for (const to of ['PROVISIONING', 'RUNNING'] as const) {
        const { next, change } = transition(record, to, { actor: 'provisioner', at: isoAt(clock) });
        record = await store.put(next, record.version, change);
      }
    };
    queue.drain();
    return { store, queue, api, create, run };
  }
  const edit = { level: 'edit' };

  it('records the request and queues one provisioner message for an allowed owner of a running cluster (202); asking again re-sends, writes nothing', async () => {
    // Prepare
    const { store, queue, api, create, run } = await setup();
    const id = await create('alice');
    await run(id);
    queue.drain();
    const version = (await store.get(id))!.version;

    // Act
    const first = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('alice') });
    const again = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('alice') });

    // Assess
    expect(first.statusCode).toBe(202);
    expect(first.body.cluster.kubectlEditAt).toBe('2026-12-06T00:00:00.000Z');
    expect(again.statusCode).toBe(202);
    expect((await store.get(id))!.version).toBe(version + 1);
    expect(queue.drain().map((m) => m.message)).toEqual([
      { clusterId: id, cause: 'kubectl-edit' },
      { clusterId: id, cause: 'kubectl-edit' },
    ]);
  });

  it('allows a member of a listed quota group', async () => {
    const { api, create, run } = await setup();
    const id = await create('carol');
    await run(id);
    expect((await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('carol') })).statusCode).toBe(202);
  });

  it('answers 403 with what to do for an owner the policy does not list, and changes nothing', async () => {
    // Prepare
    const { store, queue, api, create, run } = await setup();
    const id = await create('bob');
    await run(id);
    queue.drain();

    // Act
    const res = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('bob') });

    // Assess
    expect(res.statusCode).toBe(403);
    expect(res.body.error.type).toBe('KubectlEditForbiddenError');
    expect(res.body.error.message).toMatch(/^bob may not have kubectl edit access: the stage allows it only for the users and groups in RECC_KUBECTL_EDIT \(stage parameter kubectlEdit\); ask the platform administrator/);
    expect((await store.get(id))!.kubectlEditAt).toBeUndefined();
    expect(queue.drain()).toEqual([]);
  });

  it("answers 404 for another user's cluster (ids cannot be probed), and 403 to an admin: edit goes to the owner only", async () => {
    // Prepare
    const { api, create, run } = await setup();
    const id = await create('bob');
    await run(id);

    // Act
    const stranger = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('alice') });
    const admin = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: roleArn('recc-admin', 'ops') });

    // Assess
    expect(stranger.statusCode).toBe(404);
    expect(admin.statusCode).toBe(403);
    expect(admin.body.error.message).toMatch(/owner only \(bob\)/);
  });

  it('answers 409 while the cluster is not running yet', async () => {
    const { api, create } = await setup();
    const id = await create('alice');
    const res = await api({ method: 'POST', path: `/clusters/${id}/access`, body: edit, arn: userArn('alice') });
    expect(res.statusCode).toBe(409);
    expect(res.body.error.message).toBe(`cluster ${id} is REQUESTED; kubectl edit access can only be granted while it is RUNNING`);
  });

  it('answers 400 naming the field for a body that is not {"level": "edit"}', async () => {
    // Prepare
    const { api, create, run } = await setup();
    const id = await create('alice');
    await run(id);

    // Act
    const replies = await Promise.all(
      [{ level: 'admin' }, {}, '{"level":"edit","__proto__":{"x":1}}', { level: 'edit', constructor: 'x' }, '"edit"', 'null', 'not json'].map((body) => api({ method: 'POST', path: `/clusters/${id}/access`, body, arn: userArn('alice') })),
    );

    // Assess
    for (const r of replies) {
      expect(r.statusCode).toBe(400);
      expect(r.body.error.details.length).toBeGreaterThan(0);
    }
    expect(replies[0]!.body.error.details).toEqual([{ path: 'level', message: 'must be "edit" (read-only access needs no request)' }]);
    expect(replies[2]!.body.error.details.map((d: { path: string }) => d.path)).toEqual(['__proto__']);
    expect(replies[3]!.body.error.details.map((d: { path: string }) => d.path)).toEqual(['constructor']);
  });
});
