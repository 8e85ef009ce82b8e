import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiException, CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { KubeClients, buildKubeConfig } from '../../../adapters/eks/kube.ts';
import { eksToken, eksTokenProvider } from '../../../adapters/eks/token.ts';
import { ManualClock } from '../../../shared/core/clock.ts';
import { FakeKubeApiServer } from '../../fakes/k8s-api-server.ts';
import { eksTokenAuthenticator, type FakeAwsPrincipal } from '../../fakes/k8s-rbac-authn.ts';
import type { UserInfo } from '../../fakes/k8s-rbac.ts';

/**
 * Issue 22 #6: the fake API server authenticates and authorises like the
 * real one. RBAC (Roles, ClusterRoles, bindings, bootstrap discovery rules),
 * EKS access policies scoped to namespaces, the escalation check on writing
 * RBAC objects, 401/403 Status bodies worded as the API server words them,
 * 15-minute EKS tokens; and the backend's KubeClients keep working across
 * token expiry (re-sign, and re-sign once more after a 401).
 */
const ADMIN = 'admin-token';
const USERS: Record<string, UserInfo> = {
  'alice-token': { username: 'alice', groups: ['team-a', 'system:authenticated'] },
  'viewer-token': { username: 'viewer', groups: ['system:authenticated'], principalArn: 'arn:aws:iam::123456789012:role/viewer' },
};

function statusOf(err: unknown): { code: number; reason: string; message: string } {
  expect(err).toBeInstanceOf(ApiException);
  const e = err as ApiException<string>;
  const body = JSON.parse(e.body) as { reason: string; message: string; kind: string; code: number };
  expect(body.kind).toBe('Status');
  expect(body.code).toBe(e.code);
  return { code: e.code, reason: body.reason, message: body.message };
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

const role = (name: string, rules: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>) => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules });
const binding = (name: string, roleRef: { kind: string; name: string }, subjects: Array<{ kind: string; name: string }>) => ({
  apiVersion: 'rbac.authorization.k8s.io/v1',
  kind: 'RoleBinding',
  metadata: { name },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef },
  subjects: subjects.map((s) => ({ apiGroup: 'rbac.authorization.k8s.io', ...s })),
});
const pod = (name: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });

