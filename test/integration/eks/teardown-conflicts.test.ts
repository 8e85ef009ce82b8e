import { describe, expect, it } from 'vitest';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { resourceByKind } from '../../fakes/k8s-store.ts';
import { useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Found by the chaos run (issue 22, seed 35): teardown marks the namespace
 * `deleting` (a read-then-replace) before it recomputes the node group. When
 * every replace lost to another writer, the mark gave up silently, the
 * reconcile still counted the cluster as live, the namespace was deleted, and
 * the group kept its node running and billed with nothing left to reconcile
 * it. Now a teardown that cannot mark the namespace fails (and is retried by
 * the provisioner) instead of reporting success.
 */
describe('EKS teardown under write conflicts on the namespace', () => {
  let stack: EksStack;

  useEksStack((s) => {
    stack = s;
  });

  it('never reports success while the node group still counts the cluster', async () => {
    // Prepare
    const backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-conflict', workers: 1 });
    await backend.apply(def, testSecrets('c-conflict'));
    const group = nodeGroupName('arathe', 'c5.xlarge');
    expect(stack.asg.group(group)?.desired).toBe(1);
    // Another writer changes the namespace before each of our replaces (its resourceVersion moves on).
    stack.fake.beforeRequest = (method, path) => {
      if (method !== 'PUT' || path !== `/api/v1/namespaces/${def.namespace}`) return;
      const ns = stack.fake.store.get(resourceByKind('Namespace'), undefined, def.namespace);
      if (ns) stack.fake.store.save(resourceByKind('Namespace'), ns);
    };

    // Act
    const first = await backend.teardown(def.clusterId).then(
      () => 'succeeded',
      (err: unknown) => (err as Error).name,
    );
    stack.fake.beforeRequest = undefined;
    if (first !== 'succeeded') await backend.teardown(def.clusterId); // the provisioner's redelivery

    // Assess
    expect(first === 'succeeded' ? stack.asg.group(group)?.desired : 'retried').not.toBe(1);
    expect(stack.asg.group(group)?.desired).toBe(0);
    expect(stack.fake.objects('Node')).toEqual([]);
  });
});
