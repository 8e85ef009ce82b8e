import { EKS_ANNOTATIONS, EKS_LABELS, MANAGED_BY } from './manifests/naming.ts';
import { wrapApiError, type KubeClients } from './kube.ts';

/**
 * The backend's source of truth for "live clusters": the cluster namespaces
 * present in Kubernetes, read from their labels and annotations. A namespace
 * marked `recc.io/state=deleting` or already Terminating is not live, so node
 * capacity and identity mapping forget it before it disappears.
 */
export interface LiveCluster {
  clusterId: string;
  namespace: string;
  owner: string;
  job?: string;
  instanceType: string;
  nodeGroup: string;
  nodes: number;
  appliedAt?: string;
  /** Active (counts for capacity) or on its way out. */
  live: boolean;
  /** The owner was granted kubectl `--edit` here (adapters/eks/edit-access.ts). */
  edit?: boolean;
}

export const MANAGED_SELECTOR = `${EKS_LABELS.managedBy}=${MANAGED_BY}`;

export function clusterFromNamespace(ns: any): LiveCluster | undefined {
  const a: Record<string, string> = ns?.metadata?.annotations ?? {};
  const l: Record<string, string> = ns?.metadata?.labels ?? {};
  const clusterId = a[EKS_ANNOTATIONS.clusterId];
  const owner = a[EKS_ANNOTATIONS.owner];
  if (!clusterId || !owner || !ns?.metadata?.name) return undefined;
  const nodes = Number(a[EKS_ANNOTATIONS.nodes] ?? 0);
  const terminating = Boolean(ns.metadata.deletionTimestamp) || ns.status?.phase === 'Terminating';
  return {
    clusterId,
    namespace: ns.metadata.name,
    owner,
    ...(a[EKS_ANNOTATIONS.job] ? { job: a[EKS_ANNOTATIONS.job] } : {}),
    instanceType: a[EKS_ANNOTATIONS.instanceType] ?? '',
    nodeGroup: a[EKS_ANNOTATIONS.nodeGroup] ?? '',
    nodes: Number.isFinite(nodes) && nodes > 0 ? Math.floor(nodes) : 0,
    ...(a[EKS_ANNOTATIONS.appliedAt] ? { appliedAt: a[EKS_ANNOTATIONS.appliedAt] } : {}),
    live: !terminating && l[EKS_LABELS.state] !== 'deleting',
    ...(a[EKS_ANNOTATIONS.kubectlAccess] === 'edit' ? { edit: true } : {}),
  };
}

/** Every recc cluster namespace (live or on its way out). */
export async function listClusterNamespaces(kube: KubeClients): Promise<LiveCluster[]> {
  const { core } = await kube.apis();
  let list;
  try {
    list = await core.listNamespace({ labelSelector: MANAGED_SELECTOR });
  } catch (err) {
    throw wrapApiError(err, 'list namespaces');
  }
  return (list.items ?? []).map(clusterFromNamespace).filter((c): c is LiveCluster => c !== undefined);
}

/** A signature of the live set, to detect that it changed while acting on it. */
export function liveSignature(clusters: LiveCluster[]): string {
  return clusters
    .filter((c) => c.live)
    .map((c) => `${c.namespace}:${c.nodes}`)
    .sort()
    .join(',');
}

/** Run `fn` after every earlier call with the same key finished (per-process serialisation). */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<unknown>>();
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    const next = previous.catch(() => undefined).then(fn);
    this.tails.set(key, next);
    try {
      return await next;
    } finally {
      if (this.tails.get(key) === next) this.tails.delete(key);
    }
  }
}
