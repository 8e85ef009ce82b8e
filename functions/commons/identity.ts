import type { Caller } from '../../control/clusters.ts';
import { UnauthenticatedError } from '../../control/errors.ts';
import { IdentityMappingError, type IdentityMapping } from './errors.ts';

/**
 * Who is calling, from the IAM principal API Gateway verified (HTTP API v2,
 * AWS_IAM authorization: `requestContext.authorizer.iam.userArn`).
 *
 * The user is taken only from what the caller cannot choose (issue 18):
 *
 * | principal | user | condition |
 * |---|---|---|
 * | `arn:aws:sts::A:assumed-role/R/S`, R in the principal table | the mapped user | A allowed |
 * | …, R = `AWSReservedSSO_*` (IAM Identity Center) | S (Identity Center sets it to the user name) | A allowed, R matches an allowed role pattern or is an admin role |
 * | …, R in `sourceIdentityRoles` | S (the trust policy forces S = sts:SourceIdentity, README) | A allowed |
 * | `arn:aws:iam::A:user/PATH/NAME` | the user the principal table gives for the full ARN | A allowed |
 * | anything else (other roles, root, federated users, malformed ARNs) | 403 `IdentityMappingError` naming the mapping that failed | |
 *
 * Admin comes only from a session of a role whose ARN is in `adminRoleArns`
 * (exact, case-sensitive), never from a name. A session name of any other
 * role is chosen by whoever assumes it, so it is never a user name.
 *
 * Why not sts:SourceIdentity directly: API Gateway's IAM authorizer context
 * (`accessKey, accountId, callerId, cognitoIdentity, principalOrgId, userArn,
 * userId`) does not carry the source identity, so the Lambda cannot read it.
 * It can trust the session name only of roles whose trust policy binds it to
 * the source identity, and that is declared in config, per role ARN.
 */
export interface IamPrincipal {
  userArn?: string | null;
}

/** The validated identity configuration (`identityConfig` / `readIdentityConfig` in config.ts). */
export interface IdentityConfig {
  /** 12-digit AWS accounts whose principals may be mapped at all. */
  readonly allowedAccounts: readonly string[];
  /** Role names or role ARNs, `*` as wildcard, case-sensitive: Identity Center roles accepted. */
  readonly allowedRoles: readonly string[];
  /** Role ARNs (`arn:aws:iam::A:role/NAME`) whose sessions are admins. */
  readonly adminRoleArns: readonly string[];
  /** Role ARNs whose trust policy requires sts:SourceIdentity and a session name equal to it. */
  readonly sourceIdentityRoles: readonly string[];
  /** Full IAM user ARN or role ARN → user. A Map, so no key can collide with object internals. */
  readonly principalUsers: ReadonlyMap<string, string>;
  /**
   * Role ARNs of the clusters' own pods (the EKS Pod Identity role): their
   * sessions are nobody until they prove one cluster (shared/api/cluster-proof.ts),
   * then they act for its owner on that cluster only (cluster-caller.ts).
   */
  readonly clusterRoleArns?: readonly string[];
}

/** IAM Identity Center creates its roles with this name prefix (path `/aws-reserved/sso.amazonaws.com/`). */
export const IDENTITY_CENTER_ROLE_PREFIX = 'AWSReservedSSO_';

/**
 * The characters IAM allows in user, role and role-session names; ASCII only,
 * so look-alike letters (Cyrillic 'а', fullwidth 'ａ', zero-width marks) never match.
 */
export const IAM_NAME = /^[A-Za-z0-9_+=,.@-]{1,64}$/;
export const ACCOUNT_ID = /^\d{12}$/;
const PARTITION = '(aws|aws-cn|aws-us-gov)';
const NAME = '([A-Za-z0-9_+=,.@-]{1,64})';
const ASSUMED_ROLE = new RegExp(`^arn:${PARTITION}:sts::(\\d{12}):assumed-role/${NAME}/${NAME}$`);
/** IAM paths are `/`-separated printable ASCII (0x21–0x7E). */
const IAM_USER = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):user/(?:[\\x21-\\x2e\\x30-\\x7e]+/)*${NAME}$`);
const ROOT = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):root$`);
const FEDERATED_USER = new RegExp(`^arn:${PARTITION}:sts::(\\d{12}):federated-user/${NAME}$`);
export const ROLE_ARN = new RegExp(`^arn:${PARTITION}:iam::(\\d{12}):role/${NAME}$`);

export type ParsedPrincipal =
  | { kind: 'assumed-role'; arn: string; partition: string; account: string; roleName: string; roleArn: string; sessionName: string }
  | { kind: 'iam-user'; arn: string; partition: string; account: string }
  | { kind: 'root'; arn: string; partition: string; account: string }
  | { kind: 'federated-user'; arn: string; partition: string; account: string };

