import { ApiStatusError } from './k8s-store.ts';
import type { RbacAuthorizer, RequestAttributes, UserInfo } from './k8s-rbac.ts';

/**
 * SelfSubjectAccessReview (`kubectl auth can-i`), as the API server serves
 * it (pkg/registry/authorization/selfsubjectaccessreview/rest.go): the
 * request's own identity is asked about the attributes in `spec`, through
 * the same authorizer as every request, and the review comes back with
 * `status.allowed` (201 Created; nothing is stored). Exactly one of
 * `resourceAttributes` and `nonResourceAttributes` must be given
 * (pkg/apis/authorization/validation: 422 Invalid otherwise). Creating a
 * review is itself authorised first, like any request: the bootstrap
 * `system:basic-user` role grants it to every authenticated user.
 */
export const SSAR_PATH = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

export function isSelfSubjectAccessReview(method: string, pathname: string): boolean {
  return method === 'POST' && pathname.replace(/\/+$/, '') === SSAR_PATH;
}

interface ReviewSpec {
  resourceAttributes?: { namespace?: string; verb?: string; group?: string; resource?: string; subresource?: string; name?: string };
  nonResourceAttributes?: { path?: string; verb?: string };
}

function invalid(field: string, message: string): ApiStatusError {
  return new ApiStatusError(422, 'Invalid', `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: ${field}: ${message}`, {
    group: 'authorization.k8s.io',
    kind: 'SelfSubjectAccessReview',
    causes: [{ reason: 'FieldValueInvalid', message, field }],
  });
}

/** Answer a review for `user` (undefined: a server without authentication, which allows everything). */
export function selfSubjectAccessReview(rbac: RbacAuthorizer, user: UserInfo | undefined, body: unknown): { status: number; body: unknown } {
  const review = (body && typeof body === 'object' ? body : {}) as { kind?: string; apiVersion?: string; metadata?: Record<string, unknown>; spec?: ReviewSpec };
  const spec = review.spec ?? {};
  const resource = spec.resourceAttributes;
  const nonResource = spec.nonResourceAttributes;
  if ((resource === undefined) === (nonResource === undefined)) {
    throw invalid('spec.resourceAttributes', 'exactly one of nonResourceAttributes or resourceAttributes must be specified');
  }
  const attrs: RequestAttributes = resource
    ? {
        resourceRequest: true,
        verb: resource.verb ?? '',
        path: '',
        apiGroup: resource.group ?? '',
        resource: resource.resource ?? '',
        subresource: resource.subresource ?? '',
        name: resource.name ?? '',
        namespace: resource.namespace ?? '',
      }
    : { resourceRequest: false, verb: nonResource?.verb ?? '', path: nonResource?.path ?? '', apiGroup: '', resource: '', subresource: '', name: '', namespace: '' };
  const decision = user ? rbac.authorize(user, attrs) : ({ allowed: true, by: 'AlwaysAllow' } as const);
  const reason = decision.allowed ? (decision.by === 'rbac' ? 'RBAC: allowed by a binding of the user or one of their groups' : `allowed by ${decision.by}`) : '';
  return {
    status: 201,
    body: {
      kind: 'SelfSubjectAccessReview',
      apiVersion: 'authorization.k8s.io/v1',
      metadata: { ...(review.metadata ?? {}), creationTimestamp: null },
      spec,
      status: { allowed: decision.allowed, ...(reason ? { reason } : {}) },
    },
  };
}
