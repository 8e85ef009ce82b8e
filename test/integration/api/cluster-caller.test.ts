import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { scaleClusterEnv } from '../../../control/provisioner.ts';
import { apiScalerFromEnv } from '../../../scheduler/api-scaler.ts';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { ApiClient, apiClientOptionsFromEnv } from '../../../client/api-client.ts';
import type { ApiDeps } from '../../../functions/commons/api.ts';
import { identityConfig, readIdentityConfig } from '../../../functions/commons/config.ts';
import { CLUSTER_PROOF_HEADER, CLUSTER_PROOF_MAX_TTL_MS, clusterProof } from '../../../shared/api/cluster-proof.ts';
import { ManualClock, type Clock } from '../../../shared/core/clock.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { SequentialIds } from '../../../shared/core/ids.ts';
import { dashboardLinkSignature } from '../../../shared/engine/dashboard-link.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import type { ClusterStatus } from '../../../shared/lifecycle/types.ts';
import { makeApi, type ApiCall, type ApiReply } from '../../support/api-invoke.ts';

/**
 * Issue 13 on EKS: a job run's driver (a Kubernetes Job in its cluster's
 * namespace) calls the API with the pod's IAM identity, a session of the
 * shared cluster role. With a proof under its cluster's token it acts for the
 * cluster's owner on that cluster only; nothing else a pod or a user can forge
 * gains anything: another user's cluster, another run's cluster of the same
 * owner, other routes, stale or replayed proofs.
 */
const ACCOUNT = '111111111111';
const SSO = 'AWSReservedSSO_ReccResearcher_0123456789abcdef';
const ALICE = `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO}/alice`;
const BOB = `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO}/bob`;
const CLUSTER_ROLE = `arn:aws:iam::${ACCOUNT}:role/recc-test-cluster-scheduler`;
/** What API Gateway reports for an EKS Pod Identity session (session name eks-<cluster>-<pod>-<uuid>). */
const POD = `arn:aws:sts::${ACCOUNT}:assumed-role/recc-test-cluster-scheduler/eks-research-recc-driver-r-0abc-1-4f2c9a1e`;
const IDENTITY = identityConfig({ allowedAccounts: [ACCOUNT], allowedRoles: ['AWSReservedSSO_ReccResearcher_*'], clusterRoleArns: [CLUSTER_ROLE] });
const TOKENS: Record<string, string> = { alice: 'tok-alice-run-cluster', alice2: 'tok-alice-other-cluster', bob: 'tok-bob-cluster' };

