import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AssociateAccessPolicyCommand, CreateAccessEntryCommand, DeleteAccessEntryCommand, DeletePodIdentityAssociationCommand } from '@aws-sdk/client-eks';
import { principalPattern } from '../../../adapters/eks/identity.ts';
import { OBJECT_NAMES } from '../../../adapters/eks/manifests/naming.ts';
import { InMemoryClusterStore } from '../../../adapters/store/memory.ts';
import { runHarvester } from '../../../control/harvester.ts';
import { systemClock } from '../../../shared/core/clock.ts';
import { silentLogger } from '../../../shared/core/logger.ts';
import { DEFAULT_HARVEST_CONFIG } from '../../../shared/harvest/types.ts';
import { initialChange, newClusterRecord } from '../../../shared/lifecycle/machine.ts';
import type { EksComputeBackend } from '../../../adapters/eks/backend.ts';
import { EksPodIdentityModel } from '../../fakes/eks-pod-identity-model.ts';
import { TEST_CLUSTER_NAME, startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';
import { waitFor } from '../../support/wait.ts';

/**
 * Issue 21 #3: "wherever the access is granted, the harvester also
 * reconciles it: an orphaned grant is removed". A teardown that stopped
 * after the namespace went (Lambda timeout, crash) or a namespace deleted by
 * hand leaves the user's EKS access entry scoped to a namespace that no
 * longer exists (or an entry for a user with no cluster at all) and the
 * namespace's Pod Identity association with the scheduler role. The
 * harvester's sweep finds them on the EKS fakes (access entries and Pod
 * Identity associations with the service's errors and paging) and removes
 * or narrows them; grants that are not recc's are left alone; a second run
 * writes nothing; two overlapping sweeps both succeed (not-found on delete
 * is success).
 */
const SCHEDULER_ROLE = 'arn:aws:iam::123456789012:role/recc-test-cluster-scheduler';
const ROLE = (owner: string) => `arn:aws:iam::123456789012:role/recc-user-${owner}`;
const ADMIN = 'arn:aws:iam::123456789012:role/platform-admin';

describe('Feature: the harvester removes orphaned access grants', () => {
  let stack: EksStack;
  let pods: EksPodIdentityModel;
  let backend: EksComputeBackend;

  async function start(latency = false): Promise<void> {
    stack = await startEksStack({ latency });
    pods = new EksPodIdentityModel(TEST_CLUSTER_NAME).install(stack.eks.stub!);
    // One item per page: every list the sweep reads must follow nextToken.
    stack.eks.pageSize = 1;
    pods.pageSize = 1;
    backend = stack.makeBackend({}, { schedulerRoleArn: SCHEDULER_ROLE });
  }

  afterEach(async () => {
    await stack?.close();
  });

  /** Delete a namespace behind recc's back (kubectl delete ns, or a teardown that died after this step) and wait until it is gone. */
  async function deleteNamespaceByHand(namespace: string): Promise<void> {
    const { core } = await stack.kube.apis();
    await core.deleteNamespace({ name: namespace });
    await waitFor(() => stack.fake.objects('Namespace').every((n) => n.metadata.name !== namespace), { timeoutMs: 30_000, what: `namespace ${namespace} gone` });
  }

  const scopeOf = (arn: string) => [...(stack.eks.entries.get(arn)?.associations.values() ?? [])];
  const writes = () => {
    const stub = stack.eks.stub!;
    return (
      stub.commandCalls(CreateAccessEntryCommand).length +
      stub.commandCalls(AssociateAccessPolicyCommand).length +
      stub.commandCalls(DeleteAccessEntryCommand).length +
      stub.commandCalls(DeletePodIdentityAssociationCommand).length
    );
  };

  describe('Given two users, three clusters, two of whose namespaces vanished without a teardown, and grants that are not recc\'s', () => {
    const a1 = testDefinition({ clusterId: 'c-a1', owner: 'alice' });
    const a2 = testDefinition({ clusterId: 'c-a2', owner: 'alice' });
    const b1 = testDefinition({ clusterId: 'c-b1', owner: 'bob' });

    beforeEach(async () => {
      await start();
      for (const d of [a1, a2, b1]) await backend.apply(d, testSecrets(d.clusterId));
      // Not recc's: an admin's entry, an entry that fits the role template but was made by hand
      // (no managed-by tag), an association of recc's service account with another role, and one
      // of another service account, both in namespaces that do not exist.
      stack.eks.entries.set(ADMIN, { principalArn: ADMIN, kubernetesGroups: ['platform:admins'], type: 'STANDARD', tags: {}, associations: new Map() });
      stack.eks.entries.set(ROLE('carol'), { principalArn: ROLE('carol'), kubernetesGroups: ['carol'], type: 'STANDARD', tags: { user: 'carol' }, associations: new Map() });
      pods.seed({ namespace: 'team-x', serviceAccount: OBJECT_NAMES.serviceAccount, roleArn: 'arn:aws:iam::123456789012:role/team-x', tags: {} });
      pods.seed({ namespace: 'gone-ns', serviceAccount: 'fluent-bit', roleArn: SCHEDULER_ROLE, tags: {} });
      expect(scopeOf(ROLE('alice'))).toEqual([{ type: 'namespace', namespaces: [a1.namespace, a2.namespace].sort() }]);
      expect([...pods.associations.values()].filter((a) => a.roleArn === SCHEDULER_ROLE && a.serviceAccount === OBJECT_NAMES.serviceAccount)).toHaveLength(3);
      await deleteNamespaceByHand(a2.namespace);
      await deleteNamespaceByHand(b1.namespace);
    }, 60_000);

    it('When the harvester runs, Then bob\'s entry is deleted, alice\'s is narrowed to her live namespace, the two associations go, and nothing else is touched', async () => {
      // Prepare: the one live cluster has its record (the vanished ones' records are DELETED, so not listed).
      const store = new InMemoryClusterStore();
      const record = newClusterRecord({ id: a1.clusterId, owner: 'alice', namespace: a1.namespace, at: new Date().toISOString(), spec: a1.spec, plan: a1.plan });
      await store.create(record, initialChange(record, { actor: 'alice' }));

      // Act
      const report = await runHarvester({ store, backend, clock: systemClock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });

      // Assess
      expect(report.grantSweepError).toBeUndefined();
      expect(report.actions).toEqual([]);
      expect([...(report.grantsRemoved ?? [])].sort((x, y) => `${x.kind}${x.subject}`.localeCompare(`${y.kind}${y.subject}`))).toEqual([
        { kind: 'access-entry', subject: ROLE('alice'), owner: 'alice', change: 'rescoped' },
        { kind: 'access-entry', subject: ROLE('bob'), owner: 'bob', change: 'deleted' },
        { kind: 'pod-identity', subject: a2.namespace, change: 'deleted' },
        { kind: 'pod-identity', subject: b1.namespace, change: 'deleted' },
      ]);
      expect(scopeOf(ROLE('alice'))).toEqual([{ type: 'namespace', namespaces: [a1.namespace] }]);
      expect(stack.eks.entries.has(ROLE('bob'))).toBe(false);
      expect([...stack.eks.entries.keys()].sort()).toEqual([ADMIN, ROLE('alice'), ROLE('carol')].sort());
      expect([...pods.associations.values()].map((a) => `${a.namespace}/${a.serviceAccount}`).sort()).toEqual(
        [`${a1.namespace}/${OBJECT_NAMES.serviceAccount}`, 'gone-ns/fluent-bit', `team-x/${OBJECT_NAMES.serviceAccount}`].sort(),
      );
    }, 60_000);

    it('When the harvester runs again on the same state, Then it writes nothing and reports nothing', async () => {
      // Prepare
      const store = new InMemoryClusterStore();
      const deps = { store, backend, clock: systemClock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger };
      await runHarvester(deps);
      await waitFor(() => stack.fake.objects('Namespace').every((n) => n.metadata.name !== a1.namespace), { timeoutMs: 30_000, what: 'the orphan namespace gone' });
      const before = writes();

      // Act
      const again = await runHarvester(deps);

      // Assess: a1's namespace has no record here, so the first run tore it down as an orphan, and
      // that teardown removed its grants itself; the second run finds nothing left to do.
      expect(again.grantsRemoved).toEqual([]);
      expect(writes()).toBe(before);
      expect(stack.eks.entries.has(ROLE('alice'))).toBe(false);
      expect([...pods.associations.values()].filter((a) => a.roleArn === SCHEDULER_ROLE && a.serviceAccount === OBJECT_NAMES.serviceAccount)).toEqual([]);
    }, 60_000);
  });

  it('Two overlapping sweeps (two harvester runs at once) both succeed and leave the grants right', async () => {
    // Prepare: jittered AWS latency so the two interleave inside each other's read-then-delete windows.
    await start(true);
    const defs = ['dave', 'erin', 'frank'].map((owner, i) => testDefinition({ clusterId: `c-o${i}`, owner }));
    for (const d of defs) await backend.apply(d, testSecrets(d.clusterId));
    for (const d of defs.slice(0, 2)) await deleteNamespaceByHand(d.namespace);
    const other = stack.makeBackend({}, { schedulerRoleArn: SCHEDULER_ROLE });

    // Act
    const [one, two] = await Promise.all([backend.sweepGrants(), other.sweepGrants()]);

    // Assess: each grant removed once in all, none failed, frank's untouched.
    const removed = [...one, ...two].filter((g) => g.change === 'deleted').map((g) => `${g.kind}:${g.subject}`);
    expect(removed.sort()).toEqual([`access-entry:${ROLE('dave')}`, `access-entry:${ROLE('erin')}`, `pod-identity:${defs[0]!.namespace}`, `pod-identity:${defs[1]!.namespace}`].sort());
    expect([...stack.eks.entries.keys()]).toEqual([ROLE('frank')]);
    expect(scopeOf(ROLE('frank'))).toEqual([{ type: 'namespace', namespaces: [defs[2]!.namespace] }]);
    expect([...pods.associations.values()].map((a) => a.namespace)).toEqual([defs[2]!.namespace]);
  }, 60_000);

  it('A sweep the EKS API refuses is reported and counted, and the rest of the harvest still runs', async () => {
    // Prepare
    await start();
    stack.eks.authenticationMode = 'CONFIG_MAP';

    // Act
    const report = await runHarvester({ store: new InMemoryClusterStore(), backend, clock: systemClock, config: DEFAULT_HARVEST_CONFIG, logger: silentLogger });

    // Assess
    expect(report.grantSweepError).toMatch(/listing the access entries failed/);
    expect(report.grantsRemoved).toBeUndefined();
  }, 60_000);
});

describe('principalPattern', () => {
  it('matches exactly the ARNs the role template yields and captures the owner fragment', () => {
    const re = principalPattern('arn:aws:iam::123456789012:role/recc.users/recc-user-{owner}');
    expect(re.exec('arn:aws:iam::123456789012:role/recc.users/recc-user-alice')?.[1]).toBe('alice');
    expect(re.exec('arn:aws:iam::123456789012:role/recc.users/recc-user-jdoe-corp-example-1a2b3c4d5e')?.[1]).toBe('jdoe-corp-example-1a2b3c4d5e');
    // The dot is literal, the fragment is lowercase DNS-safe, and nothing may follow it.
    expect(re.test('arn:aws:iam::123456789012:role/reccXusers/recc-user-alice')).toBe(false);
    expect(re.test('arn:aws:iam::123456789012:role/recc.users/recc-user-Alice')).toBe(false);
    expect(re.test('arn:aws:iam::123456789012:role/recc.users/recc-user-alice/extra')).toBe(false);
    expect(re.test('arn:aws:iam::123456789012:role/platform-admin')).toBe(false);
  });
});
