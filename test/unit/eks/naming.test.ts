import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { nodeGroupName, ownerFragment, userKubernetesGroup, userRoleArn } from '../../../adapters/eks/manifests/naming.ts';

/**
 * Owner-derived names decide who shares a node group, a Kubernetes group and
 * an IAM role: two different owners must never get the same name.
 */
const TEMPLATE = 'arn:aws:iam::123456789012:role/recc-user-{owner}';

const COLLIDING_PAIRS: Array<[string, string]> = [
  ['Alice', 'alice'],
  ['a.lice', 'a-lice'],
  ['jdoe@corp.example', 'jdoe-corp-example'],
  ['-bob-', 'bob'],
  ['carol', 'carol-'],
];

describe('Function: ownerFragment', () => {
  it('keeps a name that is already a clean DNS fragment as it is', () => {
    expect(ownerFragment('arathe')).toBe('arathe');
    expect(nodeGroupName('arathe', 'c5.xlarge')).toBe('arathe-c5-xlarge-nodegroup');
    expect(userKubernetesGroup('arathe')).toBe('recc:user:arathe');
    expect(userRoleArn(TEMPLATE, 'arathe')).toBe('arn:aws:iam::123456789012:role/recc-user-arathe');
  });

  it.each(COLLIDING_PAIRS)('gives %s and %s different role, group and node group names', (a, b) => {
    expect(ownerFragment(a)).not.toBe(ownerFragment(b));
    expect(nodeGroupName(a, 'c5.xlarge')).not.toBe(nodeGroupName(b, 'c5.xlarge'));
    expect(userKubernetesGroup(a)).not.toBe(userKubernetesGroup(b));
    expect(userRoleArn(TEMPLATE, a)).not.toBe(userRoleArn(TEMPLATE, b));
  });

  it('cannot be forged: an owner named like another owner\'s hashed fragment gets its own name', () => {
    const hashed = ownerFragment('Alice');
    expect(hashed).toMatch(/^alice-[0-9a-z]+$/);
    expect(ownerFragment(hashed)).not.toBe(hashed);
  });

  it('is stable and injective over arbitrary owners, and always a DNS label fit for an IAM role name', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 80 }), fc.string({ minLength: 1, maxLength: 80 }), (a, b) => {
        const fa = ownerFragment(a);
        expect(ownerFragment(a)).toBe(fa);
        expect(fa).toMatch(/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/);
        // recc-user-{owner} must fit IAM's 64-character role name limit.
        expect(fa.length).toBeLessThanOrEqual(48);
        if (a !== b) expect(fa).not.toBe(ownerFragment(b));
      }),
      { numRuns: 2000 },
    );
  });
});
