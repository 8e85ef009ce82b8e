import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AssociateAccessPolicyCommand,
  CreateAccessEntryCommand,
  DeleteAccessEntryCommand,
  DisassociateAccessPolicyCommand,
  UpdateAccessEntryCommand,
} from '@aws-sdk/client-eks';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { DEFAULT_ACCESS_POLICY_ARN } from '../../../adapters/eks/identity.ts';
import { EDIT_RULES } from '../../../adapters/eks/manifests/edit-access.ts';
import { EKS_ANNOTATIONS, OBJECT_NAMES } from '../../../adapters/eks/manifests/naming.ts';
import { TEST_CLUSTER_NAME, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 21 #3, `recc cluster kubeconfig ID --edit` on EKS: the exact EKS
 * calls (aws-sdk-client-mock, through the access-entry model that answers
 * with the service's errors), the Role and RoleBinding in the namespace,
 * and their removal by teardown and by the harvester's grant sweep.
 *
 * The grant never touches the access policy: the entry keeps
 * AmazonEKSViewPolicy scoped to the user's namespaces, and edit is a
 * Kubernetes group on the entry plus a RoleBinding in one namespace.
 */
const ROLE = (owner: string) => `arn:aws:iam::123456789012:role/recc-user-${owner}`;
const READ = (owner: string) => `recc:user:${owner}`;
const EDIT = (owner: string) => `recc:user:edit:${owner}`;

describe('Feature: kubectl --edit on EKS', () => {
  let stack: EksStack;
  let backend: EksComputeBackend;
  const a1 = testDefinition({ clusterId: 'c-e1', owner: 'alice' });
  const a2 = testDefinition({ clusterId: 'c-e2', owner: 'alice' });

  beforeEach(async () => {
    stack = await startEksStack();
    backend = stack.makeBackend();
    for (const d of [a1, a2]) await backend.apply(d, testSecrets(d.clusterId));
    stack.eks.stub!.resetHistory();
  }, 60_000);

  afterEach(async () => {
    await stack?.close();
  });

  /** Input of every write command sent since the last reset, in order, named. */
  const writes = () =>
    stack.eks
      .stub!.calls()
      .map((c) => c.args[0] as { constructor: { name: string }; input: unknown })
      .filter((cmd) => !/^(List|Describe)/.test(cmd.constructor.name))
      .map((cmd) => ({ command: cmd.constructor.name, input: cmd.input }));

  it('grants with one UpdateAccessEntry adding the edit group, a Role of exactly pods/exec and delete pods, and its RoleBinding in that namespace only', async () => {
    // Act
    await backend.grantEdit(a1.clusterId);

    // Assess: the exact EKS call; the policy association is not touched.
    expect(writes()).toEqual([
      { command: 'UpdateAccessEntryCommand', input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), kubernetesGroups: [READ('alice'), EDIT('alice')] } },
    ]);
    expect([...stack.eks.entries.get(ROLE('alice'))!.associations]).toEqual([[DEFAULT_ACCESS_POLICY_ARN, { type: 'namespace', namespaces: [a1.namespace, a2.namespace].sort() }]]);
    // The Kubernetes side: a1 only.
    const role = stack.fake.object('Role', a1.namespace, OBJECT_NAMES.editRole)!;
    expect(role.rules).toEqual([
      { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
      { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
    ]);
    expect(role.rules).toEqual(EDIT_RULES.map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })));
    expect(stack.fake.object('RoleBinding', a1.namespace, OBJECT_NAMES.editRoleBinding)).toMatchObject({
      subjects: [{ kind: 'Group', name: EDIT('alice'), apiGroup: 'rbac.authorization.k8s.io' }],
      roleRef: { kind: 'Role', name: OBJECT_NAMES.editRole, apiGroup: 'rbac.authorization.k8s.io' },
    });
    expect(stack.fake.object('Namespace', undefined, a1.namespace)?.metadata.annotations?.[EKS_ANNOTATIONS.kubectlAccess]).toBe('edit');
    expect(stack.fake.object('Role', a2.namespace, OBJECT_NAMES.editRole)).toBeUndefined();
    expect(stack.fake.object('RoleBinding', a2.namespace, OBJECT_NAMES.editRoleBinding)).toBeUndefined();
    // The fake API server's authorizer agrees: alice's edit group may exec in a1, not in a2.
    const alice = { username: 'alice', groups: [READ('alice'), EDIT('alice'), 'system:authenticated'] };
    const exec = (namespace: string) => stack.fake.rbac.authorize(alice, { resourceRequest: true, verb: 'create', path: '', apiGroup: '', resource: 'pods', subresource: 'exec', name: 'p', namespace }).allowed;
    expect([exec(a1.namespace), exec(a2.namespace)]).toEqual([true, false]);
  });

  it('writes nothing when granted again (level-triggered: the provisioner re-asserts it on every look)', async () => {
    // Prepare
    await backend.grantEdit(a1.clusterId);
    stack.eks.stub!.resetHistory();
    const mark = stack.fake.requests.length;

    // Act
    await backend.grantEdit(a1.clusterId);

    // Assess
    expect(writes()).toEqual([]);
    expect(stack.fake.requests.slice(mark).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('re-creates a missing entry with both groups and the namespace-scoped view policy (CreateAccessEntry + AssociateAccessPolicy inputs)', async () => {
    // Prepare: the entry was deleted behind recc's back after the grant.
    await backend.grantEdit(a1.clusterId);
    stack.eks.entries.delete(ROLE('alice'));
    stack.eks.stub!.resetHistory();

    // Act
    await backend.grantEdit(a1.clusterId);

    // Assess
    expect(writes()).toEqual([
      {
        command: 'CreateAccessEntryCommand',
        input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), kubernetesGroups: [READ('alice'), EDIT('alice')], type: 'STANDARD', tags: { user: 'alice', 'recc.io/managed-by': 'recc' } },
      },
      {
        command: 'AssociateAccessPolicyCommand',
        input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), policyArn: DEFAULT_ACCESS_POLICY_ARN, accessScope: { type: 'namespace', namespaces: [a1.namespace, a2.namespace].sort() } },
      },
    ]);
    expect(stack.eks.stub!.commandCalls(AssociateAccessPolicyCommand).every((c) => !String(c.args[0].input.policyArn).includes('Edit'))).toBe(true);
  });

  it('is removed with the cluster: the teardown drops the edit group (UpdateAccessEntry), the last teardown deletes the entry (DeleteAccessEntry)', async () => {
    // Prepare
    await backend.grantEdit(a1.clusterId);
    stack.eks.stub!.resetHistory();

    // Act 1
    await backend.teardown(a1.clusterId);

    // Assess 1: the group goes, the scope narrows to a2.
    expect(writes()).toEqual([
      { command: 'UpdateAccessEntryCommand', input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), kubernetesGroups: [READ('alice')] } },
      {
        command: 'AssociateAccessPolicyCommand',
        input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), policyArn: DEFAULT_ACCESS_POLICY_ARN, accessScope: { type: 'namespace', namespaces: [a2.namespace] } },
      },
    ]);
    expect(stack.eks.entries.get(ROLE('alice'))?.kubernetesGroups).toEqual([READ('alice')]);

    // Act 2
    stack.eks.stub!.resetHistory();
    await backend.teardown(a2.clusterId);

    // Assess 2
    expect(writes()).toEqual([{ command: 'DeleteAccessEntryCommand', input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice') } }]);
    expect(stack.eks.stub!.commandCalls(DisassociateAccessPolicyCommand)).toEqual([]);
    expect(stack.eks.entries.has(ROLE('alice'))).toBe(false);
    expect(stack.eks.stub!.commandCalls(CreateAccessEntryCommand)).toEqual([]);
  }, 60_000);

  it("is swept by the harvester's grant sweep when the namespace vanished without a teardown; a second sweep writes nothing", async () => {
    // Prepare: edit on a1, then a1's namespace deleted by hand (a teardown cut short after this step).
    await backend.grantEdit(a1.clusterId);
    const { core } = await stack.kube.apis();
    await core.deleteNamespace({ name: a1.namespace });
    await waitFor(() => stack.fake.objects('Namespace').every((n) => n.metadata.name !== a1.namespace), { timeoutMs: 30_000, what: `namespace ${a1.namespace} gone` });
    expect(stack.eks.entries.get(ROLE('alice'))?.kubernetesGroups).toContain(EDIT('alice'));
    stack.eks.stub!.resetHistory();

    // Act
    const first = await backend.sweepGrants();
    const afterFirst = writes();
    stack.eks.stub!.resetHistory();
    const second = await backend.sweepGrants();

    // Assess
    expect(first).toEqual([{ kind: 'access-entry', subject: ROLE('alice'), owner: 'alice', change: 'rescoped' }]);
    expect(afterFirst).toEqual([
      { command: 'UpdateAccessEntryCommand', input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), kubernetesGroups: [READ('alice')] } },
      {
        command: 'AssociateAccessPolicyCommand',
        input: { clusterName: TEST_CLUSTER_NAME, principalArn: ROLE('alice'), policyArn: DEFAULT_ACCESS_POLICY_ARN, accessScope: { type: 'namespace', namespaces: [a2.namespace] } },
      },
    ]);
    expect(second).toEqual([]);
    expect(writes()).toEqual([]);
    expect(stack.eks.stub!.commandCalls(UpdateAccessEntryCommand)).toEqual([]);
    expect(stack.eks.stub!.commandCalls(DeleteAccessEntryCommand)).toEqual([]);
  }, 60_000);

  it('drops a group added to the entry by hand on the next reconcile (the entry is recc\'s)', async () => {
    // Prepare
    stack.eks.entries.get(ROLE('alice'))!.kubernetesGroups.push('cluster-admins-by-hand');
    stack.eks.stub!.resetHistory();

    // Act
    await backend.grantEdit(a2.clusterId);

    // Assess
    expect(stack.eks.entries.get(ROLE('alice'))?.kubernetesGroups).toEqual([READ('alice'), EDIT('alice')]);
  });

  it('does nothing for a cluster it does not hold', async () => {
    // Act
    await backend.grantEdit('c-nope');

    // Assess
    expect(writes()).toEqual([]);
  });
});