describe('FakeKubeApiServer: authorisation', () => {
  let fake: FakeKubeApiServer;
  let admin: { core: CoreV1Api; rbac: RbacAuthorizationV1Api };
  const as = (token: string) => {
    const kc = buildKubeConfig(fake.url, token, { skipTLSVerify: true });
    return { core: kc.makeApiClient(CoreV1Api), rbac: kc.makeApiClient(RbacAuthorizationV1Api) };
  };

  beforeEach(async () => {
    fake = await FakeKubeApiServer.start({
      token: ADMIN,
      authenticate: (token) => (USERS[token] ? { user: USERS[token] } : { error: 'unknown token' }),
      accessPolicies: (user) =>
        user.principalArn === 'arn:aws:iam::123456789012:role/viewer'
          ? [{ policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSViewPolicy', accessScope: { type: 'namespace', namespaces: ['ns-a'] } }]
          : [],
    });
    admin = as(ADMIN);
    for (const name of ['ns-a', 'ns-b', 'ns-c']) await admin.core.createNamespace({ body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } });
    await admin.core.createNamespacedPod({ namespace: 'ns-a', body: pod('p1') });
    await admin.core.createNamespacedSecret({ namespace: 'ns-a', body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 's1' }, data: {} } });
    await admin.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('pod-reader', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'list'] }]) });
    await admin.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('team-a-reads', { kind: 'Role', name: 'pod-reader' }, [{ kind: 'Group', name: 'team-a' }]) });
  });

  afterEach(async () => {
    await fake.close();
  });

  it('allows what a RoleBinding grants in its namespace and answers 403 in the API server’s words elsewhere', async () => {
    // Act
    const alice = as('alice-token');
    const own = await alice.core.listNamespacedPod({ namespace: 'ns-a' });
    const other = statusOf(await caught(alice.core.listNamespacedPod({ namespace: 'ns-b' })));
    const remove = statusOf(await caught(alice.core.deleteNamespacedPod({ namespace: 'ns-a', name: 'p1' })));
    const clusterScope = statusOf(await caught(alice.core.listNamespace()));
    const unknown = await fetch(`${fake.url}/api/v1/namespaces/ns-a/pods`, { headers: { authorization: 'Bearer nobody' } });
    const discovery = await fetch(`${fake.url}/api`, { headers: { authorization: 'Bearer alice-token' } });

    // Assess
    expect(own.items.map((p) => p.metadata?.name)).toEqual(['p1']);
    expect(other).toEqual({ code: 403, reason: 'Forbidden', message: 'pods is forbidden: User "alice" cannot list resource "pods" in API group "" in the namespace "ns-b"' });
    expect(remove.message).toBe('pods "p1" is forbidden: User "alice" cannot delete resource "pods" in API group "" in the namespace "ns-a"');
    expect(clusterScope.message).toBe('namespaces is forbidden: User "alice" cannot list resource "namespaces" in API group "" at the cluster scope');
    expect(fake.object('Pod', 'ns-a', 'p1')).toBeDefined();
    expect(unknown.status).toBe(401);
    expect(await unknown.json()).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    expect(fake.authFailures).toContain('unknown token');
    expect(discovery.status).toBe(200); // system:discovery is bound to system:authenticated
  });

  it('grants a ClusterRole through a RoleBinding in that namespace only', async () => {
    // Prepare
    await admin.rbac.createNamespacedRoleBinding({ namespace: 'ns-b', body: binding('team-a-views', { kind: 'ClusterRole', name: 'view' }, [{ kind: 'Group', name: 'team-a' }]) });
    const alice = as('alice-token');

    // Act
    const inB = await alice.core.listNamespacedPod({ namespace: 'ns-b' });
    const inC = statusOf(await caught(alice.core.listNamespacedPod({ namespace: 'ns-c' })));

    // Assess
    expect(inB.items).toEqual([]);
    expect(inC.code).toBe(403);
  });

  it('applies an EKS access policy only in the namespaces of its scope, and View excludes Secrets', async () => {
    // Act
    const viewer = as('viewer-token');
    const pods = await viewer.core.listNamespacedPod({ namespace: 'ns-a' });
    const secrets = statusOf(await caught(viewer.core.listNamespacedSecret({ namespace: 'ns-a' })));
    const elsewhere = statusOf(await caught(viewer.core.listNamespacedPod({ namespace: 'ns-b' })));

    // Assess
    expect(pods.items.map((p) => p.metadata?.name)).toEqual(['p1']);
    expect(secrets.message).toBe('secrets is forbidden: User "viewer" cannot list resource "secrets" in API group "" in the namespace "ns-a"');
    expect(elsewhere.code).toBe(403);
  });

  it('refuses Roles and RoleBindings that grant more than their author holds, unless the author may escalate or bind', async () => {
    // Prepare: alice may write Roles and RoleBindings in ns-a; an admin-made Role holds more than she does.
    await admin.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('rbac-writer', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: ['create', 'update', 'get'] }]) });
    await admin.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('alice-writes', { kind: 'Role', name: 'rbac-writer' }, [{ kind: 'User', name: 'alice' }]) });
    await admin.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('pod-killer', [{ apiGroups: [''], resources: ['pods'], verbs: ['delete'] }]) });
    const alice = as('alice-token');

    // Act
    const within = await alice.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('mine', [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]) });
    const escalating = statusOf(await caught(alice.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('too-much', [{ apiGroups: [''], resources: ['pods'], verbs: ['get', 'delete'] }]) })));
    const binding1 = statusOf(await caught(alice.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('self-kill', { kind: 'Role', name: 'pod-killer' }, [{ kind: 'User', name: 'alice' }]) })));
    const missingRole = statusOf(await caught(alice.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('ghost', { kind: 'Role', name: 'ghost' }, [{ kind: 'User', name: 'alice' }]) })));
    // `bind` on exactly that role lets her bind it; `escalate` lets her write any Role.
    await admin.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('binder', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['bind'], resourceNames: ['pod-killer'] }]) });
    await admin.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('alice-binds', { kind: 'Role', name: 'binder' }, [{ kind: 'User', name: 'alice' }]) });
    const bound = await alice.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('self-kill', { kind: 'Role', name: 'pod-killer' }, [{ kind: 'User', name: 'alice' }]) });
    const stillRefused = statusOf(await caught(alice.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('too-much', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]) })));
    await admin.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('escalator', [{ apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles'], verbs: ['escalate'] }]) });
    await admin.rbac.createNamespacedRoleBinding({ namespace: 'ns-a', body: binding('alice-escalates', { kind: 'Role', name: 'escalator' }, [{ kind: 'User', name: 'alice' }]) });
    const escalated = await alice.rbac.createNamespacedRole({ namespace: 'ns-a', body: role('too-much', [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }]) });

    // Assess
    expect(within.metadata?.name).toBe('mine');
    expect(escalating.code).toBe(403);
    expect(escalating.message).toBe(
      'roles.rbac.authorization.k8s.io "too-much" is forbidden: user "alice" (groups=["team-a","system:authenticated"]) is attempting to grant RBAC permissions not currently held:\n{APIGroups:[""], Resources:["pods"], Verbs:["delete"]}',
    );
    expect(binding1.code).toBe(403);
    expect(binding1.message).toContain('rolebindings.rbac.authorization.k8s.io "self-kill" is forbidden');
    expect(missingRole).toMatchObject({ code: 404, reason: 'NotFound' });
    expect(bound.metadata?.name).toBe('self-kill');
    expect(stillRefused.code).toBe(403);
    expect(escalated.metadata?.name).toBe('too-much');
    // What alice was granted works: she may now delete the pod.
    await alice.core.deleteNamespacedPod({ namespace: 'ns-a', name: 'p1' });
  });

  it('checks services/proxy like any resource', async () => {
    // Act
    const res = await fetch(`${fake.url}/api/v1/namespaces/ns-a/services/recc-scheduler:dashboard/proxy/api/status`, { headers: { authorization: 'Bearer alice-token' } });

    // Assess
    expect(res.status).toBe(403);
    expect(((await res.json()) as { message: string }).message).toBe(
      'services "recc-scheduler:dashboard" is forbidden: User "alice" cannot get resource "services/proxy" in API group "" in the namespace "ns-a"',
    );
  });
});

