import { describe, expect, it } from 'vitest';
import { callerFromIam, parsePrincipalArn, rolePatternMatches } from '../../../functions/commons/identity.ts';
import { identityConfig, readIdentityConfig } from '../../../functions/commons/config.ts';
import { IdentityMappingError } from '../../../functions/commons/errors.ts';
import { UnauthenticatedError } from '../../../control/errors.ts';
import { ConfigError } from '../../../shared/core/errors.ts';

/**
 * The identity mapping (issue 18, defect 1): the user comes only from what the
 * caller cannot choose. Every ARN of the issue, plus cross-account roles, root,
 * federated users, malformed ARNs, case and look-alike (Cyrillic, fullwidth)
 * variants and empty session names.
 */

const ACCOUNT = '111111111111';
const OTHER_ACCOUNT = '222222222222';
const SSO_RESEARCHER = 'AWSReservedSSO_ReccResearcher_0123456789abcdef';
const SSO_ADMIN = 'AWSReservedSSO_ReccAdmin_fedcba9876543210';
const sts = (role: string, session: string, account = ACCOUNT): string => `arn:aws:sts::${account}:assumed-role/${role}/${session}`;
const roleArn = (role: string, account = ACCOUNT): string => `arn:aws:iam::${account}:role/${role}`;

const config = identityConfig({
  allowedAccounts: [ACCOUNT],
  allowedRoles: ['AWSReservedSSO_ReccResearcher_*', 'SomeCiRole'],
  adminRoleArns: [roleArn(SSO_ADMIN)],
  sourceIdentityRoles: [roleArn('recc-batch')],
  principalUsers: {
    [`arn:aws:iam::${ACCOUNT}:user/alice`]: 'alice',
    [roleArn('recc-ci')]: 'ci-bot',
  },
});

function mappingError(arn: string): IdentityMappingError {
  try {
    const caller = callerFromIam({ userArn: arn }, config);
    throw new Error(`expected a 403 for ${JSON.stringify(arn)}, got ${JSON.stringify(caller)}`);
  } catch (err) {
    if (!(err instanceof IdentityMappingError)) throw err;
    return err;
  }
}

