import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { createLogger } from '../../../shared/core/logger.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ApiDeps } from '../../../functions/commons/api.ts';
import { identityConfig } from '../../../functions/commons/config.ts';
import { makeApi, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';
import { localUserArn, startApiServer } from '../../../local/api-server.ts';

/**
 * Issue 18, defect 1, through the API handlers as API Gateway invokes them:
 * Alice signs in through IAM Identity Center; Bob can assume a CI role (and
 * has an IAM user under a path, and a role in another account) and names his
 * sessions "alice". None of Bob's principals may read, list, scale or delete
 * Alice's cluster, or see its token.
 */
const ACCOUNT = '111111111111';
const SSO_RESEARCHER = 'AWSReservedSSO_ReccResearcher_0123456789abcdef';
const ALICE = `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice`;
const BOB_FORGED = [
  `arn:aws:sts::${ACCOUNT}:assumed-role/SomeCiRole/alice`,
  `arn:aws:iam::${ACCOUNT}:user/teamB/alice`,
  `arn:aws:sts::222222222222:assumed-role/Other/alice`,
  `arn:aws:sts::222222222222:assumed-role/${SSO_RESEARCHER}/alice`,
  `arn:aws:sts::${ACCOUNT}:federated-user/alice`,
  `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/\u0430lice`,
  `arn:aws:iam::${ACCOUNT}:root`,
];
const TOKEN = 'tok-alice-s3cret';

describe('Identity through the API handlers', () => {
  let store: InMemoryClusterStore;
  let api: (call: ApiCall) => Promise<ApiReply>;
  let logs: string[];

  beforeEach(async () => {
    store = new InMemoryClusterStore();
    logs = [];
    const deps: ApiDeps = {
      store,
      queue: new InMemoryWorkQueue(),
      clock: new ManualClock(),
      ids: new SequentialIds(),
      identity: identityConfig({ allowedAccounts: [ACCOUNT], allowedRoles: ['AWSReservedSSO_ReccResearcher_*', 'SomeCiRole'] }),
      logger: createLogger({ level: 'debug', write: (line) => logs.push(line) }),
    };
    api = await makeApi(deps);
  });

  async function aliceRunningCluster(): Promise<string> {
    const created = await api({ method: 'POST', path: '/clusters', body: { template: 'small', clientToken: 'alice-1' }, arn: ALICE });
    expect(created.statusCode).toBe(202);
    const id = created.body.cluster.id as string;
    for (const to of ['PROVISIONING', 'RUNNING'] as const) {
      const cur = (await store.get(id))!;
      const { next, change } = transition(cur, to, {
        actor: 'provisioner',
        at: new Date(Date.UTC(2026, 0, 1)).toISOString(),
        ...(to === 'RUNNING' ? { patch: { connection: { schedulerAddress: 'tcp://127.0.0.1:9999', token: TOKEN } } } : {}),
      });
      await store.put(next, cur.version, change);
    }
    return id;
  }

  it('lets Alice read her cluster with its token', async () => {
    const id = await aliceRunningCluster();
    const reply = await api({ method: 'GET', path: `/clusters/${id}`, arn: ALICE });
    expect(reply.statusCode).toBe(200);
    expect(reply.body.cluster.owner).toBe('alice');
    expect(reply.body.cluster.connection.token).toBe(TOKEN);
  });

  for (const arn of BOB_FORGED) {
    it(`refuses ${arn}: cannot read, list, scale or delete Alice's cluster`, async () => {
      const id = await aliceRunningCluster();
      const calls: ApiCall[] = [
        { method: 'GET', path: `/clusters/${id}`, arn },
        { method: 'GET', path: '/clusters', arn },
        { method: 'PATCH', path: `/clusters/${id}`, body: { nWorkers: 9 }, arn },
        { method: 'POST', path: `/clusters/${id}/heartbeat`, arn },
        { method: 'DELETE', path: `/clusters/${id}`, arn },
      ];
      for (const call of calls) {
        const reply = await api(call);
        expect(reply.statusCode, `${call.method} ${call.path} as ${arn}`).toBe(403);
        expect(reply.body.error.type).toBe('IdentityMappingError');
        expect(reply.body.error.details[0].path).toBe('identity');
        expect(JSON.stringify(reply.body)).not.toContain(TOKEN);
      }
      const after = (await store.get(id))!;
      expect(after.status).toBe('RUNNING');
      expect(after.desiredWorkers).not.toBe(9);
    });
  }

  it('records the full principal ARN on the cluster, in the API view and in the logs', async () => {
    const id = await aliceRunningCluster();
    expect((await store.get(id))?.principalArn).toBe(ALICE);
    const reply = await api({ method: 'GET', path: `/clusters/${id}`, arn: ALICE });
    expect(reply.body.cluster.principalArn).toBe(ALICE);
    const requestLines = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'request');
    expect(requestLines.length).toBeGreaterThan(0);
    for (const line of requestLines) expect(line).toMatchObject({ user: 'alice', principalArn: ALICE });
    const refused = await api({ method: 'GET', path: `/clusters/${id}`, arn: BOB_FORGED[0] });
    expect(refused.statusCode).toBe(403);
    const refusalLine = logs.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.message === 'request').at(-1);
    expect(refusalLine).toMatchObject({ statusCode: 403, principalArn: BOB_FORGED[0] });
    expect(refusalLine).not.toHaveProperty('user');
  });
});

describe('Identity through the local API server (no IAM)', () => {
  it('maps the local user through the same callerFromIam and records the local principal ARN', async () => {
    const store = new InMemoryClusterStore();
    let who: { user: string; admin?: boolean } = { user: 'alice' };
    const server = await startApiServer({
      port: 0,
      deps: { store, queue: new InMemoryWorkQueue(), clock: new ManualClock(), ids: new SequentialIds(), logger: createLogger({ write: () => {} }) },
      identity: () => who,
    });
    try {
      const call = async (method: string, path: string, body?: unknown) => {
        const res = await fetch(`${server.url}${path}`, { method, headers: { 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
        return { status: res.status, body: (await res.json()) as any };
      };
      const created = await call('POST', '/clusters', { template: 'small' });
      expect(created.status).toBe(202);
      expect(created.body.cluster).toMatchObject({ owner: 'alice', principalArn: 'arn:aws:sts::000000000000:assumed-role/recc-local-user/alice' });
      who = { user: 'bob' };
      expect((await call('GET', `/clusters/${created.body.cluster.id}`)).status).toBe(404);
      expect((await call('GET', '/clusters?all=true')).status).toBe(403);
      who = { user: 'ops', admin: true };
      const all = await call('GET', '/clusters?all=true');
      expect(all.status).toBe(200);
      expect(all.body.clusters.map((c: { owner: string }) => c.owner)).toEqual(['alice']);
      // An OS user name with characters IAM does not allow still maps (to a sanitised name), never to a 403.
      who = { user: 'Jörg Müller/x' };
      const odd = await call('POST', '/clusters', { template: 'small' });
      expect(odd.status).toBe(202);
      expect(odd.body.cluster.owner).toBe('J-rg-M-ller-x');
      expect(localUserArn({ user: '' })).toBe('arn:aws:sts::000000000000:assumed-role/recc-local-user/user');
    } finally {
      await server.close();
    }
  });
});