describe('EKS tokens: the fake expires them, KubeClients refreshes them', () => {
  const CLUSTER = 'recc-test';
  const BACKEND: FakeAwsPrincipal = { accessKeyId: 'AKIABACKEND00000TEST', secretAccessKey: 'backend-secret', sessionToken: 'session-1', arn: 'arn:aws:sts::123456789012:assumed-role/recc-provisioner/lambda' };
  const credentials = { accessKeyId: BACKEND.accessKeyId, secretAccessKey: BACKEND.secretAccessKey, sessionToken: 'session-1' };
  let fake: FakeKubeApiServer;
  let clock: ManualClock;

  beforeEach(async () => {
    clock = new ManualClock(Date.UTC(2026, 11, 5, 8, 0, 0));
    fake = await FakeKubeApiServer.start({
      token: ADMIN,
      now: () => clock.now(),
      authenticate: eksTokenAuthenticator({
        clusterName: CLUSTER,
        now: () => clock.now(),
        principals: [BACKEND],
        accessEntry: (arn) => (arn === 'arn:aws:iam::123456789012:role/recc-provisioner' ? { kubernetesGroups: ['recc:platform'] } : undefined),
      }),
      accessPolicies: (user) =>
        user.principalArn === 'arn:aws:iam::123456789012:role/recc-provisioner' ? [{ policyArn: 'arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy', accessScope: { type: 'cluster' } }] : [],
    });
  });

  afterEach(async () => {
    await fake.close();
  });

  const listNamespaces = async (kube: KubeClients) => (await (await kube.apis()).core.listNamespace()).items.length;

  it('accepts a token for 15 minutes after signing, then answers 401', async () => {
    // Prepare
    const token = await eksToken({ clusterName: CLUSTER, region: 'us-east-1', credentials, signingDate: new Date(clock.now()) });
    const kube = new KubeClients({ server: fake.url, token, skipTLSVerify: true });

    // Act
    clock.advance(15 * 60_000);
    const atLimit = await listNamespaces(kube);
    clock.advance(1000);
    const expired = await caught(listNamespaces(kube));
    const raw = await fetch(`${fake.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${token}` } });

    // Assess: client-node drops the body of a 401; the wire answer is the API server's Status.
    expect(atLimit).toBeGreaterThanOrEqual(0);
    expect(expired).toBeInstanceOf(ApiException);
    expect((expired as ApiException<unknown>).code).toBe(401);
    expect(raw.status).toBe(401);
    expect(await raw.json()).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', details: {}, code: 401 });
    expect(fake.authFailures).toEqual(['X-Amz-Date parameter is expired (15 minute expiration)', 'X-Amz-Date parameter is expired (15 minute expiration)']);
  });

  it('refuses a token signed for another cluster or with another secret', async () => {
    // Act
    const otherCluster = await eksToken({ clusterName: 'someone-elses', region: 'us-east-1', credentials, signingDate: new Date(clock.now()) });
    const wrongSecret = await eksToken({ clusterName: CLUSTER, region: 'us-east-1', credentials: { ...credentials, secretAccessKey: 'guess' }, signingDate: new Date(clock.now()) });
    const answers = await Promise.all([otherCluster, wrongSecret, 'k8s-aws-v1.bm90LWEtdXJs'].map((t) => fetch(`${fake.url}/api/v1/namespaces`, { headers: { authorization: `Bearer ${t}` } })));

    // Assess
    expect(answers.map((a) => a.status)).toEqual([401, 401, 401]);
    expect(fake.authFailures.slice(0, 2)).toEqual(['sts getCallerIdentity failed: SignatureDoesNotMatch', 'sts getCallerIdentity failed: SignatureDoesNotMatch']);
  });

  it('keeps working across token lifetimes with eksTokenProvider (re-signed every 10 minutes)', async () => {
    // Prepare
    const kube = new KubeClients({ server: fake.url, token: eksTokenProvider({ clusterName: CLUSTER, region: 'us-east-1', credentials }, () => clock.now()), skipTLSVerify: true });
    await listNamespaces(kube);

    // Act: an hour of reconciles, one every 7 minutes.
    for (let i = 0; i < 9; i += 1) {
      clock.advance(7 * 60_000);
      await listNamespaces(kube);
    }

    // Assess
    expect(fake.authFailures).toEqual([]);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('re-signs and retries once when the server refuses a token it still holds (401)', async () => {
    // Prepare: a provider that would keep its token too long (a frozen Lambda, clock skew).
    const kube = new KubeClients({ server: fake.url, token: eksTokenProvider({ clusterName: CLUSTER, region: 'us-east-1', credentials }, () => clock.now(), 60 * 60_000), skipTLSVerify: true });
    await listNamespaces(kube);
    const mark = fake.requests.length;

    // Act
    clock.advance(20 * 60_000);
    const count = await listNamespaces(kube);

    // Assess
    expect(count).toBeGreaterThanOrEqual(0);
    expect(fake.requests.slice(mark).map((r) => r.status)).toEqual([401, 200]);
  });
});
