import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { createLogger } from '../../../shared/core/logger.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ApiDeps } from '../../../functions/commons/api.ts';
import { TEST_IDENTITY, makeApi, roleArn, userArn, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';

const ALICE = userArn('alice');
const BOB = roleArn('researcher', 'bob');
const ADMIN = roleArn('recc-admin', 'ops');

describe('API handlers (in-memory store)', () => {
  let store: InMemoryClusterStore;
  let queue: InMemoryWorkQueue;
  let clock: ManualClock;
  let logs: string[];
  let api: (call: ApiCall) => Promise<ApiReply>;
  let deps: ApiDeps;

  beforeEach(async () => {
    store = new InMemoryClusterStore();
    queue = new InMemoryWorkQueue();
    clock = new ManualClock();
    logs = [];
    deps = {
      store,
      queue,
      clock,
      ids: new SequentialIds(),
      identity: TEST_IDENTITY,
      logger: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    };
    api = await makeApi(deps);
  });

  async function makeRunning(owner = ALICE, token = 'tok-s3cret-value'): Promise<string> {
    const created = await api({ method: 'POST', path: '/clusters', body: { template: 'small' }, arn: owner });
    const id = created.body.cluster.id as string;
    for (const to of ['PROVISIONING', 'RUNNING'] as const) {
      const cur = (await store.get(id))!;
      const { next, change } = transition(cur, to, {
        actor: 'provisioner',
        at: new Date(clock.now()).toISOString(),
        ...(to === 'RUNNING' ? { patch: { connection: { schedulerAddress: 'tcp://127.0.0.1:9999', dashboardUrl: 'http://127.0.0.1:9998', token } } } : {}),
      });
      await store.put(next, cur.version, change);
    }
    return id;
  }

  describe('Function: createCluster', () => {
    it('answers 202 with the cluster, plan and $/hour when the body is valid', async () => {
      const reply = await api({ method: 'POST', path: '/clusters', body: { template: 'small', nWorkers: 3, name: 'x', clientToken: 'abc' } });
      expect(reply.statusCode).toBe(202);
      expect(reply.headers['content-type']).toBe('application/json');
      expect(reply.body.cluster).toMatchObject({ owner: 'alice', status: 'REQUESTED', desiredWorkers: 3, name: 'x' });
      expect(reply.body.plan.instances).toBeGreaterThan(0);
      expect(reply.body.estimate.costPerHour).toBe(reply.body.plan.costPerHour);
      expect(queue.messages).toEqual([{ clusterId: reply.body.cluster.id, cause: 'created' }]);
    });

    it('creates a default cluster when there is no body', async () => {
      const reply = await api({ method: 'POST', path: '/clusters' });
      expect(reply.statusCode).toBe(202);
      expect(reply.body.cluster.spec.instanceType).toBe('c5.xlarge');
    });

    it('answers 400 listing every offending field when the body is invalid', async () => {
      const reply = await api({ method: 'POST', path: '/clusters', body: { nWorkerz: 3, workerCpu: -1, clientToken: 'has spaces' } });
      expect(reply.statusCode).toBe(400);
      expect(Object.keys(reply.body)).toEqual(['error']);
      expect(Object.keys(reply.body.error).sort()).toEqual(['details', 'message', 'type']);
      const paths = reply.body.error.details.map((d: { path: string }) => d.path);
      expect(paths).toEqual(expect.arrayContaining(['clientToken']));
      // Spec problems come back once the envelope is valid.
      const spec = await api({ method: 'POST', path: '/clusters', body: { nWorkerz: 3, workerCpu: -1 } });
      expect(spec.statusCode).toBe(400);
      const specPaths = spec.body.error.details.map((d: { path: string }) => d.path);
      expect(specPaths).toEqual(expect.arrayContaining(['nWorkerz', 'workerCpu']));
      expect(JSON.stringify(spec.body.error.details)).toContain('nWorkers');
    });

    it('answers 400 naming body when the body is not JSON', async () => {
      const reply = await api({ method: 'POST', path: '/clusters', body: '{"nWorkers": ' });
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.details).toEqual([{ path: 'body', message: 'must be a JSON object' }]);
    });

    it('refuses a template given as a file path', async () => {
      const reply = await api({ method: 'POST', path: '/clusters', body: { template: '../../etc/passwd' } });
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.details[0].path).toBe('template');
    });
  });

  describe('Function: getCluster', () => {
    it('shows the owner the connection with its token', async () => {
      const id = await makeRunning();
      const reply = await api({ method: 'GET', path: `/clusters/${id}` });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.cluster.connection.token).toBe('tok-s3cret-value');
    });

    it('carries reapAt computed with the server harvest config, and null once the cluster is DELETED', async () => {
      // Prepare: a 5-minute lease beats the template's idle timeout once the client heartbeats.
      api = await makeApi({ ...deps, harvest: { defaultIdleTimeoutMinutes: 30, leaseTimeoutMinutes: 5, schedulerUnreachableMinutes: 10, provisioningDeadlineMinutes: 20, deletingDeadlineMinutes: 15 } });
      const id = await makeRunning();
      await api({ method: 'POST', path: `/clusters/${id}/heartbeat` });

      // Act
      const running = await api({ method: 'GET', path: `/clusters/${id}` });
      for (const to of ['DELETING', 'DELETED'] as const) {
        const cur = (await store.get(id))!;
        const { next, change } = transition(cur, to, { actor: 'provisioner', at: new Date(clock.now()).toISOString() });
        await store.put(next, cur.version, change);
      }
      const deleted = await api({ method: 'GET', path: `/clusters/${id}` });

      // Assess
      const lastActivity = Date.parse(running.body.cluster.lastActivityAt as string);
      expect(running.body.cluster.reapAt).toBe(new Date(lastActivity + 5 * 60_000).toISOString());
      expect(running.body.cluster.reapReason).toBe('lease-expired');
      expect(deleted.body.cluster.status).toBe('DELETED');
      expect(deleted.body.cluster.reapAt).toBeNull();
    });

    it('answers 400 naming id when the id cannot be a cluster id', async () => {
      const reply = await api({ method: 'GET', path: `/clusters/${encodeURIComponent('NOT AN ID')}` });
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.details[0].path).toBe('id');
    });

    it('answers 400 naming the parameter when the query has an unknown one', async () => {
      const id = await makeRunning();
      const reply = await api({ method: 'GET', path: `/clusters/${id}?verbose=1` });
      expect(reply.statusCode).toBe(400);
      expect(reply.body.error.details).toEqual([{ path: 'verbose', message: 'is not a known field' }]);
    });
  });

  describe('Visibility', () => {
    it('gives user B a 404 naming id on every route for user A\'s cluster', async () => {
      const id = await makeRunning(ALICE);
      const calls: ApiCall[] = [
        { method: 'GET', path: `/clusters/${id}`, arn: BOB },
        { method: 'DELETE', path: `/clusters/${id}`, arn: BOB },
        { method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: 5 }, arn: BOB },
        { method: 'POST', path: `/clusters/${id}/heartbeat`, arn: BOB },
      ];
      for (const call of calls) {
        const reply = await api(call);
        expect(reply.statusCode, `${call.method} ${call.path}`).toBe(404);
        expect(reply.body.error.type).toBe('ClusterNotFoundError');
        expect(reply.body.error.details).toEqual([{ path: 'id', message: 'no such cluster' }]);
      }
      const list = await api({ method: 'GET', path: '/clusters', arn: BOB });
      expect(list.body.clusters).toEqual([]);
      const after = (await store.get(id))!;
      expect(after.status).toBe('RUNNING');
      expect(after.desiredWorkers).toBe(2);
    });

    it('lets an admin see both users\' clusters, without tokens', async () => {
      await makeRunning(ALICE, 'alice-token-1');
      await makeRunning(BOB, 'bob-token-2');
      const reply = await api({ method: 'GET', path: '/clusters?all=true', arn: ADMIN });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.clusters.map((c: { owner: string }) => c.owner).sort()).toEqual(['alice', 'bob']);
      expect(JSON.stringify(reply.body)).not.toMatch(/alice-token-1|bob-token-2/);
    });

    it('answers 403 naming all when a non-admin asks for all', async () => {
      const reply = await api({ method: 'GET', path: '/clusters?all=true', arn: BOB });
      expect(reply.statusCode).toBe(403);
      expect(reply.body.error.details[0].path).toBe('all');
    });

    it('answers 403 naming identity when the principal maps to no user (issue 18: authenticated, so not 401)', async () => {
      const reply = await api({ method: 'GET', path: '/clusters', arn: 'arn:aws:iam::123456789012:root' });
      expect(reply.statusCode).toBe(403);
      expect(reply.body.error.type).toBe('IdentityMappingError');
      expect(reply.body.error.details[0].path).toBe('identity');
    });
  });

  describe('Function: scaleCluster', () => {
    it('answers 202 with the new worker count', async () => {
      const id = await makeRunning();
      const reply = await api({ method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: 6 } });
      expect(reply.statusCode).toBe(202);
      expect(reply.body.cluster.desiredWorkers).toBe(6);
    });

    it('answers 400 naming nWorkers or the unknown field', async () => {
      const id = await makeRunning();
      const bad = await api({ method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: -1, extra: true } });
      expect(bad.statusCode).toBe(400);
      expect(bad.body.error.details.map((d: { path: string }) => d.path).sort()).toEqual(['extra', 'nWorkers']);
      // 0 is a count only an adaptive cluster with minimum 0 takes; this one has a fixed size.
      const zero = await api({ method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: 0 } });
      expect(zero.statusCode).toBe(400);
      expect(zero.body.error.details).toEqual([{ path: 'nWorkers', message: 'must be a positive whole number (got 0)' }]);
      const missing = await api({ method: 'PATCH', path: `/clusters/${id}` });
      expect(missing.statusCode).toBe(400);
      expect(missing.body.error.details[0].path).toBe('body');
    });
  });

  describe('Function: deleteCluster', () => {
    it('answers 202 twice (idempotent) and the cluster is DELETING', async () => {
      const id = await makeRunning();
      const first = await api({ method: 'DELETE', path: `/clusters/${id}` });
      const second = await api({ method: 'DELETE', path: `/clusters/${id}` });
      expect([first.statusCode, second.statusCode]).toEqual([202, 202]);
      expect(second.body.cluster.status).toBe('DELETING');
      expect(second.body.cluster.version).toBe(first.body.cluster.version);
    });
  });

  describe('Function: heartbeat, estimate, templates', () => {
    it('records a heartbeat', async () => {
      const id = await makeRunning();
      clock.advance(10_000);
      const reply = await api({ method: 'POST', path: `/clusters/${id}/heartbeat` });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.cluster.lastHeartbeatAt).toBe(new Date(clock.now()).toISOString());
    });

    it('estimates without creating anything', async () => {
      const reply = await api({ method: 'POST', path: '/estimates', body: { template: 'small', nWorkers: 8 } });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.spec.nWorkers).toBe(8);
      expect(reply.body.plan.costPerHour).toBeGreaterThan(0);
      expect(await store.listAll()).toEqual([]);
    });

    it('lists templates', async () => {
      const reply = await api({ method: 'GET', path: '/templates' });
      expect(reply.statusCode).toBe(200);
      expect(reply.body.templates.map((t: { name: string }) => t.name)).toContain('small');
    });
  });

  describe('Errors and logs', () => {
    it('hides a 5xx cause from the caller and logs it with the request id', async () => {
      store.get = async () => {
        throw new Error('connection reset by peer at 10.1.2.3');
      };
      const reply = await api({ method: 'GET', path: '/clusters/c-000001' });
      expect(reply.statusCode).toBe(500);
      expect(reply.body.error.type).toBe('InternalError');
      expect(reply.body.error.details).toEqual([]);
      expect(reply.body.error.message).not.toContain('10.1.2.3');
      const logged = logs.map((l) => JSON.parse(l)).find((l) => l.level === 'error');
      expect(logged).toMatchObject({ message: 'request failed', requestId: expect.any(String), user: 'alice', clusterId: 'c-000001' });
      expect(JSON.stringify(logged)).toContain('10.1.2.3');
    });

    it('logs one line per request with request id, user and cluster id, and never a token', async () => {
      const id = await makeRunning(ALICE, 'tok-never-logged');
      logs.length = 0;
      await api({ method: 'GET', path: `/clusters/${id}` });
      const lines = logs.map((l) => JSON.parse(l));
      const request = lines.find((l) => l.message === 'request');
      expect(request).toMatchObject({ requestId: expect.any(String), user: 'alice', clusterId: id, statusCode: 200, function: 'getCluster' });
      expect(logs.join('\n')).not.toContain('tok-never-logged');
    });
  });
});
