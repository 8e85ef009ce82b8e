import type { K8sObject } from './types.ts';

/**
 * What recc's own Lambda roles (provisioner, harvester) may do in Kubernetes
 * (issue 17 item 7). Their EKS access entries (serverless.yml
 * `ProvisionerAccessEntry`, `HarvesterAccessEntry`) put them in the group
 * `recc:control-plane` and associate no AWS access policy: none of EKS's
 * policies fits (AmazonEKSAdminPolicy on the cluster reads every Secret in
 * kube-system and still cannot create a Namespace or a ResourceQuota;
 * AmazonEKSClusterAdminPolicy is cluster-admin). This ClusterRole, bound to
 * that group, is exactly the calls the EKS backend makes (adapters/eks/*.ts),
 * plus what the escalation check asks of whoever creates the per-cluster Role
 * (it grants the user read access and port-forward in their namespace, so the
 * creator must hold those). Applied once per EKS cluster:
 * `recc render --control-plane-rbac | kubectl apply -f -`.
 * test/integration/eks/control-plane-rbac.test.ts runs the backend on the
 * fake API server as this group only.
 */
export const CONTROL_PLANE_GROUP = 'recc:control-plane';
export const CONTROL_PLANE_ROLE = 'recc-control-plane';

const WRITE = ['get', 'list', 'watch', 'create', 'update', 'delete'];

export const CONTROL_PLANE_RULES: ReadonlyArray<{ apiGroups: string[]; resources: string[]; verbs: string[] }> = [
  // One namespace per cluster: created, relabelled (replace), listed by the harvester, deleted.
  { apiGroups: [''], resources: ['namespaces'], verbs: WRITE },
  // The namespaced objects of a cluster (adapters/eks/manifests/build.ts).
  { apiGroups: [''], resources: ['configmaps', 'secrets', 'services', 'serviceaccounts', 'resourcequotas', 'limitranges'], verbs: WRITE },
  { apiGroups: ['apps'], resources: ['deployments'], verbs: WRITE },
  // Warm capacity: one pre-pull DaemonSet per warm node group, in the recc-warm namespace (manifests/prepull.ts).
  { apiGroups: ['apps'], resources: ['daemonsets'], verbs: WRITE },
  { apiGroups: ['networking.k8s.io'], resources: ['networkpolicies', 'ingresses'], verbs: WRITE },
  { apiGroups: ['policy'], resources: ['poddisruptionbudgets'], verbs: WRITE },
  { apiGroups: ['rbac.authorization.k8s.io'], resources: ['roles', 'rolebindings'], verbs: WRITE },
  // The git source of a cluster with sourceGitBranch (build.ts `buildSourceVolume`): its claim in the namespace and
  // its PersistentVolume, which is cluster-scoped. RBAC cannot scope a create to a name prefix, so the least is the
  // applier's own verbs: read, create, replace, delete; never list or watch (nothing here reads other clusters' volumes).
  { apiGroups: [''], resources: ['persistentvolumeclaims', 'persistentvolumes'], verbs: ['get', 'create', 'update', 'delete'] },
  // Observe: pods and their logs (failures), events, replica sets; the scheduler's status through the service proxy.
  { apiGroups: [''], resources: ['pods', 'pods/log', 'events'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['apps'], resources: ['replicasets'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [''], resources: ['services/proxy'], verbs: ['get'] },
  // The per-cluster Role grants the owner port-forward; RBAC lets only a holder grant it.
  { apiGroups: [''], resources: ['pods/portforward'], verbs: ['create'] },
  // Node capacity: busy nodes, cordon before scale-in (replace).
  { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch', 'update'] },
];

/** The ClusterRole and its ClusterRoleBinding to the control-plane group. */
export function controlPlaneRbacObjects(group: string = CONTROL_PLANE_GROUP): K8sObject[] {
  const labels = { 'app.kubernetes.io/part-of': 'recc', 'app.kubernetes.io/managed-by': 'recc' };
  return [
    { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: CONTROL_PLANE_ROLE, labels }, rules: CONTROL_PLANE_RULES.map((r) => ({ ...r, apiGroups: [...r.apiGroups], resources: [...r.resources], verbs: [...r.verbs] })) },
    {
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: CONTROL_PLANE_ROLE, labels },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROL_PLANE_ROLE },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: group }],
    },
  ];
}
