import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeKubeApiServer } from '../../fakes/k8s-api-server.ts';
import { SSAR_PATH } from '../../fakes/k8s-rbac-review.ts';

/**
 * The fake API server's SelfSubjectAccessReview (what `kubectl auth can-i`
 * sends): answered for the caller's own identity by the same authorizer as
 * every request, 201 with `status.allowed`; a spec with neither or both
 * attribute kinds is 422 Invalid; no token is 401 before anything else.
 */
describe('Feature: SelfSubjectAccessReview on the fake API server', () => {
  let fake: FakeKubeApiServer;
  const tokens: Record<string, { username: string; groups: string[] }> = {
    'tok-editor': { username: 'editor', groups: ['team:edit', 'system:authenticated'] },
    'tok-viewer': { username: 'viewer', groups: ['system:authenticated'] },
  };

  beforeAll(async () => {
    fake = await FakeKubeApiServer.start({
      token: 'admin-token',
      authenticate: (t) => (tokens[t] ? { user: tokens[t] } : { error: 'unknown token' }),
    });
    const admin = { authorization: 'Bearer admin-token', 'content-type': 'application/json' };
    const post = (path: string, body: unknown) => fetch(`${fake.url}${path}`, { method: 'POST', headers: admin, body: JSON.stringify(body) });
    expect((await post('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'ns-a' } })).status).toBe(201);
    expect((await post('/apis/rbac.authorization.k8s.io/v1/namespaces/ns-a/roles', { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'edit', namespace: 'ns-a' }, rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }] })).status).toBe(201);
    expect(
      (
        await post('/apis/rbac.authorization.k8s.io/v1/namespaces/ns-a/rolebindings', {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'RoleBinding',
          metadata: { name: 'edit', namespace: 'ns-a' },
          subjects: [{ kind: 'Group', name: 'team:edit', apiGroup: 'rbac.authorization.k8s.io' }],
          roleRef: { kind: 'Role', name: 'edit', apiGroup: 'rbac.authorization.k8s.io' },
        })
      ).status,
    ).toBe(201);
  });

  afterAll(async () => {
    await fake?.close();
  });

  const review = async (token: string | undefined, spec: unknown) => {
    const res = await fetch(`${fake.url}${SSAR_PATH}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec }),
    });
    return { status: res.status, body: (await res.json()) as any };
  };
  const exec = (namespace: string) => ({ resourceAttributes: { namespace, verb: 'create', resource: 'pods', subresource: 'exec' } });

  it("answers for the caller's own identity, in the namespace asked about", async () => {
    // Act
    const answers = await Promise.all([review('tok-editor', exec('ns-a')), review('tok-editor', exec('ns-b')), review('tok-viewer', exec('ns-a')), review('admin-token', exec('ns-b'))]);

    // Assess
    expect(answers.map((a) => a.status)).toEqual([201, 201, 201, 201]);
    expect(answers.map((a) => a.body.status.allowed)).toEqual([true, false, false, true]);
    expect(answers[0]!.body).toMatchObject({ kind: 'SelfSubjectAccessReview', apiVersion: 'authorization.k8s.io/v1', spec: exec('ns-a') });
  });

  it('answers non-resource reviews (discovery is every authenticated user\'s)', async () => {
    const [version, secret] = await Promise.all([review('tok-viewer', { nonResourceAttributes: { path: '/version', verb: 'get' } }), review('tok-viewer', { nonResourceAttributes: { path: '/metrics', verb: 'get' } })]);
    expect([version.body.status.allowed, secret.body.status.allowed]).toEqual([true, false]);
  });

  it('refuses a spec with neither or both kinds of attributes (422 Invalid), and an unauthenticated review (401)', async () => {
    // Act
    const neither = await review('tok-viewer', {});
    const both = await review('tok-viewer', { ...exec('ns-a'), nonResourceAttributes: { path: '/version', verb: 'get' } });
    const anonymous = await review(undefined, exec('ns-a'));

    // Assess
    for (const r of [neither, both]) {
      expect(r.status).toBe(422);
      expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Invalid', code: 422 });
      expect(r.body.message).toContain('exactly one of nonResourceAttributes or resourceAttributes must be specified');
    }
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
  });
});