describe('Function: callerFromIam', () => {
  describe('the ARNs of issue 18 that all used to be "alice"', () => {
    it('maps the IAM user in the principal table by its full ARN', () => {
      expect(callerFromIam({ userArn: `arn:aws:iam::${ACCOUNT}:user/alice` }, config)).toEqual({
        user: 'alice',
        admin: false,
        principalArn: `arn:aws:iam::${ACCOUNT}:user/alice`,
      });
    });

    it('refuses an IAM user whose last path segment is "alice" but whose ARN is not in the table', () => {
      const err = mappingError(`arn:aws:iam::${ACCOUNT}:user/teamB/alice`);
      expect(err.statusCode).toBe(403);
      expect(err.mapping).toBe('iam-user');
      expect(err.message).toContain(`arn:aws:iam::${ACCOUNT}:user/teamB/alice`);
      expect(err.details).toEqual([{ path: 'identity', message: expect.stringContaining('RECC_PRINCIPAL_USERS') }]);
    });

    it('refuses a session of an allowed non-SSO role: its session name is chosen by whoever assumes it', () => {
      const err = mappingError(sts('SomeCiRole', 'alice'));
      expect(err.mapping).toBe('role');
      expect(err.message).toContain('SomeCiRole');
      expect(err.details[0]?.message).toMatch(/RECC_SOURCE_IDENTITY_ROLES|RECC_PRINCIPAL_USERS/);
    });

    it('refuses a role session from an account that is not allowed', () => {
      const err = mappingError(sts('Other', 'alice', OTHER_ACCOUNT));
      expect(err.mapping).toBe('account');
      expect(err.message).toContain(OTHER_ACCOUNT);
    });
  });

  describe('IAM Identity Center roles', () => {
    it('takes the session name (set by Identity Center) as the user', () => {
      expect(callerFromIam({ userArn: sts(SSO_RESEARCHER, 'alice') }, config)).toEqual({
        user: 'alice',
        admin: false,
        principalArn: sts(SSO_RESEARCHER, 'alice'),
      });
      expect(callerFromIam({ userArn: sts(SSO_RESEARCHER, 'jdoe@corp.example') }, config).user).toBe('jdoe@corp.example');
    });

    it('refuses the same SSO role name in another account (cross-account)', () => {
      expect(mappingError(sts(SSO_RESEARCHER, 'alice', OTHER_ACCOUNT)).mapping).toBe('account');
    });

    it('refuses an SSO role that matches no allowed role pattern', () => {
      const err = mappingError(sts('AWSReservedSSO_ReadOnly_0123456789abcdef', 'alice'));
      expect(err.mapping).toBe('role');
      expect(err.details[0]?.message).toContain('RECC_ALLOWED_ROLES');
    });

    it('makes a session of a configured admin role ARN an admin', () => {
      expect(callerFromIam({ userArn: sts(SSO_ADMIN, 'ops') }, config)).toEqual({ user: 'ops', admin: true, principalArn: sts(SSO_ADMIN, 'ops') });
    });
  });

  describe('other roles', () => {
    it('takes every session of a role in the principal table as the mapped user, whatever the session name', () => {
      expect(callerFromIam({ userArn: sts('recc-ci', 'alice') }, config)).toMatchObject({ user: 'ci-bot', admin: false });
      expect(callerFromIam({ userArn: sts('recc-ci', 'build-42') }, config)).toMatchObject({ user: 'ci-bot' });
    });

    it('takes the session name of a role whose trust policy requires sts:SourceIdentity', () => {
      expect(callerFromIam({ userArn: sts('recc-batch', 'carol') }, config)).toMatchObject({ user: 'carol', admin: false });
    });

    it('refuses a role that is not allowed at all', () => {
      const err = mappingError(sts('Other', 'alice'));
      expect(err.mapping).toBe('role');
      expect(err.details[0]?.message).toContain('RECC_ALLOWED_ROLES');
    });
  });

  describe('admin only from configured role ARNs', () => {
    it('never makes an admin from a name match', () => {
      // An IAM user, a role in another account, and a role of another name whose session is "ops".
      expect(mappingError(`arn:aws:iam::${ACCOUNT}:user/${SSO_ADMIN}`).mapping).toBe('iam-user');
      expect(mappingError(sts(SSO_ADMIN, 'ops', OTHER_ACCOUNT)).mapping).toBe('account');
      expect(callerFromIam({ userArn: sts('recc-batch', SSO_ADMIN) }, config)).toMatchObject({ admin: false });
    });

    it('does not match the admin role name case-insensitively', () => {
      expect(mappingError(sts(SSO_ADMIN.toLowerCase(), 'ops')).mapping).toBe('role');
      expect(mappingError(sts('AWSReservedSSO_RECCADMIN_fedcba9876543210', 'ops')).mapping).toBe('role');
    });
  });

  describe('principals that are not people', () => {
    it('refuses the account root', () => {
      const err = mappingError(`arn:aws:iam::${ACCOUNT}:root`);
      expect(err.mapping).toBe('root');
      expect(err.statusCode).toBe(403);
    });

    it('refuses a federated user (GetFederationToken lets the caller pick the name)', () => {
      const err = mappingError(`arn:aws:sts::${ACCOUNT}:federated-user/bob`);
      expect(err.mapping).toBe('federated-user');
    });

    it('answers 401 when there is no principal at all', () => {
      for (const iam of [undefined, null, {}, { userArn: null }, { userArn: '' }]) {
        expect(() => callerFromIam(iam, config)).toThrow(UnauthenticatedError);
      }
    });
  });

  describe('malformed ARNs', () => {
    const malformed = [
      'not an arn',
      'alice',
      `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}`,
      `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/`,
      `arn:aws:sts::${ACCOUNT}:assumed-role//alice`,
      `arn:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice/extra`,
      `arn:aws:sts::1111:assumed-role/${SSO_RESEARCHER}/alice`,
      `arn:aws:sts::${ACCOUNT}1:assumed-role/${SSO_RESEARCHER}/alice`,
      `arn:aws:iam::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice`,
      `arn:aws:sts:us-east-1:${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice`,
      `arn:evil:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice`,
      `ARN:aws:sts::${ACCOUNT}:assumed-role/${SSO_RESEARCHER}/alice`,
      ` ${sts(SSO_RESEARCHER, 'alice')}`,
      `${sts(SSO_RESEARCHER, 'alice')}\n`,
      sts(SSO_RESEARCHER, 'al ice'),
      sts(SSO_RESEARCHER, 'alice\u0000'),
      sts(SSO_RESEARCHER, 'a'.repeat(65)),
      `arn:aws:iam::${ACCOUNT}:user/`,
      `arn:aws:iam::${ACCOUNT}:user`,
      `arn:aws:iam::${ACCOUNT}:group/alice`,
      `arn:aws:iam::${ACCOUNT}:role/${SSO_RESEARCHER}`,
    ];
    for (const arn of malformed) {
      it(`refuses ${JSON.stringify(arn)} with 403 naming the identity`, () => {
        const err = mappingError(arn);
        expect(err.statusCode).toBe(403);
        expect(err.details[0]?.path).toBe('identity');
        expect(['malformed', 'principal-type']).toContain(err.mapping);
      });
    }
  });

  describe('case and look-alike variants of names', () => {
    it('keeps "Alice" and "alice" distinct users', () => {
      expect(callerFromIam({ userArn: sts(SSO_RESEARCHER, 'Alice') }, config).user).toBe('Alice');
      expect(mappingError(`arn:aws:iam::${ACCOUNT}:user/Alice`).mapping).toBe('iam-user');
    });

    it('refuses a role name that differs from the allowed pattern only in case', () => {
      expect(mappingError(sts('awsreservedsso_reccresearcher_0123456789abcdef', 'alice')).mapping).toBe('role');
      expect(mappingError(sts('someCiRole', 'alice')).mapping).toBe('role');
    });

    it('refuses Cyrillic and fullwidth look-alikes in session, role and user names', () => {
      const cyrillicA = '\u0430'; // 'а'
      for (const arn of [
        sts(SSO_RESEARCHER, `${cyrillicA}lice`),
        sts(SSO_RESEARCHER, '\uff41lice'),
        sts(`AWSReservedSSO_ReccR${'\u0435'}searcher_0123456789abcdef`, 'alice'),
        `arn:aws:iam::${ACCOUNT}:user/${cyrillicA}lice`,
        `arn:aws:sts::${ACCOUNT}:federated-user/${cyrillicA}lice`,
        sts(SSO_RESEARCHER, 'alice\u200b'),
        sts(SSO_RESEARCHER, 'ali\u0301ce'),
      ]) {
        const err = mappingError(arn);
        expect(err.statusCode).toBe(403);
      }
    });
  });
});

