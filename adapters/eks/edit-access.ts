import { EKS_ANNOTATIONS } from './manifests/naming.ts';
import { buildEditRole, buildEditRoleBinding, type EditAccessTarget } from './manifests/edit-access.ts';
import { apiStatus, wrapApiError, type KubeApplier, type KubeClients } from './kube.ts';
import { KubernetesConflictError } from './errors.ts';

/**
 * Grant `recc cluster kubeconfig ID --edit` on EKS (issue 21 #3), in the
 * order that never leaves a wider grant than intended:
 * 1. the namespace's `recc-user-edit` Role (create pods/exec, delete pods)
 *    and its RoleBinding to the owner's edit group;
 * 2. the namespace annotation `recc.io/kubectl-access: edit`, which is what
 *    identity mapping reads (adapters/eks/identity.ts);
 * 3. the caller then reconciles the owner's access entry, which adds the
 *    edit group to their IAM principal.
 * Both halves are needed: a RoleBinding without the group on the entry
 * grants nothing, and the group grants nothing in a namespace without the
 * RoleBinding. The Role and RoleBinding live in the namespace and go with
 * it; the group goes with the last edit namespace (teardown's reconcile, or
 * the harvester's sweep when a teardown was cut short). Idempotent.
 */
export async function grantEditInNamespace(kube: KubeClients, applier: KubeApplier, target: EditAccessTarget, kubernetesGroupPrefix?: string): Promise<void> {
  await applier.apply(buildEditRole(target));
  await applier.apply(buildEditRoleBinding(target, kubernetesGroupPrefix));
  const { core } = await kube.apis();
  for (let attempt = 0; attempt < 5; attempt += 1) {
    const ns = await applier.read('Namespace', '', target.namespace);
    if (!ns || ns.metadata?.deletionTimestamp) return; // gone or going: nothing to mark
    if (ns.metadata?.annotations?.[EKS_ANNOTATIONS.kubectlAccess] === 'edit') return;
    ns.metadata.annotations = { ...(ns.metadata.annotations ?? {}), [EKS_ANNOTATIONS.kubectlAccess]: 'edit' };
    try {
      await core.replaceNamespace({ name: target.namespace, body: ns });
      return;
    } catch (err) {
      if (apiStatus(err) === 404) return;
      if (apiStatus(err) !== 409) throw wrapApiError(err, `mark namespace ${target.namespace} as granted kubectl edit`);
    }
  }
  throw new KubernetesConflictError(`namespace ${target.namespace} kept changing while being marked for kubectl edit`);
}
