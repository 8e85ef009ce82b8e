import type { K8sObject } from './types.ts';
import { EKS_LABELS, MANAGED_BY, OBJECT_NAMES, userEditKubernetesGroup } from './naming.ts';

/**
 * `recc cluster kubeconfig ID --edit` (issue 21 #3): the Role and RoleBinding
 * that let the cluster's owner exec into and delete the pods of this one
 * namespace, and nothing else. Pure builders.
 *
 * Why a Role of our own and not an EKS access policy: EKS access policies
 * are AWS-managed only. The narrowest one that allows exec,
 * AmazonEKSEditPolicy, also creates, patches and deletes Deployments,
 * Services and ConfigMaps, creates pods (any image, with the cluster's
 * service account), attaches, proxies, and reads and writes Secrets, the
 * cluster's token and TLS key among them. Kubernetes RBAC can say exactly
 * "create pods/exec, delete pods", so the access entry only carries a group
 * and this namespace's RoleBinding gives that group the Role.
 *
 * `get` on pods/exec: kubectl 1.30+ opens exec as a WebSocket upgrade of a
 * GET; API servers authorise that as `create` (the
 * AuthorizePodWebsocketUpgradeCreatePermission gate, on by default since
 * 1.30), older ones as `get`. Both verbs grant the same exec. Reading pods
 * (which kubectl exec and delete do first) is the read-only Role's.
 */
export interface EditAccessTarget {
  clusterId: string;
  owner: string;
  namespace: string;
}

export const EDIT_RULES = [
  { apiGroups: [''], resources: ['pods/exec'], verbs: ['create', 'get'] },
  { apiGroups: [''], resources: ['pods'], verbs: ['delete'] },
] as const;

function metadata(target: EditAccessTarget, name: string): K8sObject['metadata'] {
  return {
    name,
    namespace: target.namespace,
    labels: { [EKS_LABELS.managedBy]: MANAGED_BY, 'app.kubernetes.io/managed-by': MANAGED_BY, 'app.kubernetes.io/component': 'kubectl-edit' },
  };
}

export function buildEditRole(target: EditAccessTarget): K8sObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'Role',
    metadata: metadata(target, OBJECT_NAMES.editRole),
    rules: EDIT_RULES.map((r) => ({ apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })),
  };
}

export function buildEditRoleBinding(target: EditAccessTarget, kubernetesGroupPrefix?: string): K8sObject {
  return {
    apiVersion: 'rbac.authorization.k8s.io/v1',
    kind: 'RoleBinding',
    metadata: metadata(target, OBJECT_NAMES.editRoleBinding),
    subjects: [{ kind: 'Group', name: userEditKubernetesGroup(target.owner, kubernetesGroupPrefix), apiGroup: 'rbac.authorization.k8s.io' }],
    roleRef: { kind: 'Role', name: OBJECT_NAMES.editRole, apiGroup: 'rbac.authorization.k8s.io' },
  };
}