describe('A cluster pod acting for the owner of its own cluster', () => {
  let store: InMemoryClusterStore;
  let clock: Clock;
  let api: (call: ApiCall) => Promise<ApiReply>;
  let run: string;
  let aliceOther: string;
  let bobs: string;

  async function setUp(withClock: Clock): Promise<void> {
    store = new InMemoryClusterStore();
    clock = withClock;
    const deps: ApiDeps = { store, queue: new InMemoryWorkQueue(), clock, ids: new SequentialIds(), identity: IDENTITY };
    api = await makeApi(deps);
    run = await runningCluster(ALICE, 'a-run', TOKENS.alice!, 'nightly');
    aliceOther = await runningCluster(ALICE, 'a-other', TOKENS.alice2!, 'hourly');
    bobs = await runningCluster(BOB, 'b-1', TOKENS.bob!, 'nightly');
  }

  async function runningCluster(arn: string, clientToken: string, token: string, job: string): Promise<string> {
    const created = await api({ method: 'POST', path: '/clusters', body: { template: 'small', clientToken, job }, arn });
    expect(created.statusCode).toBe(202);
    const id = created.body.cluster.id as string;
    for (const to of ['PROVISIONING', 'RUNNING'] as const) await move(id, to, to === 'RUNNING' ? token : undefined);
    return id;
  }

  async function move(id: string, to: ClusterStatus, token?: string): Promise<void> {
    const cur = (await store.get(id))!;
    const { next, change } = transition(cur, to, {
      actor: 'provisioner',
      at: new Date(clock.now()).toISOString(),
      ...(token ? { patch: { connection: { schedulerAddress: 'tls://10.0.3.4:8786', token } } } : {}),
    });
    await store.put(next, cur.version, change);
  }

  const proofFor = (token: string, clusterId: string, method: string, ttlMs = 60_000) => ({ [CLUSTER_PROOF_HEADER]: clusterProof(token, clusterId, method, clock.now() + ttlMs) });
  const asPod = (method: string, path: string, headers: Record<string, string>, body?: unknown): Promise<ApiReply> =>
    api({ method, path, arn: POD, headers, ...(body === undefined ? {} : { body }) });

  describe('through the handlers', () => {
    beforeEach(async () => setUp(new ManualClock()));

    it("reads, heartbeats and scales its own cluster as the owner (not an admin), token included", async () => {
      const got = await asPod('GET', `/clusters/${run}`, proofFor(TOKENS.alice!, run, 'GET'));
      expect(got.statusCode).toBe(200);
      expect(got.body.cluster).toMatchObject({ id: run, owner: 'alice', status: 'RUNNING' });
      expect(got.body.cluster.connection.token).toBe(TOKENS.alice);
      expect((await asPod('POST', `/clusters/${run}/heartbeat`, proofFor(TOKENS.alice!, run, 'POST'))).statusCode).toBe(200);
      const scaled = await asPod('PATCH', `/clusters/${run}`, proofFor(TOKENS.alice!, run, 'PATCH'), { nWorkers: 1 });
      expect(scaled.statusCode).toBe(202);
      expect(scaled.body.cluster.nWorkers ?? scaled.body.cluster.spec.nWorkers).toBe(1);
    });

    it("cannot read, heartbeat, scale or delete the owner's other cluster or another user's cluster", async () => {
      for (const target of [aliceOther, bobs]) {
        const before = await store.get(target);
        for (const [method, path, body] of [
          ['GET', `/clusters/${target}`, undefined],
          ['POST', `/clusters/${target}/heartbeat`, undefined],
          ['PATCH', `/clusters/${target}`, { nWorkers: 7 }],
          ['DELETE', `/clusters/${target}`, undefined],
        ] as const) {
          const reply = await asPod(method, path, proofFor(TOKENS.alice!, run, method), body);
          expect(reply.statusCode, `${method} ${path}`).toBe(403);
          expect(reply.body.error.type).toBe('ForbiddenError');
          expect(JSON.stringify(reply.body)).not.toContain(TOKENS.bob);
          expect(JSON.stringify(reply.body)).not.toContain(TOKENS.alice2);
        }
        expect(await store.get(target)).toEqual(before);
      }
    });

    it('cannot name another cluster in the proof: its own token does not sign it, and the answer does not tell whether that cluster exists', async () => {
      const forged = await asPod('GET', `/clusters/${bobs}`, proofFor(TOKENS.alice!, bobs, 'GET'));
      expect(forged.statusCode).toBe(403);
      expect(forged.body.error.type).toBe('IdentityMappingError');
      const missing = await asPod('GET', '/clusters/c-nosuch', proofFor(TOKENS.alice!, 'c-nosuch', 'GET'));
      expect(missing.statusCode).toBe(403);
      expect(missing.body.error.message.replace('c-nosuch', bobs)).toBe(forged.body.error.message);
      // A proof from a pod of the other run's cluster (its token) for Alice's run cluster fails the same way.
      expect((await asPod('GET', `/clusters/${run}`, proofFor(TOKENS.alice2!, run, 'GET'))).statusCode).toBe(403);
    });

    it("reaches no other route: list, create, estimates, templates, quota, costs, jobs, runs", async () => {
      const calls: Array<[string, string, unknown?]> = [
        ['GET', '/clusters'],
        ['GET', '/clusters?all=true'],
        ['POST', '/clusters', { template: 'small' }],
        ['POST', '/estimates', { template: 'small' }],
        ['GET', '/templates'],
        ['GET', '/quota'],
        ['GET', '/costs?groupBy=job'],
        ['GET', '/jobs'],
        ['POST', '/jobs', { name: 'x' }],
        ['GET', '/jobs/nightly/runs'],
        ['POST', '/jobs/nightly/runs', {}],
        ['GET', '/runs/r-0abc-1'],
        ['POST', '/runs/r-0abc-1/cancel', {}],
      ];
      for (const [method, path, body] of calls) {
        const reply = await asPod(method, path, proofFor(TOKENS.alice!, run, method), body);
        expect(reply.statusCode, `${method} ${path}`).toBe(403);
        expect(reply.body.error.type).toBe('ForbiddenError');
      }
      expect((await store.listByOwner('alice')).length).toBe(2);
    });

    it('is nobody without a valid, fresh proof for this method', async () => {
      const link = dashboardLinkSignature(TOKENS.alice!, clock.now() + 60_000);
      const cases: Array<[string, Record<string, string>]> = [
        ['no proof', {}],
        ['empty', { [CLUSTER_PROOF_HEADER]: '' }],
        ['garbage', { [CLUSTER_PROOF_HEADER]: 'v1.c-1.x.zz\u0000' }],
        ['the token itself', { [CLUSTER_PROOF_HEADER]: TOKENS.alice! }],
        ['a dashboard link signed with the same token', { [CLUSTER_PROOF_HEADER]: `v1.${run}.${link}` }],
        ['expired', proofFor(TOKENS.alice!, run, 'GET', -1)],
        ['claiming too long a life', proofFor(TOKENS.alice!, run, 'GET', CLUSTER_PROOF_MAX_TTL_MS + 60_000)],
        ['made for DELETE', proofFor(TOKENS.alice!, run, 'DELETE')],
        ['oversized', { [CLUSTER_PROOF_HEADER]: `v1.${run}.1.${'a'.repeat(5000)}` }],
      ];
      for (const [what, headers] of cases) {
        const reply = await asPod('GET', `/clusters/${run}`, headers);
        expect(reply.statusCode, what).toBe(403);
        expect(reply.body.error.type, what).toBe('IdentityMappingError');
        expect(JSON.stringify(reply.body), what).not.toContain(TOKENS.alice);
      }
    });

    it("a proof expires with the clock, and a deleted cluster's proof is worthless", async () => {
      const headers = proofFor(TOKENS.alice!, run, 'GET', 30_000);
      expect((await asPod('GET', `/clusters/${run}`, headers)).statusCode).toBe(200);
      (clock as ManualClock).advance(31_000);
      expect((await asPod('GET', `/clusters/${run}`, headers)).statusCode).toBe(403);
      await move(run, 'DELETING');
      await move(run, 'DELETED');
      const reply = await asPod('GET', `/clusters/${run}`, proofFor(TOKENS.alice!, run, 'GET'));
      expect(reply.statusCode).toBe(403);
      expect(reply.body.error.type).toBe('IdentityMappingError');
    });

    it('means nothing on a user: Bob sending a proof of Alice\'s cluster is still only Bob', async () => {
      const reply = await api({ method: 'GET', path: `/clusters/${run}`, arn: BOB, headers: proofFor(TOKENS.alice!, run, 'GET') });
      expect(reply.statusCode).toBe(404);
      expect(JSON.stringify(reply.body)).not.toContain(TOKENS.alice);
      const list = await api({ method: 'GET', path: '/clusters', arn: BOB, headers: proofFor(TOKENS.alice!, run, 'GET') });
      expect(list.body.clusters.map((c: { id: string }) => c.id)).toEqual([bobs]);
      // A session of another role whose session name looks like a pod's is not the cluster role.
      const other = await api({ method: 'GET', path: `/clusters/${run}`, arn: `arn:aws:sts::${ACCOUNT}:assumed-role/recc-test-cluster-schedulerx/eks-x`, headers: proofFor(TOKENS.alice!, run, 'GET') });
      expect(other.statusCode).toBe(403);
      expect(other.body.error.type).toBe('IdentityMappingError');
      // The cluster role of another account, with a valid proof.
      const foreign = await api({ method: 'GET', path: `/clusters/${run}`, arn: POD.replace(ACCOUNT, '222222222222'), headers: proofFor(TOKENS.alice!, run, 'GET') });
      expect(foreign.statusCode).toBe(403);
    });
  });

  describe('over HTTP with the recc client, as the driver runs', () => {
    let server: Server | undefined;
    let dir: string;

    beforeEach(async () => {
      await setUp({ now: () => Date.now() });
      dir = mkdtempSync(join(tmpdir(), 'recc-proof-'));
    });
    afterEach(async () => {
      await new Promise<void>((ok) => (server ? server.close(() => ok()) : ok()));
      server = undefined;
      rmSync(dir, { recursive: true, force: true });
    });

    /**
     * API Gateway's part: the request must be SigV4-signed with the proof among
     * the signed headers (so it cannot be swapped in transit); the verified
     * principal is the pod's cluster-role session.
     */
    async function gateway(): Promise<string> {
      server = createServer((req, res) => {
        const chunks: Buffer[] = [];
        req.on('data', (c: Buffer) => chunks.push(c));
        req.on('end', () => {
          const auth = String(req.headers.authorization ?? '');
          const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1]?.split(';') ?? [];
          if (!auth.startsWith('AWS4-HMAC-SHA256 ') || (req.headers[CLUSTER_PROOF_HEADER] !== undefined && !signed.includes(CLUSTER_PROOF_HEADER))) {
            res.writeHead(403, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Forbidden' }));
            return;
          }
          const headers: Record<string, string> = {};
          for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') headers[k] = v;
          const text = Buffer.concat(chunks).toString('utf8');
          api({ method: req.method!, path: req.url!, arn: POD, headers, ...(text ? { body: text } : {}) }).then(
            (reply) => res.writeHead(reply.statusCode, { 'content-type': 'application/json' }).end(JSON.stringify(reply.body)),
            (err: Error) => res.writeHead(500).end(err.message),
          );
        });
      });
      await new Promise<void>((ok) => server!.listen(0, '127.0.0.1', ok));
      return `http://127.0.0.1:${(server!.address() as AddressInfo).port}`;
    }

    function driverClient(apiUrl: string, tokenFile: string): ApiClient {
      const fromEnv = apiClientOptionsFromEnv({ RECC_API_URL: apiUrl, RECC_API_SIGNING: 'sigv4', AWS_REGION: 'eu-west-1', RECC_API_CLUSTER: run, RECC_API_CLUSTER_TOKEN_FILE: tokenFile });
      return new ApiClient({ ...fromEnv, credentials: { accessKeyId: 'ASIAPODIDENTITY', secretAccessKey: 'pod-secret', sessionToken: 'pod-session' } });
    }

    it('the driver reaches its cluster from RECC_API_CLUSTER and the mounted token file, and nothing else', async () => {
      const url = await gateway();
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, `${TOKENS.alice}\n`, { mode: 0o400 });
      const client = driverClient(url, tokenFile);
      const cluster = await client.getCluster(run);
      expect(cluster).toMatchObject({ id: run, owner: 'alice' });
      expect((await client.heartbeat(run)).id).toBe(run);
      await expect(client.getCluster(bobs)).rejects.toMatchObject({ statusCode: 403, serverType: 'ForbiddenError' });
      await expect(client.getCluster(aliceOther)).rejects.toMatchObject({ statusCode: 403, serverType: 'ForbiddenError' });
      await expect(client.listClusters()).rejects.toMatchObject({ statusCode: 403 });
      await expect(client.createCluster({ template: 'small' })).rejects.toMatchObject({ statusCode: 403 });
      expect((await store.listByOwner('alice')).length).toBe(2);
    });

    it("an adaptive scheduler on EKS scales its own cluster from the provisioner's env (scaleClusterEnv), and no other (issue 19)", async () => {
      // Prepare: the env the provisioner gives the scheduler, with its Secret's token mounted at the definition's path.
      const url = await gateway();
      const mount = join(dir, 'secrets');
      mkdirSync(mount);
      writeFileSync(join(mount, 'token'), `${TOKENS.alice}\n`, { mode: 0o400 });
      const env = { ...scaleClusterEnv(url, { clusterId: run, secretMountPath: `${mount}/` }), RECC_CLUSTER_ID: run, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'ASIAPODIDENTITY', AWS_SECRET_ACCESS_KEY: 'pod-secret', AWS_SESSION_TOKEN: 'pod-session' };
      expect(env).toMatchObject({ RECC_API_URL: url, RECC_API_SIGNING: 'sigv4', RECC_API_CLUSTER: run, RECC_API_CLUSTER_TOKEN_FILE: join(mount, 'token') });
      for (const [k, v] of Object.entries(env)) vi.stubEnv(k, v);
      try {
        const before = (await store.get(run))!.desiredWorkers;
        // Act
        const own = await apiScalerFromEnv(env);
        await own!.scale(before + 1, []);
        // A scheduler told (or tricked into) another cluster id still holds only its own token.
        const other = await apiScalerFromEnv({ ...env, RECC_CLUSTER_ID: bobs, RECC_API_CLUSTER: bobs });
        const otherErr = await other!.scale(9, []).catch((e: unknown) => e);
        const crossErr = await apiScalerFromEnv({ ...env, RECC_CLUSTER_ID: aliceOther }).then((s) => s!.scale(9, []).catch((e: unknown) => e));

        // Assess
        expect((await store.get(run))?.desiredWorkers).toBe(before + 1);
        expect(otherErr).toMatchObject({ statusCode: 403 });
        expect(crossErr).toMatchObject({ statusCode: 403 });
        expect((await store.get(bobs))?.desiredWorkers).not.toBe(9);
        expect((await store.get(aliceOther))?.desiredWorkers).not.toBe(9);
      } finally {
        vi.unstubAllEnvs();
      }
    });

    it('a pod holding another cluster\'s token gets nothing of this one', async () => {
      const url = await gateway();
      const tokenFile = join(dir, 'token');
      writeFileSync(tokenFile, TOKENS.bob!);
      await expect(driverClient(url, tokenFile).getCluster(run)).rejects.toMatchObject({ statusCode: 403, serverType: 'IdentityMappingError' });
    });

    it('RECC_API_CLUSTER and RECC_API_CLUSTER_TOKEN_FILE go together', () => {
      expect(() => apiClientOptionsFromEnv({ RECC_API_CLUSTER: run })).toThrow(/RECC_API_CLUSTER_TOKEN_FILE/);
      expect(() => apiClientOptionsFromEnv({ RECC_API_CLUSTER_TOKEN_FILE: '/x' })).toThrow(/RECC_API_CLUSTER/);
    });
  });

  describe('configuration', () => {
    it('reads RECC_CLUSTER_ROLE_ARNS and refuses a cluster role mapped any other way', () => {
      const config = readIdentityConfig({ RECC_ALLOWED_ACCOUNTS: ACCOUNT, RECC_CLUSTER_ROLE_ARNS: CLUSTER_ROLE });
      expect(config.clusterRoleArns).toEqual([CLUSTER_ROLE]);
      const bad = () => readIdentityConfig({ RECC_ALLOWED_ACCOUNTS: ACCOUNT, RECC_CLUSTER_ROLE_ARNS: `${CLUSTER_ROLE} not-an-arn`, RECC_ADMIN_ROLE_ARNS: CLUSTER_ROLE });
      expect(bad).toThrow(ConfigError);
      try {
        bad();
      } catch (err) {
        const paths = (err as ConfigError).details.map((d) => d.path);
        expect(paths).toContain('RECC_CLUSTER_ROLE_ARNS.0');
        expect(paths).toContain('RECC_CLUSTER_ROLE_ARNS.1');
      }
      const json = JSON.stringify({ [CLUSTER_ROLE]: 'alice' });
      let mapped: unknown;
      try {
        readIdentityConfig({ RECC_ALLOWED_ACCOUNTS: ACCOUNT, RECC_CLUSTER_ROLE_ARNS: CLUSTER_ROLE, RECC_PRINCIPAL_USERS: json });
      } catch (err) {
        mapped = err;
      }
      expect(mapped).toBeInstanceOf(ConfigError);
      expect((mapped as ConfigError).details).toEqual([{ path: 'RECC_CLUSTER_ROLE_ARNS.0', message: 'is also in principalUsers; a cluster role must be mapped only through a cluster proof' }]);
    });
  });
});
