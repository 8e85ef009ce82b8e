import type { Caller } from '../../control/clusters.ts';
import { UnauthenticatedError } from '../../control/errors.ts';

/**
 * Who is calling, from the IAM principal API Gateway verified (HTTP API v2,
 * AWS_IAM authorization: `requestContext.authorizer.iam.userArn`).
 *
 * - `arn:aws:sts::ACCT:assumed-role/ROLE/SESSION` → user SESSION (the firm
 *   maps AD users to roles and sets the session name to the user name);
 *   admin when ROLE is one of `adminRoleNames`.
 * - `arn:aws:iam::ACCT:user/PATH/NAME` → user NAME (never admin).
 * - anything else (root, federated users, a missing authorizer) → 401.
 */
export interface IamPrincipal {
  userArn?: string | null;
}

export interface ParsedPrincipal {
  user: string;
  roleName?: string;
}

const ASSUMED_ROLE = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/((?:[^/]+\/)*)([^/]+)\/([^/]+)$/;
const IAM_USER = /^arn:aws[a-z-]*:iam::\d{12}:user\/(?:[^/]+\/)*([^/]+)$/;

export function parsePrincipalArn(arn: string): ParsedPrincipal | undefined {
  const role = ASSUMED_ROLE.exec(arn);
  if (role?.[2] && role[3]) return { user: role[3], roleName: role[2] };
  const user = IAM_USER.exec(arn);
  if (user?.[1]) return { user: user[1] };
  return undefined;
}

export function callerFromIam(iam: IamPrincipal | null | undefined, adminRoleNames: readonly string[]): Caller {
  const arn = iam?.userArn;
  if (!arn) {
    throw new UnauthenticatedError('the request carries no IAM identity', [
      { path: 'identity', message: 'requests must be signed with AWS credentials (SigV4)' },
    ]);
  }
  const parsed = parsePrincipalArn(arn);
  if (!parsed) {
    throw new UnauthenticatedError('this kind of IAM principal cannot use recc', [
      { path: 'identity', message: 'use an IAM user or an assumed role (e.g. an SSO profile)' },
    ]);
  }
  return { user: parsed.user, admin: parsed.roleName !== undefined && adminRoleNames.includes(parsed.roleName) };
}
