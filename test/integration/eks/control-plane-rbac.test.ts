import { ApiException } from '@kubernetes/client-node';
import { EKSClient } from '@aws-sdk/client-eks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { KubeClients } from '../../../adapters/eks/kube.ts';
import { CONTROL_PLANE_GROUP, CONTROL_PLANE_RULES, controlPlaneRbacObjects } from '../../../adapters/eks/manifests/control-plane-rbac.ts';
import type { K8sObject } from '../../../adapters/eks/manifests/types.ts';
import { TEST_EKS_CONFIG, TEST_EKS_IMAGE, newAutoScalingClient, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { warmTargets } from '../../../shared/spec/warm.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 17 item 7: the provisioner and harvester reach Kubernetes through
 * access entries in the group `recc:control-plane`, with no AWS access
 * policy, so the ClusterRole bound to that group must be enough for
 * everything the EKS backend does, and no more. The fake API server enforces
 * RBAC (issue 22 #6) for a token mapped to that group only.
 */
const CONTROL_PLANE_TOKEN = 'control-plane-token';

async function install(stack: EksStack, objects: K8sObject[]): Promise<void> {
  const { rbac } = await stack.kube.apis();
  for (const o of objects) {
    if (o.kind === 'ClusterRole') await rbac.createClusterRole({ body: o as never });
    else await rbac.createClusterRoleBinding({ body: o as never });
  }
}

// Warm capacity (issue 19 #5): one warm node with the image pre-pulled, so the pre-pull DaemonSet is applied too.
const WARM = { targets: warmTargets([{ name: 'small', description: '', spec: { instanceType: 'c5.xlarge' }, warm: { nodes: 1, users: ['arathe'], prePull: true } }], TEST_EKS_IMAGE) };

function backendAsControlPlane(stack: EksStack, options: { warm?: boolean } = {}): EksComputeBackend {
  return new EksComputeBackend({
    ...(options.warm ? { warm: WARM } : {}),
    config: TEST_EKS_CONFIG,
    kube: new KubeClients({ server: stack.fake.url, token: CONTROL_PLANE_TOKEN, skipTLSVerify: true }),
    autoScaling: newAutoScalingClient(),
    eks: new EKSClient({ region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' } }),
  });
}

describe('ClusterRole: recc-control-plane', () => {
  let stack: EksStack;

  beforeEach(async () => {
    stack = await startEksStack({
      fake: {
        authenticate: (token) => (token === CONTROL_PLANE_TOKEN ? { user: { username: 'recc-provisioner', groups: [CONTROL_PLANE_GROUP, 'system:authenticated'] } } : { error: 'unknown token' }),
      },
    });
  });

  afterEach(async () => {
    await stack.close();
  });

  it('lets the backend create, observe, scale, list and tear down a cluster as the control-plane group alone', async () => {
    // Prepare
    await install(stack, controlPlaneRbacObjects());
    const backend = backendAsControlPlane(stack);
    const def = testDefinition({ clusterId: 'rbac-1', workers: 2, overrides: { sourceGitBranch: 'main' } });

    // Act
    await backend.apply(def, testSecrets(def.clusterId));
    await waitFor(async () => (await backend.observe(def.clusterId)).ready, { what: 'cluster ready as recc:control-plane', timeoutMs: 20_000 });
    await backend.scale(def.clusterId, 1);
    const listed = await backend.list();
    await backend.teardown(def.clusterId);
    const warmGroups = await backendAsControlPlane(stack, { warm: true }).reconcileCapacity();

    // Assess
    expect(warmGroups).toEqual(['arathe-c5-xlarge-nodegroup']);
    expect(listed.map((r) => r.clusterId)).toContain('rbac-1');
    await waitFor(async () => !(await backend.observe(def.clusterId)).exists, { what: 'cluster gone', timeoutMs: 20_000 });
    const denied = stack.fake.requests.filter((r) => r.status === 403);
    expect(denied).toEqual([]);
  });

  it('is refused (403 Forbidden) without the ClusterRole, so the test above proves the rules are enough', async () => {
    // Prepare: only the binding, no rules.
    await install(stack, controlPlaneRbacObjects().filter((o) => o.kind === 'ClusterRoleBinding'));
    const backend = backendAsControlPlane(stack);
    const def = testDefinition({ clusterId: 'rbac-2', workers: 1 });

    // Act
    const err = await backend.apply(def, testSecrets(def.clusterId)).catch((e: unknown) => e);

    // Assess
    const api = (err as { cause?: unknown }).cause ?? err;
    expect(JSON.stringify(String((api as ApiException<string>).body ?? (err as Error).message))).toMatch(/forbidden|403/i);
  });

  it.each(CONTROL_PLANE_RULES.map((rule, i) => [`${rule.apiGroups[0] || 'core'} ${rule.resources.join(',')}`, i] as const))('needs its rule on %s: without it the backend is refused', async (_name, index) => {
    // Prepare
    const [role, binding] = controlPlaneRbacObjects() as [K8sObject & { rules: unknown[] }, K8sObject];
    await install(stack, [{ ...role, rules: role.rules.filter((_, i) => i !== index) }, binding]);
    const backend = backendAsControlPlane(stack);
    // With a source branch, so the source volume and claim rules are exercised too.
    const def = testDefinition({ clusterId: `rbac-r${index}`, workers: 2, overrides: { sourceGitBranch: 'main' } });

    // Act
    const run = async () => {
      await backend.apply(def, testSecrets(def.clusterId));
      await waitFor(async () => (await backend.observe(def.clusterId)).ready, { what: 'ready', timeoutMs: 5_000 });
      await backend.scale(def.clusterId, 1);
      await backend.list();
      await backend.teardown(def.clusterId);
    };
    // Then the harvester keeps a warm node with its pre-pull DaemonSet.
    const keepWarm = async () => backendAsControlPlane(stack, { warm: true }).reconcileCapacity();
    await run().catch(() => undefined);
    await keepWarm().catch(() => undefined);

    // Assess
    expect(stack.fake.requests.filter((r) => r.status === 403).length).toBeGreaterThan(0);
  });

  it('grants nothing cluster-wide beyond namespaces, nodes and the source volumes: no wildcard, no escalation', () => {
    for (const rule of CONTROL_PLANE_RULES) {
      expect(rule.verbs).not.toContain('*');
      expect(rule.resources).not.toContain('*');
      expect(rule.verbs).not.toContain('escalate');
      expect(rule.verbs).not.toContain('bind');
      expect(rule.verbs).not.toContain('impersonate');
    }
    expect(CONTROL_PLANE_RULES.some((r) => r.resources.includes('clusterroles') || r.resources.includes('clusterrolebindings'))).toBe(false);
    // PersistentVolumes are cluster-scoped and RBAC cannot scope a create to a name prefix: only the applier's verbs, never list or watch.
    const volumes = CONTROL_PLANE_RULES.filter((r) => r.resources.includes('persistentvolumes'));
    expect(volumes.map((r) => [...r.verbs].sort())).toEqual([['create', 'delete', 'get', 'update']]);
  });
});
