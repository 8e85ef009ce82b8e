import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeGroupName } from '../../../adapters/eks/manifests/naming.ts';
import { ApiStatusError } from '../../fakes/k8s-store.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Writes that committed but whose answer was lost (issue 22 chaos run, "500s
 * on writes that were actually committed"): the fake serves the write, then
 * answers 500 ServerTimeout with Retry-After, as the API server does when
 * etcd times out on a proposal that still commits (test/fakes/k8s-api-server.ts
 * `loseAnswer`). The client retries, and the adapter meets its own write:
 * AlreadyExists on a create, Conflict on a replace, NotFound on a delete, and
 * Conflict on a second delete of a namespace that is still terminating. All
 * of these must count as done.
 */
const GROUP = nodeGroupName('arathe', 'c5.xlarge');

describe('EKS backend when committed writes are answered with 500', () => {
  let stack: EksStack;

  beforeEach(async () => {
    // The namespace controller takes a minute to finalize, so a retried namespace delete finds it terminating.
    stack = await startEksStack({ fake: { namespaceFinalizeMs: 60_000 }, kubeSleep: async () => {} });
  });

  afterEach(async () => {
    await stack.close();
  });

  it('applies, scales and tears down when the answer of every write is lost once', async () => {
    // Prepare
    const backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-lost', workers: 2 });
    const lost: string[] = [];
    const seen = new Set<string>();
    stack.fake.loseAnswer = (method, path) => {
      const key = `${method} ${path}`;
      if (seen.has(key)) return undefined;
      seen.add(key);
      lost.push(key);
      return new ApiStatusError(500, 'ServerTimeout', 'The operation could not be completed at this time, please try again.', { retryAfterSeconds: 2 });
    };

    // Act
    await backend.apply(def, testSecrets(def.clusterId));
    const ready = await backend.observe(def.clusterId);
    await backend.scale(def.clusterId, 1);
    await backend.teardown(def.clusterId);

    // Assess
    expect(lost.some((k) => k.startsWith('POST '))).toBe(true);
    expect(lost.some((k) => k.startsWith('PUT '))).toBe(true);
    expect(lost.some((k) => k.startsWith('DELETE /api/v1/namespaces/'))).toBe(true);
    expect(ready.ready).toBe(true);
    expect(ready.failures).toEqual([]);
    expect(stack.fake.object('Namespace', undefined, def.namespace)?.metadata?.deletionTimestamp).toBeDefined();
    expect(stack.asg.group(GROUP)?.desired).toBe(0);
    expect([...stack.eks.entries.keys()]).toEqual([]);
  });

  it('succeeds when a teardown is redelivered while the namespace is still terminating', async () => {
    // Prepare
    const backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-again', workers: 1 });
    await backend.apply(def, testSecrets(def.clusterId));
    await backend.teardown(def.clusterId);

    // Act: the provisioner redelivers the teardown (its first delivery timed out, say).
    const again = await backend.teardown(def.clusterId).then(
      () => 'succeeded',
      (err: unknown) => String(err),
    );

    // Assess
    expect(again).toBe('succeeded');
    expect(stack.fake.object('Namespace', undefined, def.namespace)?.status?.phase).toBe('Terminating');
    expect([...stack.eks.entries.keys()]).toEqual([]);
  });
});
