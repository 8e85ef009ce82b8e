import { ApiStatusError, type Obj, type ObjectStore, resourceByKind } from './k8s-store.ts';

/**
 * Authorisation in the fake Kubernetes API server, as the real API server
 * does it for the identities it is given:
 * - request attributes from the URL and method (verb, API group, resource,
 *   subresource, name, namespace; non-resource paths);
 * - the union authorizer: the privileged group `system:masters`, then RBAC
 *   (ClusterRoleBindings everywhere, RoleBindings in their namespace), then
 *   EKS access policies (the EKS webhook authorizer) when given;
 * - the escalation check on creating/updating Roles, ClusterRoles,
 *   RoleBindings and ClusterRoleBindings;
 * - real 403 `Forbidden` Status messages.
 * Each rule names the Kubernetes source file it follows.
 */
export interface UserInfo {
  username: string;
  groups: string[];
  /** The IAM principal an EKS token resolved to (access policies are looked up by it). */
  principalArn?: string;
}

export interface PolicyRule {
  verbs: string[];
  apiGroups?: string[];
  resources?: string[];
  resourceNames?: string[];
  nonResourceURLs?: string[];
}

export interface RequestAttributes {
  resourceRequest: boolean;
  verb: string;
  /** Non-resource requests. */
  path: string;
  apiGroup: string;
  resource: string;
  subresource: string;
  name: string;
  namespace: string;
}

// staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go: the verb of a resource request
// follows the HTTP method, GET without a name is list (or watch with ?watch=true), DELETE without
// a name is deletecollection; paths that are not /api/{v}/... or /apis/{g}/{v}/... are non-resource.
export function requestAttributes(method: string, url: URL): RequestAttributes {
  const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
  const base: RequestAttributes = { resourceRequest: false, verb: method.toLowerCase(), path: url.pathname, apiGroup: '', resource: '', subresource: '', name: '', namespace: '' };
  const httpVerb: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };
  base.verb = httpVerb[method] ?? method.toLowerCase();
  let rest: string[];
  let apiGroup = '';
  if (parts[0] === 'api' && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === 'apis' && parts.length >= 4) {
    apiGroup = parts[1] ?? '';
    rest = parts.slice(3);
  } else return base;
  const attrs: RequestAttributes = { ...base, resourceRequest: true, apiGroup };
  // URL forms: /namespaces/{namespace}/{kind}/*; `namespaces/{name}` itself is the namespace resource with Namespace = name.
  if (rest[0] === 'namespaces') {
    if (rest.length > 1) {
      attrs.namespace = rest[1] ?? '';
      // `namespaces/{name}/status|finalize` are subresources of the namespace itself.
      if (rest.length > 2 && rest[2] !== 'status' && rest[2] !== 'finalize') rest = rest.slice(2);
    }
  }
  attrs.resource = rest[0] ?? '';
  attrs.name = rest[1] ?? '';
  attrs.subresource = rest[2] ?? '';
  if (!attrs.name && attrs.verb === 'get') attrs.verb = url.searchParams.get('watch') === 'true' ? 'watch' : 'list';
  if (!attrs.name && attrs.verb === 'delete') attrs.verb = 'deletecollection';
  return attrs;
}

// pkg/apis/rbac/v1/evaluation_helpers.go: VerbMatches, APIGroupMatches, ResourceMatches, ResourceNameMatches, NonResourceURLMatches.
const verbMatches = (rule: PolicyRule, verb: string) => rule.verbs.some((v) => v === '*' || v === verb);
const groupMatches = (rule: PolicyRule, group: string) => (rule.apiGroups ?? []).some((g) => g === '*' || g === group);
function resourceMatches(rule: PolicyRule, combined: string, subresource: string): boolean {
  for (const r of rule.resources ?? []) {
    if (r === '*' || r === combined) return true;
    if (subresource && r.length === subresource.length + 2 && r.startsWith('*/') && r.endsWith(subresource)) return true;
  }
  return false;
}
const nameMatches = (rule: PolicyRule, name: string) => !rule.resourceNames?.length || rule.resourceNames.includes(name);
function urlMatches(rule: PolicyRule, path: string): boolean {
  for (const u of rule.nonResourceURLs ?? []) {
    if (u === '*' || u === path) return true;
    if (u.endsWith('*') && path.startsWith(u.slice(0, -1))) return true;
  }
  return false;
}

