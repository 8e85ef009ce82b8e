import { describe, expect, it } from 'vitest';
import { userRoleArn } from '../../../adapters/eks/manifests/naming.ts';
import type { EksFault } from '../../fakes/eks-access-model.ts';
import { TEST_EKS_CONFIG, useEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * EKS access entries under the API's transient faults (issue 22 chaos run):
 * request throttling (ThrottlingException) and server errors
 * (ServerException), including a ServerException answering a call that was
 * served (test/fakes/eks-access-model.ts `EksFault`). The adapter retries
 * them; a retried create that meets its own entry (ResourceInUseException)
 * and a retried delete that finds it gone are success.
 */
describe('EKS access entries under throttling and server errors', () => {
  let stack: EksStack;
  const principal = userRoleArn(TEST_EKS_CONFIG.userRoleArnTemplate, 'arathe');

  useEksStack((s) => {
    stack = s;
  });

  /** Each command meets `fault` on its first `times` calls. */
  function faultEach(fault: EksFault, times = 1): string[] {
    const calls = new Map<string, number>();
    const faulted: string[] = [];
    stack.eks.fault = (command) => {
      const n = (calls.get(command) ?? 0) + 1;
      calls.set(command, n);
      if (n > times) return undefined;
      faulted.push(command);
      return fault;
    };
    return faulted;
  }

  it('grants and revokes access when every access-entry call is throttled twice first', async () => {
    // Prepare
    const backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-throttled', workers: 1 });
    const faulted = faultEach({ name: 'ThrottlingException' }, 2);

    // Act
    await backend.apply(def, testSecrets(def.clusterId));
    const granted = stack.eks.entries.get(principal);
    await backend.teardown(def.clusterId);

    // Assess
    expect(faulted).toEqual(expect.arrayContaining(['CreateAccessEntry', 'AssociateAccessPolicy', 'DeleteAccessEntry']));
    expect(granted?.associations.size).toBe(1);
    expect([...stack.eks.entries.keys()]).toEqual([]);
  });

  it('treats its own committed create and delete as done when their answers were server errors', async () => {
    // Prepare
    const backend = stack.makeBackend();
    const def = testDefinition({ clusterId: 'c-committed', workers: 1 });
    const faulted = faultEach({ name: 'ServerException', committed: true });

    // Act
    await backend.apply(def, testSecrets(def.clusterId));
    const granted = stack.eks.entries.get(principal);
    await backend.teardown(def.clusterId);
    const swept = await backend.sweepGrants();

    // Assess
    expect(faulted).toEqual(expect.arrayContaining(['CreateAccessEntry', 'AssociateAccessPolicy', 'DeleteAccessEntry']));
    expect(stack.eks.faultCounts.get('ServerException:committed')).toBeGreaterThanOrEqual(3);
    expect(granted?.associations.size).toBe(1);
    expect(granted?.tags).toMatchObject({ user: 'arathe' });
    expect([...stack.eks.entries.keys()]).toEqual([]);
    expect(swept).toEqual([]);
  });
});
