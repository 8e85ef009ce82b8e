import { TEST_EKS_IMAGE } from '../../support/eks-image.ts';
import { spawn } from 'node:child_process';
import { request as httpsRequest } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import YAML from 'yaml';
import { InMemoryWorkQueue } from '../../../adapters/queue/memory.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { randomIds } from '../../../shared/core/ids.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { renderCluster } from '../../../shared/definition/render.ts';
import type { ClusterRecord } from '../../../shared/lifecycle/types.ts';
import { startApiServer, type ApiServer } from '../../../local/api-server.ts';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { generateClusterSecrets } from '../../../adapters/secrets/index.ts';
import { eksTokenAuthenticator, type FakeAwsPrincipal } from '../../fakes/k8s-rbac-authn.ts';
import { runCli, type CliRun } from '../../support/cli-run.ts';
import { TEST_CLUSTER_NAME, startEksStack, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';
import { Provisioner } from '../../../control/provisioner.ts';
import { KubectlEditPolicy } from '../../../shared/access/kubectl-edit.ts';
import { transition } from '../../../shared/lifecycle/machine.ts';
import { QuotaPolicy } from '../../../shared/quota/config.ts';
import { OBJECT_NAMES, userEditKubernetesGroup } from '../../../adapters/eks/manifests/naming.ts';

/**
 * Issue 21 #3 with a real kubectl (Debian's `kubernetes-client`, installed by
 * .ci/run; RECC_KUBECTL points elsewhere): `recc cluster kubeconfig` writes a
 * kubeconfig whose exec plugin is `recc cluster token`; kubectl signs an EKS
 * token with the user's AWS keys, and the fake API server authenticates it
 * like EKS (STS signature, 15-minute expiry, access entry → groups) and
 * authorises it with RBAC and the namespace-scoped access policy the backend
 * granted at create. Own namespace: allowed. Another user's: 403.
 * `--edit` (allowed for alice only by the stage's policy): the API records
 * it, the provisioner grants it (a Role for pods/exec and deleting pods, a
 * RoleBinding to alice's edit group, the group on her access entry), and
 * kubectl then deletes a pod and `auth can-i` says yes to exec, in that
 * namespace only; the teardown takes it away.
 */
const KUBECTL = process.env.RECC_KUBECTL ?? 'kubectl';
const ALICE: FakeAwsPrincipal = { accessKeyId: 'AKIAALICE0000000TEST', secretAccessKey: 'alice-secret-key-0123456789', arn: 'arn:aws:sts::123456789012:assumed-role/recc-user-alice/alice' };
const BOB: FakeAwsPrincipal = { accessKeyId: 'AKIABOB00000000TEST0', secretAccessKey: 'bob-secret-key-0123456789', arn: 'arn:aws:sts::123456789012:assumed-role/recc-user-bob/bob' };

function run(command: string, args: string[], env: Record<string, string>): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** GET (or another method) over HTTPS trusting only the fake's CA. */
function getWithToken(url: string, token: string, ca: string, method = 'GET'): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, method, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8').on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.once('error', reject);
    req.end();
  });
}