/** The parts of a principal ARN, or undefined when it is not one of the four shapes (strictly, ASCII only). */
export function parsePrincipalArn(arn: string): ParsedPrincipal | undefined {
  const role = ASSUMED_ROLE.exec(arn);
  if (role) {
    const [, partition = '', account = '', roleName = '', sessionName = ''] = role;
    return { kind: 'assumed-role', arn, partition, account, roleName, roleArn: `arn:${partition}:iam::${account}:role/${roleName}`, sessionName };
  }
  for (const [kind, pattern] of [['iam-user', IAM_USER], ['root', ROOT], ['federated-user', FEDERATED_USER]] as const) {
    const m = pattern.exec(arn);
    if (m) return { kind, arn, partition: m[1] ?? '', account: m[2] ?? '' };
  }
  return undefined;
}

/**
 * `*` matches any run of characters, everything else itself, case-sensitive.
 * A role-ARN pattern (`arn:…`) is matched against the role ARN, any other
 * against the role name. Iterative (no regex), so no pattern can backtrack
 * exponentially.
 */
export function rolePatternMatches(pattern: string, roleName: string, roleArn: string): boolean {
  return globMatches(pattern, pattern.startsWith('arn:') ? roleArn : roleName);
}

function globMatches(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let resume = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p;
      resume = t;
      p += 1;
    } else if (star >= 0) {
      p = star + 1;
      resume += 1;
      t = resume;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p += 1;
  return p === pattern.length;
}

function refuse(mapping: IdentityMapping, arn: string, message: string, hint: string): never {
  throw new IdentityMappingError(mapping, arn, message, hint);
}

/** Map the verified IAM principal to a caller, or throw (401 without a principal, 403 when no mapping applies). */
export function callerFromIam(iam: IamPrincipal | null | undefined, config: IdentityConfig): Caller {
  const arn = iam?.userArn;
  if (!arn) {
    throw new UnauthenticatedError('the request carries no IAM identity', [
      { path: 'identity', message: 'requests must be signed with AWS credentials (SigV4)' },
    ]);
  }
  const principal = parsePrincipalArn(arn);
  if (!principal) {
    refuse('malformed', arn, 'the principal ARN is not a well-formed IAM user or role-session ARN', 'expected arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION or arn:aws:iam::ACCOUNT:user/PATH/NAME with ASCII IAM names');
  }
  if (principal.kind === 'root') {
    refuse('root', arn, 'the account root user is not mapped to a recc user', 'sign in through IAM Identity Center or a mapped role or IAM user');
  }
  if (principal.kind === 'federated-user') {
    refuse('federated-user', arn, 'federated users (sts:GetFederationToken) name themselves, so they are not mapped to a recc user', 'sign in through IAM Identity Center or a mapped role or IAM user');
  }
  if (!config.allowedAccounts.includes(principal.account)) {
    refuse('account', arn, `account ${principal.account} is not an allowed account`, `account ${principal.account} is not in RECC_ALLOWED_ACCOUNTS`);
  }
  if (principal.kind === 'iam-user') {
    const user = config.principalUsers.get(arn);
    if (user === undefined) {
      refuse('iam-user', arn, `IAM user ${arn} is not mapped to a recc user`, 'IAM users are mapped by their full ARN only: add it to RECC_PRINCIPAL_USERS');
    }
    return { user, admin: false, principalArn: arn };
  }

  const admin = config.adminRoleArns.includes(principal.roleArn);
  const mapped = config.principalUsers.get(principal.roleArn);
  if (mapped !== undefined) return { user: mapped, admin, principalArn: arn };
  if (config.sourceIdentityRoles.includes(principal.roleArn)) return { user: principal.sessionName, admin, principalArn: arn };
  const allowed = admin || config.allowedRoles.some((p) => rolePatternMatches(p, principal.roleName, principal.roleArn));
  if (!allowed) {
    refuse('role', arn, `role ${principal.roleArn} is not an allowed role`, `role ${principal.roleName} matches nothing in RECC_ALLOWED_ROLES, RECC_ADMIN_ROLE_ARNS, RECC_SOURCE_IDENTITY_ROLES or RECC_PRINCIPAL_USERS`);
  }
  if (principal.roleName.startsWith(IDENTITY_CENTER_ROLE_PREFIX)) return { user: principal.sessionName, admin, principalArn: arn };
  return refuse(
    'role',
    arn,
    `role ${principal.roleArn} is allowed, but the session name of a role outside IAM Identity Center is chosen by whoever assumes it`,
    `map every session of ${principal.roleArn} to one user in RECC_PRINCIPAL_USERS, or require sts:SourceIdentity in its trust policy and list it in RECC_SOURCE_IDENTITY_ROLES`,
  );
}