describe('Function: parsePrincipalArn', () => {
  it('returns the parts of each principal type, and undefined for a malformed ARN', () => {
    expect(parsePrincipalArn(sts(SSO_RESEARCHER, 'alice'))).toEqual({
      kind: 'assumed-role',
      arn: sts(SSO_RESEARCHER, 'alice'),
      partition: 'aws',
      account: ACCOUNT,
      roleName: SSO_RESEARCHER,
      roleArn: roleArn(SSO_RESEARCHER),
      sessionName: 'alice',
    });
    expect(parsePrincipalArn(`arn:aws-us-gov:iam::${ACCOUNT}:user/teamB/alice`)).toEqual({
      kind: 'iam-user',
      arn: `arn:aws-us-gov:iam::${ACCOUNT}:user/teamB/alice`,
      partition: 'aws-us-gov',
      account: ACCOUNT,
    });
    expect(parsePrincipalArn(`arn:aws:iam::${ACCOUNT}:root`)).toMatchObject({ kind: 'root', account: ACCOUNT });
    expect(parsePrincipalArn(`arn:aws:sts::${ACCOUNT}:federated-user/bob`)).toMatchObject({ kind: 'federated-user', account: ACCOUNT });
    expect(parsePrincipalArn('arn:aws:sts::1:assumed-role/r/s')).toBeUndefined();
  });
});

describe('Function: identityConfig', () => {
  function configError(fn: () => unknown): ConfigError {
    try {
      fn();
    } catch (err) {
      if (err instanceof ConfigError) return err;
      throw err;
    }
    throw new Error('expected a ConfigError');
  }

  it('names every problem at once', () => {
    const err = configError(() =>
      identityConfig({
        allowedAccounts: ['1234', ACCOUNT],
        allowedRoles: [''],
        adminRoleArns: ['recc-admin', roleArn('recc-admin', OTHER_ACCOUNT), `arn:aws:iam::${ACCOUNT}:role/ops/recc-admin`],
        sourceIdentityRoles: [`arn:aws:iam::${ACCOUNT}:user/alice`],
        principalUsers: { [`arn:aws:iam::${ACCOUNT}:user/bob`]: 'b\u043eb', 'alice': 'alice' },
      }),
    );
    const paths = err.details.map((d) => d.path);
    expect(paths).toEqual(
      expect.arrayContaining([
        'allowedAccounts.0',
        'allowedRoles.0',
        'adminRoleArns.0',
        'adminRoleArns.1',
        'adminRoleArns.2',
        'sourceIdentityRoles.0',
        `principalUsers.arn:aws:iam::${ACCOUNT}:user/bob`,
        'principalUsers.alice',
      ]),
    );
    expect(err.details.find((d) => d.path === 'adminRoleArns.1')?.message).toContain(OTHER_ACCOUNT);
  });

  it('needs at least one allowed account', () => {
    expect(configError(() => identityConfig({ allowedAccounts: [] })).details.map((d) => d.path)).toEqual(['allowedAccounts']);
  });

  it('is not fooled by a __proto__ or constructor key in the principal table', () => {
    const table = JSON.parse(`{"__proto__": "x", "arn:aws:iam::${ACCOUNT}:user/alice": "alice"}`) as Record<string, string>;
    expect(configError(() => identityConfig({ allowedAccounts: [ACCOUNT], principalUsers: table })).details.map((d) => d.path)).toEqual(['principalUsers.__proto__']);
    const ok = identityConfig({ allowedAccounts: [ACCOUNT], principalUsers: { [`arn:aws:iam::${ACCOUNT}:user/alice`]: 'alice' } });
    expect(() => callerFromIam({ userArn: `arn:aws:iam::${ACCOUNT}:user/constructor` }, ok)).toThrow(IdentityMappingError);
  });
});