describe('recc cluster kubeconfig + kubectl against the fake EKS API server', () => {
  let caPem: string;
  let stack: EksStack;
  let backend: EksComputeBackend;
  let aliceApi: ApiServer;
  let bobApi: ApiServer;
  let home: string;
  let alice: ClusterRecord;
  let bob: ClusterRecord;
  let store: InMemoryClusterStore;
  let queue: InMemoryWorkQueue;

  const userEnv = (who: FakeAwsPrincipal, api: ApiServer): Record<string, string> => ({
    PATH: process.env.PATH ?? '',
    HOME: home,
    RECC_API_URL: api.url,
    RECC_EKS_CLUSTER_NAME: TEST_CLUSTER_NAME,
    RECC_EKS_ENDPOINT: stack.fake.url,
    RECC_EKS_CA_DATA: Buffer.from(caPem).toString('base64'),
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: who.accessKeyId,
    AWS_SECRET_ACCESS_KEY: who.secretAccessKey,
    AWS_EC2_METADATA_DISABLED: 'true',
  });
  const kubectl = (kubeconfig: string, args: string[], who: FakeAwsPrincipal) =>
    run(KUBECTL, ['--kubeconfig', kubeconfig, '--cache-dir', join(home, 'kube-cache'), '--request-timeout', '60s', ...args], userEnv(who, aliceApi));

  async function createCluster(api: ApiServer, store: InMemoryClusterStore): Promise<ClusterRecord> {
    const res = await fetch(`${api.url}/clusters`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ nWorkers: 1, instanceType: 'c5.xlarge' }) });
    expect(res.status).toBe(202);
    const { cluster } = (await res.json()) as { cluster: { id: string } };
    const record = await store.get(cluster.id);
    if (!record) throw new Error('created cluster not stored');
    // What the provisioner does next: render and apply on EKS.
    const definition = renderCluster({ clusterId: record.id, owner: record.owner, namespace: record.namespace, spec: record.spec, plan: record.plan }, { defaultImage: TEST_EKS_IMAGE });
    await backend.apply(definition, testSecrets(record.id));
    return record;
  }

  beforeAll(async () => {
    const version = await run(KUBECTL, ['version', '--client', '-o', 'json'], { PATH: process.env.PATH ?? '' }).catch((err: unknown) => ({ code: -1, stdout: '', stderr: String(err) }));
    if (version.code !== 0) throw new Error(`kubectl is needed (Debian package kubernetes-client; .ci/run installs it, or set RECC_KUBECTL): ${version.stderr}`);
    home = mkdtempSync(join(tmpdir(), 'recc-kubectl-'));
    // kubectl sends credentials over TLS only, so the fake serves HTTPS with its own CA, as EKS does.
    const tls = await generateClusterSecrets({ clusterId: 'fake-eks-api' });
    caPem = tls.caCertPem;
    stack = await startEksStack({
      fake: {
        tls: { certPem: tls.serverCertPem, keyPem: tls.serverKeyPem },
        authenticate: eksTokenAuthenticator({
          clusterName: TEST_CLUSTER_NAME,
          now: Date.now,
          principals: [ALICE, BOB],
          accessEntry: (arn) => {
            const entry = stack.eks.entries.get(arn);
            return entry ? { kubernetesGroups: entry.kubernetesGroups } : undefined;
          },
        }),
        accessPolicies: (user) => [...(stack.eks.entries.get(user.principalArn ?? '')?.associations ?? [])].map(([policyArn, accessScope]) => ({ policyArn, accessScope })),
      },
    });
    backend = stack.makeBackend();
    store = new InMemoryClusterStore();
    queue = new InMemoryWorkQueue();
    // The stage's RECC_KUBECTL_EDIT says "alice": bob may have read-only access only.
    const deps = { store, queue, clock: systemClock, ids: randomIds, logger: silentLogger, kubectlEdit: KubectlEditPolicy.from(['alice'], QuotaPolicy.defaults()) };
    aliceApi = await startApiServer({ port: 0, deps, identity: { user: 'alice' } });
    bobApi = await startApiServer({ port: 0, deps, identity: { user: 'bob' } });
    alice = await createCluster(aliceApi, store);
    bob = await createCluster(bobApi, store);
    await waitFor(() => stack.fake.objects('Pod', alice.namespace).length > 0, { timeoutMs: 30_000, what: "alice's pods" });
  }, 120_000);

  afterAll(async () => {
    await aliceApi?.close();
    await bobApi?.close();
    await stack?.close();
    if (home) rmSync(home, { recursive: true, force: true });
  });

  it("lets kubectl read the user's own namespace and refuses another user's with 403", async () => {
    // Prepare: a kubeconfig with something else in it already, to merge into.
    const kubeconfig = join(home, 'config');
    writeFileSync(kubeconfig, YAML.stringify({ apiVersion: 'v1', kind: 'Config', clusters: [{ name: 'other', cluster: { server: 'https://other.example' } }], users: [], contexts: [{ name: 'other', context: { cluster: 'other', user: 'x' } }], 'current-context': 'other' }));

    // Act
    const written = await runCli(['cluster', 'kubeconfig', alice.id, '--exec', 'recc', '--kubeconfig', kubeconfig], { env: userEnv(ALICE, aliceApi) });
    const own = await kubectl(kubeconfig, ['get', 'pods', '-o', 'name'], ALICE);
    const other = await kubectl(kubeconfig, ['get', 'pods', '-n', bob.namespace, '-o', 'name'], ALICE);
    const remove = await kubectl(kubeconfig, ['delete', 'pod', stack.fake.objects('Pod', alice.namespace)[0]!.metadata.name, '--wait=false'], ALICE);

    // Assess: merged, private, no static secret, context in the namespace.
    expect(written.code, written.stderr).toBe(0);
    expect(statSync(kubeconfig).mode & 0o777).toBe(0o600);
    const doc = YAML.parse(readFileSync(kubeconfig, 'utf8'));
    expect(doc.contexts.map((c: { name: string }) => c.name).sort()).toEqual(['other', `recc-${alice.id}`]);
    expect(doc['current-context']).toBe(`recc-${alice.id}`);
    expect(doc.contexts.find((c: { name: string }) => c.name === `recc-${alice.id}`).context.namespace).toBe(alice.namespace);
    expect(JSON.stringify(doc)).not.toMatch(/"token":|client-key|password|alice-secret|k8s-aws-v1/);
    expect(doc.users[0].user.exec.args).toEqual(expect.arrayContaining(['cluster', 'token', '--eks-cluster', TEST_CLUSTER_NAME]));
    // Own namespace: the pods are listed.
    expect(own.code, `${own.stderr} auth failures: ${JSON.stringify(stack.fake.authFailures)}`).toBe(0);
    const names = stack.fake.objects('Pod', alice.namespace).map((p) => `pod/${p.metadata.name}`);
    expect(own.stdout.trim().split('\n').sort()).toEqual(names.sort());
    // Another user's namespace: 403 with the API server's own words.
    expect(other.code).not.toBe(0);
    expect(other.stderr).toContain(`Error from server (Forbidden): pods is forbidden: User "arn:aws:sts::123456789012:assumed-role/recc-user-alice/alice" cannot list resource "pods" in API group "" in the namespace "${bob.namespace}"`);
    expect(stack.fake.requests.some((r) => r.status === 403 && r.path === `/api/v1/namespaces/${bob.namespace}/pods`)).toBe(true);
    // Read-only: deleting a pod in one's own namespace is refused too.
    expect(remove.code).not.toBe(0);
    expect(remove.stderr).toMatch(/Forbidden.*cannot delete resource "pods"/);
  }, 120_000);

  it("answers 404 for another user's cluster before writing anything", async () => {
    // Act
    const kubeconfig = join(home, 'config-404');
    const result = await runCli(['cluster', 'kubeconfig', bob.id, '--exec', 'recc', '--kubeconfig', kubeconfig], { env: userEnv(ALICE, aliceApi) });

    // Assess
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/not found/i);
    expect(() => statSync(kubeconfig)).toThrow();
  }, 60_000);

  it('refuses a token signed with the wrong secret for a known key (401); a good one says it expires in 14 minutes', async () => {
    // Prepare: a token from `recc cluster token` with Bob's access key id but the wrong secret.
    const forged = await runCli(['cluster', 'token', '--eks-cluster', TEST_CLUSTER_NAME], { env: { ...userEnv(ALICE, aliceApi), AWS_ACCESS_KEY_ID: BOB.accessKeyId } });
    const good = await runCli(['cluster', 'token', '--eks-cluster', TEST_CLUSTER_NAME], { env: userEnv(ALICE, aliceApi) });
    const tokenOf = (r: CliRun) => (JSON.parse(r.stdout) as { status: { token: string; expirationTimestamp: string } }).status;

    // Act
    const get = (token: string) => getWithToken(`${stack.fake.url}/api/v1/namespaces/${alice.namespace}/pods`, token, caPem);
    const forgedAnswer = await get(tokenOf(forged).token);
    const goodAnswer = await get(tokenOf(good).token);

    // Assess
    expect(forged.code, forged.stderr).toBe(0);
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
    expect(goodAnswer.status).toBe(200);
    const expires = Date.parse(tokenOf(good).expirationTimestamp);
    expect(expires - Date.now()).toBeGreaterThan(13 * 60_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(14 * 60_000);
  }, 60_000);

  describe('kubectl --edit', () => {
    /** What the provisioner's first steps did: the record is RUNNING (the backend already applied it above). */
    async function markRunning(id: string): Promise<ClusterRecord> {
      let record = (await store.get(id))!;
      for (const to of ['PROVISIONING', 'RUNNING'] as const) {
        if (record.status === to || record.status === 'RUNNING') continue;
        const { next, change } = transition(record, to, { actor: 'provisioner', at: new Date().toISOString() });
        record = await store.put(next, record.version, change);
      }
      return record;
    }
    /** The provisioner handles every queued message (what the SQS trigger does on AWS). */
    async function provision(): Promise<string[]> {
      const provisioner = new Provisioner({ store, queue, backend, generateSecrets: async (d) => testSecrets(d.clusterId), clock: systemClock, logger: silentLogger });
      const causes: string[] = [];
      for (const { message } of queue.drain()) {
        causes.push(message.cause);
        await provisioner.handle(message);
      }
      return causes;
    }
    const ALICE_ARN = 'arn:aws:iam::123456789012:role/recc-user-alice';

    it('grants exec and pod deletion in the own namespace only, refuses a user the stage does not allow (403), and goes with the cluster', async () => {
      // Prepare: both clusters running; a second one of alice's that never asks for edit.
      await markRunning(alice.id);
      await markRunning(bob.id);
      const alice2 = await createCluster(aliceApi, store);
      await markRunning(alice2.id);
      await waitFor(() => stack.fake.objects('Pod', alice2.namespace).length > 0, { timeoutMs: 30_000, what: "alice's second cluster's pods" });
      queue.drain();
      const kubeconfig = join(home, 'config-edit');
      const bobConfig = join(home, 'config-bob-edit');
      const canI = (who: FakeAwsPrincipal, config: string, args: string[]) => kubectl(config, ['auth', 'can-i', ...args], who);

      // Act 1: alice asks; before the provisioner acted she is still read-only.
      const written = await runCli(['cluster', 'kubeconfig', alice.id, '--exec', 'recc', '--kubeconfig', kubeconfig, '--edit'], { env: userEnv(ALICE, aliceApi) });
      const before = await canI(ALICE, kubeconfig, ['create', 'pods', '--subresource=exec']);
      const refused = await runCli(['cluster', 'kubeconfig', bob.id, '--exec', 'recc', '--kubeconfig', bobConfig, '--edit'], { env: userEnv(BOB, bobApi) });
      const causes = await provision();

      // Assess 1: the request path. Bob: 403 with what to do, nothing written, nothing queued.
      expect(written.code, written.stderr).toBe(0);
      expect(written.stdout).toContain(`namespace ${alice.namespace}, edit`);
      expect(before.code).toBe(1);
      expect(before.stdout.trim()).toBe('no');
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/bob may not have kubectl edit access: the stage allows it only for the users and groups in RECC_KUBECTL_EDIT/);
      expect(() => statSync(bobConfig)).toThrow();
      expect(causes).toEqual(['kubectl-edit']);
      expect((await store.get(alice.id))?.kubectlEditAt).toEqual(expect.any(String));
      expect((await store.get(bob.id))?.kubectlEditAt).toBeUndefined();
      // The grant: the edit group on alice's entry, bound in alice's first namespace only.
      const editGroup = userEditKubernetesGroup('alice');
      expect(stack.eks.entries.get(ALICE_ARN)?.kubernetesGroups.sort()).toEqual(['recc:user:alice', editGroup].sort());
      expect(stack.fake.object('RoleBinding', alice.namespace, OBJECT_NAMES.editRoleBinding)?.subjects).toEqual([{ kind: 'Group', name: editGroup, apiGroup: 'rbac.authorization.k8s.io' }]);
      expect(stack.fake.object('RoleBinding', alice2.namespace, OBJECT_NAMES.editRoleBinding)).toBeUndefined();

      // Act 2: kubectl with the edit identity, and bob's read-only one.
      const victim = stack.fake.objects('Pod', alice.namespace)[0]!.metadata.name as string;
      const answers = {
        exec: await canI(ALICE, kubeconfig, ['create', 'pods', '--subresource=exec']),
        deletePods: await canI(ALICE, kubeconfig, ['delete', 'pods']),
        deleteDeployments: await canI(ALICE, kubeconfig, ['delete', 'deployments']),
        secrets: await canI(ALICE, kubeconfig, ['get', 'secrets']),
        createPods: await canI(ALICE, kubeconfig, ['create', 'pods']),
        execInOwnSecondCluster: await canI(ALICE, kubeconfig, ['create', 'pods', '--subresource=exec', '-n', alice2.namespace]),
        execInBobs: await canI(ALICE, kubeconfig, ['create', 'pods', '--subresource=exec', '-n', bob.namespace]),
      };
      const deleted = await kubectl(kubeconfig, ['delete', 'pod', victim, '--wait=false'], ALICE);
      const bobsPod = stack.fake.objects('Pod', bob.namespace)[0]!.metadata.name as string;
      const deleteBobs = await kubectl(kubeconfig, ['delete', 'pod', bobsPod, '-n', bob.namespace, '--wait=false'], ALICE);
      const secondPod = stack.fake.objects('Pod', alice2.namespace)[0]!.metadata.name as string;
      const deleteSecond = await kubectl(kubeconfig, ['delete', 'pod', secondPod, '-n', alice2.namespace, '--wait=false'], ALICE);
      await runCli(['cluster', 'kubeconfig', bob.id, '--exec', 'recc', '--kubeconfig', bobConfig], { env: userEnv(BOB, bobApi) });
      const bobDeletes = await kubectl(bobConfig, ['delete', 'pod', bobsPod, '--wait=false'], BOB);
      const bobExec = await canI(BOB, bobConfig, ['create', 'pods', '--subresource=exec']);

      // Assess 2: exactly exec and pod deletion, in that one namespace; real 403 Status bodies elsewhere.
      expect(Object.fromEntries(Object.entries(answers).map(([k, r]) => [k, r.stdout.trim()]))).toEqual({
        exec: 'yes',
        deletePods: 'yes',
        deleteDeployments: 'no',
        secrets: 'no',
        createPods: 'no',
        execInOwnSecondCluster: 'no',
        execInBobs: 'no',
      });
      // kubectl asked the server (SelfSubjectAccessReview), it did not guess.
      expect(stack.fake.requests.filter((r) => r.method === 'POST' && r.path === '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews' && r.status === 201).length).toBeGreaterThanOrEqual(9);
      expect(answers.exec.code).toBe(0);
      expect(answers.execInBobs.code).toBe(1);
      expect(deleted.code, deleted.stderr).toBe(0);
      expect(deleted.stdout).toContain(`pod "${victim}" deleted`);
      expect(stack.fake.object('Pod', alice.namespace, victim)).toBeUndefined();
      for (const [r, ns, pod] of [[deleteBobs, bob.namespace, bobsPod], [deleteSecond, alice2.namespace, secondPod]] as const) {
        expect(r.code).not.toBe(0);
        expect(r.stderr).toContain(`Error from server (Forbidden): pods "${pod}" is forbidden: User "arn:aws:sts::123456789012:assumed-role/recc-user-alice/alice" cannot delete resource "pods" in API group "" in the namespace "${ns}"`);
        expect(stack.fake.object('Pod', ns, pod)).toBeDefined();
      }
      expect(bobDeletes.code).not.toBe(0);
      expect(bobDeletes.stderr).toMatch(/Forbidden.*cannot delete resource "pods"/);
      expect(bobExec.stdout.trim()).toBe('no');
      // The read-only identity's DELETE on the wire: a real Status body.
      const bobToken = await runCli(['cluster', 'token', '--eks-cluster', TEST_CLUSTER_NAME], { env: userEnv(BOB, bobApi) });
      const raw = await getWithToken(`${stack.fake.url}/api/v1/namespaces/${bob.namespace}/pods/${bobsPod}`, (JSON.parse(bobToken.stdout) as { status: { token: string } }).status.token, caPem, 'DELETE');
      expect(raw.status).toBe(403);
      expect(raw.body).toEqual({
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: `pods "${bobsPod}" is forbidden: User "arn:aws:sts::123456789012:assumed-role/recc-user-bob/bob" cannot delete resource "pods" in API group "" in the namespace "${bob.namespace}"`,
        reason: 'Forbidden',
        details: { name: bobsPod, group: '', kind: 'pods' },
        code: 403,
      });

      // Act 3: alice's first cluster is deleted.
      await backend.teardown(alice.id);

      // Assess 3: the edit group left her entry (her second cluster keeps read access), and nothing grants exec any more.
      expect(stack.eks.entries.get(ALICE_ARN)?.kubernetesGroups).toEqual(['recc:user:alice']);
      const after = await canI(ALICE, kubeconfig, ['create', 'pods', '--subresource=exec', '-n', alice2.namespace]);
      const stillReads = await kubectl(kubeconfig, ['get', 'pods', '-n', alice2.namespace, '-o', 'name'], ALICE);
      expect(after.stdout.trim()).toBe('no');
      expect(stillReads.code, stillReads.stderr).toBe(0);
    }, 180_000);
  });
});
