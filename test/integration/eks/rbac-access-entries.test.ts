import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CreateAccessEntryCommand } from '@aws-sdk/client-eks';
import { EksAccessEntryRefusedError } from '../../../adapters/eks/errors.ts';
import { startEksStack, testDefinition, testSecrets, type EksStack } from '../../support/eks-stack.ts';

/**
 * Issue 22 #8: EKS access entries exist only under the API or
 * API_AND_CONFIG_MAP authentication mode and need an IAM principal that
 * exists. The backend grants the user's access before it applies any object,
 * so a refusal is a clear, permanent (4xx) error and leaves no namespace,
 * objects or access entry behind; on success the entry exists before the
 * first object that depends on it (the RoleBinding to the entry's group).
 */
describe('EKS access entries before objects', () => {
  let stack: EksStack;

  beforeEach(async () => {
    stack = await startEksStack();
  });

  afterEach(async () => {
    await stack.close();
  });

  const writes = () => stack.fake.requests.filter((r) => r.method !== 'GET');

  it('refuses a cluster whose user has no IAM role, naming the role, and creates nothing', async () => {
    // Prepare
    stack.eks.principalExists = (arn) => !arn.endsWith('/recc-user-ghost');
    const def = testDefinition({ clusterId: 'c-ghost', owner: 'ghost' });

    // Act
    const err = await stack.makeBackend().apply(def, testSecrets('c-ghost')).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(EksAccessEntryRefusedError);
    expect((err as EksAccessEntryRefusedError).statusCode).toBe(422);
    expect((err as Error).message).toBe(
      'EKS refused access for ghost: the IAM role arn:aws:iam::123456789012:role/recc-user-ghost does not exist (create it, or fix RECC_EKS_USER_ROLE_ARN_TEMPLATE)',
    );
    expect(writes()).toEqual([]);
    expect(stack.eks.entries.size).toBe(0);
  });

  it('refuses every cluster on an EKS cluster in CONFIG_MAP authentication mode, and creates nothing', async () => {
    // Prepare
    stack.eks.authenticationMode = 'CONFIG_MAP';
    const def = testDefinition({ clusterId: 'c-cm', owner: 'alice' });

    // Act
    const err = await stack.makeBackend().apply(def, testSecrets('c-cm')).catch((e: unknown) => e);

    // Assess
    expect(err).toBeInstanceOf(EksAccessEntryRefusedError);
    expect((err as Error).message).toMatch(/authentication mode CONFIG_MAP; access entries need API or API_AND_CONFIG_MAP/);
    expect(writes()).toEqual([]);
  });

  it('creates the access entry, scoped to the new namespace, before the first object', async () => {
    // Prepare: note whether the entry existed when the API server saw the first write.
    let entryAtFirstWrite: boolean | undefined;
    stack.fake.beforeRequest = (method) => {
      if (method !== 'GET' && entryAtFirstWrite === undefined) entryAtFirstWrite = stack.eks.entries.size > 0;
    };
    const def = testDefinition({ clusterId: 'c-order', owner: 'alice' });

    // Act
    await stack.makeBackend().apply(def, testSecrets('c-order'));

    // Assess
    expect(entryAtFirstWrite).toBe(true);
    expect(stack.eks.stub!.commandCalls(CreateAccessEntryCommand)).toHaveLength(1);
    const entry = stack.eks.entries.get('arn:aws:iam::123456789012:role/recc-user-alice');
    expect([...(entry?.associations.values() ?? [])]).toEqual([{ type: 'namespace', namespaces: [def.namespace] }]);
  });
});