describe('Function: readIdentityConfig', () => {
  const env = {
    RECC_ALLOWED_ACCOUNTS: `${ACCOUNT}, ${OTHER_ACCOUNT}`,
    RECC_ALLOWED_ROLES: 'AWSReservedSSO_ReccResearcher_*  SomeCiRole',
    RECC_ADMIN_ROLE_ARNS: roleArn(SSO_ADMIN),
    RECC_SOURCE_IDENTITY_ROLES: roleArn('recc-batch'),
    RECC_PRINCIPAL_USERS: JSON.stringify({ [`arn:aws:iam::${ACCOUNT}:user/alice`]: 'alice' }),
  };

  it('reads the accounts, role patterns, admin roles, source-identity roles and the principal table', () => {
    const read = readIdentityConfig(env);
    expect(read.allowedAccounts).toEqual([ACCOUNT, OTHER_ACCOUNT]);
    expect(read.allowedRoles).toEqual(['AWSReservedSSO_ReccResearcher_*', 'SomeCiRole']);
    expect(read.adminRoleArns).toEqual([roleArn(SSO_ADMIN)]);
    expect(read.sourceIdentityRoles).toEqual([roleArn('recc-batch')]);
    expect([...read.principalUsers]).toEqual([[`arn:aws:iam::${ACCOUNT}:user/alice`, 'alice']]);
  });

  it('allows every Identity Center role of the allowed accounts when RECC_ALLOWED_ROLES is unset', () => {
    expect(readIdentityConfig({ RECC_ALLOWED_ACCOUNTS: ACCOUNT }).allowedRoles).toEqual(['AWSReservedSSO_*']);
  });

  it('fails fast naming the variable', () => {
    const cases: [Record<string, string>, string][] = [
      [{}, 'RECC_ALLOWED_ACCOUNTS'],
      [{ RECC_ALLOWED_ACCOUNTS: 'abc' }, 'RECC_ALLOWED_ACCOUNTS'],
      [{ ...env, RECC_PRINCIPAL_USERS: '{not json' }, 'RECC_PRINCIPAL_USERS'],
      [{ ...env, RECC_PRINCIPAL_USERS: '["a"]' }, 'RECC_PRINCIPAL_USERS'],
      [{ ...env, RECC_ADMIN_ROLE_ARNS: 'recc-admin' }, 'RECC_ADMIN_ROLE_ARNS'],
      // The old name-based admin setting must not be silently ignored on upgrade.
      [{ ...env, ADMIN_ROLE_NAMES: 'recc-admin' }, 'ADMIN_ROLE_NAMES'],
    ];
    for (const [input, name] of cases) {
      let err: unknown;
      try {
        readIdentityConfig(input);
      } catch (e) {
        err = e;
      }
      expect(err, name).toBeInstanceOf(ConfigError);
      expect((err as ConfigError).details.map((d) => d.path.split(/[.[]/)[0])).toContain(name);
    }
  });
});

describe('Function: rolePatternMatches', () => {
  it('matches * as any run, literally otherwise, case-sensitive, names against names and ARNs against ARNs', () => {
    const name = 'AWSReservedSSO_ReccResearcher_0123456789abcdef';
    const arn = `arn:aws:iam::111111111111:role/${name}`;
    expect(rolePatternMatches('AWSReservedSSO_*', name, arn)).toBe(true);
    expect(rolePatternMatches('*Researcher*', name, arn)).toBe(true);
    expect(rolePatternMatches(name, name, arn)).toBe(true);
    expect(rolePatternMatches('AWSReservedSSO_Recc', name, arn)).toBe(false);
    expect(rolePatternMatches('awsreservedsso_*', name, arn)).toBe(false);
    expect(rolePatternMatches('AWSReservedSSO.ReccResearcher.*', name, arn)).toBe(false);
    expect(rolePatternMatches('arn:aws:iam::111111111111:role/AWSReservedSSO_*', name, arn)).toBe(true);
    expect(rolePatternMatches('arn:aws:iam::222222222222:role/AWSReservedSSO_*', name, arn)).toBe(false);
    expect(rolePatternMatches('arn:aws:iam::111111111111:role/AWSReservedSSO_*', name, name)).toBe(false);
  });

  it('answers quickly for a pattern of many stars against a long name', () => {
    const started = performance.now();
    expect(rolePatternMatches(`${'a*'.repeat(500)}b`, 'a'.repeat(64), 'x')).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