/** plugin/pkg/auth/authorizer/rbac/rbac.go: RuleAllows. */
export function ruleAllows(attrs: RequestAttributes, rule: PolicyRule): boolean {
  if (attrs.resourceRequest) {
    const combined = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    return verbMatches(rule, attrs.verb) && groupMatches(rule, attrs.apiGroup) && resourceMatches(rule, combined, attrs.subresource) && nameMatches(rule, attrs.name);
  }
  return verbMatches(rule, attrs.verb) && urlMatches(rule, attrs.path);
}

// pkg/registry/rbac/validation/rule.go: appliesToUser (User by name, Group by membership, ServiceAccount by its user name).
function subjectApplies(user: UserInfo, subject: { kind?: string; name?: string; namespace?: string }, bindingNamespace: string): boolean {
  if (subject.kind === 'User') return subject.name === user.username;
  if (subject.kind === 'Group') return user.groups.includes(subject.name ?? '');
  if (subject.kind === 'ServiceAccount') return user.username === `system:serviceaccount:${subject.namespace || bindingNamespace}:${subject.name}`;
  return false;
}

/** The bootstrap policy every cluster has (plugin/pkg/auth/authorizer/rbac/bootstrappolicy/policy.go, controller_policy.go). */
export function bootstrapRbacObjects(): Obj[] {
  const cr = (name: string, rules: PolicyRule[]): Obj => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } }, rules });
  const crb = (name: string, role: string, group: string): Obj => ({
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: { 'kubernetes.io/bootstrapping': 'rbac-defaults' } },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
  });
  const read = ['get', 'list', 'watch'];
  return [
    cr('cluster-admin', [
      { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
      { verbs: ['*'], nonResourceURLs: ['*'] },
    ]),
    cr('system:discovery', [{ verbs: ['get'], nonResourceURLs: ['/api', '/api/*', '/apis', '/apis/*', '/healthz', '/livez', '/openapi', '/openapi/*', '/readyz', '/version', '/version/'] }]),
    cr('system:basic-user', [{ verbs: ['create'], apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'] }]),
    cr('system:public-info-viewer', [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'] }]),
    cr('view', [
      { verbs: read, apiGroups: [''], resources: ['configmaps', 'endpoints', 'persistentvolumeclaims', 'pods', 'pods/log', 'pods/status', 'replicationcontrollers', 'services', 'events', 'limitranges', 'resourcequotas', 'serviceaccounts', 'namespaces'] },
      { verbs: read, apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'] },
      { verbs: read, apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'] },
    ]),
    crb('cluster-admin', 'cluster-admin', 'system:masters'),
    crb('system:discovery', 'system:discovery', 'system:authenticated'),
    crb('system:basic-user', 'system:basic-user', 'system:authenticated'),
    crb('system:public-info-viewer', 'system:public-info-viewer', 'system:authenticated'),
  ];
}

/**
 * EKS access policies as the EKS authorizer webhook applies them
 * (https://docs.aws.amazon.com/eks/latest/userguide/access-policy-permissions.html):
 * the policy's Kubernetes rules, in every namespace for a `cluster` scope or
 * only in the listed namespaces for a `namespace` scope.
 */
export interface AccessPolicyAssociation {
  policyArn: string;
  accessScope: { type: string; namespaces?: string[] };
}

const EKS_POLICY = 'arn:aws:eks::aws:cluster-access-policy/';
const ACCESS_POLICY_RULES: Record<string, PolicyRule[]> = {
  [`${EKS_POLICY}AmazonEKSClusterAdminPolicy`]: [
    { verbs: ['*'], apiGroups: ['*'], resources: ['*'] },
    { verbs: ['*'], nonResourceURLs: ['*'] },
  ],
  [`${EKS_POLICY}AmazonEKSAdminPolicy`]: [{ verbs: ['*'], apiGroups: ['', 'apps', 'networking.k8s.io', 'rbac.authorization.k8s.io'], resources: ['*'] }],
  [`${EKS_POLICY}AmazonEKSEditPolicy`]: [
    { verbs: ['create', 'delete', 'deletecollection', 'patch', 'update', 'get', 'list', 'watch'], apiGroups: [''], resources: ['pods', 'pods/attach', 'pods/exec', 'pods/portforward', 'pods/proxy', 'pods/log', 'services', 'services/proxy', 'configmaps', 'secrets', 'persistentvolumeclaims'] },
    { verbs: ['create', 'delete', 'deletecollection', 'patch', 'update', 'get', 'list', 'watch'], apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'] },
  ],
  // View: read everything namespaced except Secrets.
  [`${EKS_POLICY}AmazonEKSViewPolicy`]: [
    { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['configmaps', 'endpoints', 'events', 'limitranges', 'namespaces', 'persistentvolumeclaims', 'pods', 'pods/log', 'pods/status', 'replicationcontrollers', 'resourcequotas', 'serviceaccounts', 'services'] },
    { verbs: ['get', 'list', 'watch'], apiGroups: ['apps'], resources: ['deployments', 'replicasets', 'statefulsets', 'daemonsets'] },
    { verbs: ['get', 'list', 'watch'], apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'] },
  ],
};

export type Decision = { allowed: true; by: string } | { allowed: false; reason: string };

export class RbacAuthorizer {
  constructor(
    private readonly store: ObjectStore,
    /** Access policies of an EKS principal (the EKS authorizer webhook), when modelled. */
    private readonly accessPolicies?: (user: UserInfo) => AccessPolicyAssociation[],
  ) {}

  /** Rules that RBAC grants the user in a namespace ('' = cluster-wide only). pkg/registry/rbac/validation/rule.go: VisitRulesFor. */
  rulesFor(user: UserInfo, namespace: string): PolicyRule[] {
    const rules: PolicyRule[] = [];
    for (const b of this.store.list(resourceByKind('ClusterRoleBinding'))) {
      if (!((b.subjects as any[] | undefined) ?? []).some((s: any) => subjectApplies(user, s, ''))) continue;
      rules.push(...this.roleRefRules(b.roleRef as { kind?: string; name?: string } | undefined, ''));
    }
    if (namespace) {
      for (const b of this.store.list(resourceByKind('RoleBinding'), namespace)) {
        if (!((b.subjects as any[] | undefined) ?? []).some((s: any) => subjectApplies(user, s, namespace))) continue;
        rules.push(...this.roleRefRules(b.roleRef as { kind?: string; name?: string } | undefined, namespace));
      }
    }
    return rules;
  }

  /** pkg/registry/rbac/validation/rule.go: GetRoleReferenceRules (a missing role grants nothing). */
  roleRefRules(ref: { kind?: string; name?: string } | undefined, namespace: string): PolicyRule[] {
    if (!ref?.name) return [];
    const role = ref.kind === 'ClusterRole' ? this.store.get(resourceByKind('ClusterRole'), undefined, ref.name) : this.store.get(resourceByKind('Role'), namespace, ref.name);
    return (role?.rules as PolicyRule[] | undefined) ?? [];
  }

  /**
   * The union authorizer (staging/src/k8s.io/apiserver/pkg/authorization/union/union.go) in the
   * order pkg/kubeapiserver/authorizer/config.go builds it: the privileged group, RBAC, then the
   * EKS webhook.
   */
  authorize(user: UserInfo, attrs: RequestAttributes): Decision {
    if (user.groups.includes('system:masters')) return { allowed: true, by: 'system:masters' };
    if (this.rulesFor(user, attrs.namespace).some((r) => ruleAllows(attrs, r))) return { allowed: true, by: 'rbac' };
    for (const a of this.accessPolicies?.(user) ?? []) {
      const inScope = a.accessScope.type === 'cluster' || (attrs.namespace !== '' && (a.accessScope.namespaces ?? []).includes(attrs.namespace));
      if (inScope && (ACCESS_POLICY_RULES[a.policyArn] ?? []).some((r) => ruleAllows(attrs, r))) return { allowed: true, by: a.policyArn };
    }
    return { allowed: false, reason: '' };
  }

  /** 403 as the API server words it (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go: forbiddenMessage). */
  static forbidden(user: UserInfo, attrs: RequestAttributes): ApiStatusError {
    if (!attrs.resourceRequest) {
      return new ApiStatusError(403, 'Forbidden', `forbidden: User "${user.username}" cannot ${attrs.verb} path "${attrs.path}"`, {});
    }
    const resource = attrs.subresource ? `${attrs.resource}/${attrs.subresource}` : attrs.resource;
    const where = attrs.namespace ? `in the namespace "${attrs.namespace}"` : 'at the cluster scope';
    const reason = `User "${user.username}" cannot ${attrs.verb} resource "${resource}" in API group "${attrs.apiGroup}" ${where}`;
    // staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go: NewForbidden.
    const qualified = attrs.apiGroup ? `${attrs.resource}.${attrs.apiGroup}` : attrs.resource;
    const subject = attrs.name ? `${qualified} "${attrs.name}"` : qualified;
    return new ApiStatusError(403, 'Forbidden', `${subject} is forbidden: ${reason}`, { ...(attrs.name ? { name: attrs.name } : {}), group: attrs.apiGroup, kind: attrs.resource });
  }

  /**
   * The escalation check on writing RBAC objects:
   * pkg/registry/rbac/role/policybased/storage.go and clusterrole/policybased/storage.go (a role may
   * only hold rules its author holds, unless the author may `escalate`), and
   * rolebinding/policybased/storage.go and clusterrolebinding/policybased/storage.go (a binding may
   * only grant a role whose rules its author holds, unless the author may `bind` that role).
   * pkg/registry/rbac/escalation_check.go: EscalationAllowed (system:masters) comes first.
   */
  checkEscalation(user: UserInfo, kind: string, namespace: string, obj: Obj): void {
    if (user.groups.includes('system:masters')) return;
    const rbacGroup = 'rbac.authorization.k8s.io';
    const base = { resourceRequest: true, path: '', apiGroup: rbacGroup, subresource: '', namespace };
    let rules: PolicyRule[];
    if (kind === 'Role' || kind === 'ClusterRole') {
      const resource = kind === 'Role' ? 'roles' : 'clusterroles';
      // RoleEscalationAuthorized: `escalate` on the role kind (name empty: any).
      if (this.authorize(user, { ...base, verb: 'escalate', resource, name: '' }).allowed) return;
      rules = (obj.rules as PolicyRule[] | undefined) ?? [];
    } else if (kind === 'RoleBinding' || kind === 'ClusterRoleBinding') {
      const ref = obj.roleRef as { kind?: string; name?: string } | undefined;
      // BindingAuthorized: `bind` on the referenced role, by name.
      const resource = ref?.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
      if (this.authorize(user, { ...base, verb: 'bind', resource, name: ref?.name ?? '', namespace: ref?.kind === 'ClusterRole' ? '' : namespace }).allowed) return;
      const roleKind = ref?.kind === 'ClusterRole' ? 'ClusterRole' : 'Role';
      const role = this.store.get(resourceByKind(roleKind), roleKind === 'Role' ? namespace : undefined, ref?.name ?? '');
      if (!role) {
        // GetRoleReferenceRules returns the role's NotFound.
        throw new ApiStatusError(404, 'NotFound', `${roleKind === 'Role' ? 'roles' : 'clusterroles'}.${rbacGroup} "${ref?.name ?? ''}" not found`, { name: ref?.name ?? '', group: rbacGroup, kind: roleKind === 'Role' ? 'roles' : 'clusterroles' });
      }
      rules = (role.rules as PolicyRule[] | undefined) ?? [];
    } else return;
    // pkg/registry/rbac/validation/rule.go: ConfirmNoEscalation, with the author's RBAC rules in the
    // namespace (the rule resolver sees RBAC only, not webhook grants) and policy_comparator.go: Covers.
    const owned = this.rulesFor(user, namespace);
    const missing = uncovered(owned, rules);
    if (missing.length === 0) return;
    const plural = { Role: 'roles', ClusterRole: 'clusterroles', RoleBinding: 'rolebindings', ClusterRoleBinding: 'clusterrolebindings' }[kind];
    const text = missing.map(formatRule).join('\n');
    throw new ApiStatusError(
      403,
      'Forbidden',
      `${plural}.${rbacGroup} "${obj.metadata.name}" is forbidden: user "${user.username}" (groups=${JSON.stringify(user.groups)}) is attempting to grant RBAC permissions not currently held:\n${text}`,
      { name: obj.metadata.name, group: rbacGroup, kind: plural },
    );
  }
}

// pkg/registry/rbac/validation/policy_comparator.go: Covers breaks each requested rule into one verb,
// group, resource and name (or URL) at a time, and each piece must be covered by an owned rule.
function uncovered(owned: PolicyRule[], requested: PolicyRule[]): PolicyRule[] {
  const missing: PolicyRule[] = [];
  for (const rule of requested) {
    for (const verb of rule.verbs ?? []) {
      for (const url of rule.nonResourceURLs ?? []) {
        const piece: PolicyRule = { verbs: [verb], nonResourceURLs: [url] };
        if (!owned.some((o) => covers(o, piece))) missing.push(piece);
      }
      for (const group of rule.apiGroups ?? []) {
        for (const resource of rule.resources ?? []) {
          const names = rule.resourceNames?.length ? rule.resourceNames : [undefined];
          for (const name of names) {
            const piece: PolicyRule = { verbs: [verb], apiGroups: [group], resources: [resource], ...(name ? { resourceNames: [name] } : {}) };
            if (!owned.some((o) => covers(o, piece))) missing.push(piece);
          }
        }
      }
    }
  }
  return missing;
}

// policy_comparator.go: ruleCovers (verbs, groups, resources with `*` and `*/sub`, non-resource URLs with a trailing `*`, names).
function covers(owner: PolicyRule, piece: PolicyRule): boolean {
  const has = (list: string[] | undefined, v: string) => (list ?? []).some((x) => x === '*' || x === v);
  if (!has(owner.verbs, piece.verbs[0] ?? '')) return false;
  if (piece.nonResourceURLs) return urlMatches(owner, piece.nonResourceURLs[0] ?? '');
  if (!has(owner.apiGroups, piece.apiGroups?.[0] ?? '')) return false;
  const resource = piece.resources?.[0] ?? '';
  const sub = resource.includes('/') ? resource.slice(resource.indexOf('/') + 1) : '';
  const resourceOk = (owner.resources ?? []).some((r) => r === '*' || r === resource || (sub !== '' && r === `*/${sub}`) || (r.endsWith('/*') && resource.startsWith(r.slice(0, -1))));
  if (!resourceOk) return false;
  if (!owner.resourceNames?.length) return true;
  return piece.resourceNames !== undefined && owner.resourceNames.includes(piece.resourceNames[0] ?? '');
}

// How the escalation error lists a rule (pkg/apis/rbac/v1/helpers.go: CompactString).
function formatRule(r: PolicyRule): string {
  if (r.nonResourceURLs) return `{NonResourceURLs:${JSON.stringify(r.nonResourceURLs)}, Verbs:${JSON.stringify(r.verbs)}}`;
  const names = r.resourceNames ? `, ResourceNames:${JSON.stringify(r.resourceNames)}` : '';
  return `{APIGroups:${JSON.stringify(r.apiGroups)}, Resources:${JSON.stringify(r.resources)}${names}, Verbs:${JSON.stringify(r.verbs)}}`;
}
