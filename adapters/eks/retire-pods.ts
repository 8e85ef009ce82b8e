import { CONFLICT_BACKOFF, retry } from '../../shared/core/retry.ts';
import { apiStatus, wrapApiError, type KubeClients } from './kube.ts';
import { EKS_LABELS } from './manifests/naming.ts';

/**
 * Which worker pods a scale-down removes. The ReplicaSet controller deletes,
 * among pods equally far along (scheduled, running, ready), those with the
 * lowest `controller.kubernetes.io/pod-deletion-cost` first, then the
 * newest. An adaptive scheduler names the workers it retired gracefully
 * (they hold nothing); marking them with the lowest cost before the
 * Deployment's replicas drop makes those the ones that go, never a worker
 * holding results.
 */
export const POD_DELETION_COST = 'controller.kubernetes.io/pod-deletion-cost';
/** The lowest int32: below any cost anyone else would set. */
export const RETIRED_POD_DELETION_COST = '-2147483648';

/**
 * Mark the named worker pods of `namespace` for deletion first; returns the
 * names marked. A name that is not a live worker pod of this namespace (gone
 * already, the scheduler's pod, a typo) is skipped, so a name never marks
 * anything else. A write that lost a race with a status update (409) is read
 * and tried again.
 */
export async function markRetiredPods(kube: KubeClients, namespace: string, names: readonly string[]): Promise<string[]> {
  const { core } = await kube.apis();
  const marked: string[] = [];
  for (const name of new Set(names)) {
    const done = await retry(
      async () => {
        let pod: any;
        try {
          pod = await core.readNamespacedPod({ name, namespace });
        } catch (e) {
          if (apiStatus(e) === 404) return false;
          throw wrapApiError(e, 'read a retired worker pod');
        }
        if (pod.metadata?.deletionTimestamp || pod.metadata?.labels?.[EKS_LABELS.component] !== 'worker') return false;
        const annotations: Record<string, string> = pod.metadata.annotations ?? {};
        if (annotations[POD_DELETION_COST] === RETIRED_POD_DELETION_COST) return true;
        pod.metadata.annotations = { ...annotations, [POD_DELETION_COST]: RETIRED_POD_DELETION_COST };
        try {
          await core.replaceNamespacedPod({ name, namespace, body: pod });
        } catch (e) {
          if (apiStatus(e) === 404) return false;
          if (apiStatus(e) === 409) throw e;
          throw wrapApiError(e, 'mark a retired worker pod');
        }
        return true;
      },
      { ...CONFLICT_BACKOFF, attempts: 5, retryIf: (e) => apiStatus(e) === 409 },
    ).catch((e: unknown) => {
      throw apiStatus(e) === 409 ? wrapApiError(e, 'mark a retired worker pod') : e;
    });
    if (done) marked.push(name);
  }
  return marked;
}
