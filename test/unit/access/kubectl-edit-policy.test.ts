import { describe, expect, it } from 'vitest';
import { KubectlEditPolicy, kubectlEditPolicyFromEnv } from '../../../shared/access/kubectl-edit.ts';
import { ConfigError } from '../../../shared/core/errors.ts';
import { QuotaPolicy } from '../../../shared/quota/config.ts';

/** Who may have kubectl --edit: RECC_KUBECTL_EDIT, read once, every bad entry named. */
describe('Class: KubectlEditPolicy', () => {
  const quotas = QuotaPolicy.from({ groups: { research: { members: ['carol', 'dave'] } } });

  describe('Method: kubectlEditPolicyFromEnv', () => {
    it('allows nobody when unset or blank', () => {
      for (const env of [{}, { RECC_KUBECTL_EDIT: '' }, { RECC_KUBECTL_EDIT: '  ' }]) {
        const policy = kubectlEditPolicyFromEnv(env, quotas);
        expect(['alice', 'carol', '*', '__proto__'].map((u) => policy.allows(u, quotas))).toEqual([false, false, false, false]);
      }
    });

    it('allows the listed users and the members of a listed quota group (spaces or commas)', () => {
      // Act
      const policy = kubectlEditPolicyFromEnv({ RECC_KUBECTL_EDIT: 'alice, group:research bob' }, quotas);

      // Assess
      expect(Object.fromEntries(['alice', 'bob', 'carol', 'dave', 'erin', 'research', 'group:research'].map((u) => [u, policy.allows(u, quotas)]))).toEqual({
        alice: true,
        bob: true,
        carol: true,
        dave: true,
        erin: false,
        research: false,
        'group:research': false,
      });
      expect(policy.describe()).toBe('alice, bob, members of research');
    });

    it('allows every user with *', () => {
      const policy = kubectlEditPolicyFromEnv({ RECC_KUBECTL_EDIT: '*' }, quotas);
      expect(policy.allows('anyone', quotas)).toBe(true);
      expect(policy.describe()).toBe('every user');
    });

    it('fails fast naming every bad entry: unknown group, bad names, * beside others', () => {
      // Act
      let error: unknown;
      try {
        kubectlEditPolicyFromEnv({ RECC_KUBECTL_EDIT: 'alice group:nope al/ice group: __proto__ *' }, quotas);
      } catch (err) {
        error = err;
      }

      // Assess: __proto__ is a well-formed user name (it only allows a user called that), the rest are named.
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).details).toEqual([
        { path: 'RECC_KUBECTL_EDIT[1]', message: 'group "nope" is not a group of RECC_QUOTAS (groups and their members are defined there)' },
        { path: 'RECC_KUBECTL_EDIT[2]', message: '"al/ice" is not a user name (1-64 characters A-Z a-z 0-9 _+=.@-), group:NAME or *' },
        { path: 'RECC_KUBECTL_EDIT[3]', message: 'group name "" must be 1-64 characters A-Z a-z 0-9 _+=.@-' },
        { path: 'RECC_KUBECTL_EDIT', message: '"*" already allows every user; list nothing else beside it' },
      ]);
    });

    it('does not let a prototype key pass as a listed user', () => {
      const policy = KubectlEditPolicy.from(['alice'], quotas);
      expect(['constructor', '__proto__', 'toString', 'hasOwnProperty'].some((u) => policy.allows(u, quotas))).toBe(false);
    });
  });
});
